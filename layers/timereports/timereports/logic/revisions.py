"""The revision check: when time in a delivered period changes, the same recipients get one corrected report.

The newest delivery of each period stays watched for its definition's `revisions.window_days` (watched_deliveries
says which are). A check recomputes each watched period through the same path as a run (`build_table`, whatever
source the account uses: the entry mirror answers from its copy for a few requests), compares it with what the
recipients were last sent (the archived CSV of the delivery or of its last revision; nothing, after a "no time
logged" notice), and where the rows changed by more than `min_change_hours` claims the period's next revision number
(a conditional write, so two checks at once send it once), archives the corrected CSV beside the original, emails
it, and records `revised` in the history.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from timereports.clock import as_utc, utc_now
from timereports.engine.attributes import EntryLike
from timereports.errors import DeliveryError, TimereportsError, one_line
from timereports.logic.ports import (
    Archive,
    Mailer,
    RemainingTime,
    RevisionMark,
    RevisionMarks,
    RunHistory,
    TimeSource,
    TimeSources,
)
from timereports.logic.runner import ReportPart, report_parts
from timereports.logic.tables import build_table
from timereports.models.catalogue import Catalogue
from timereports.models.definition import ReportDefinition
from timereports.models.report import Period, archive_key
from timereports.models.run_record import SENT_STATUSES, RunRecord, slice_record_key
from timereports.render.csv import render_csv
from timereports.render.email import choose_attachment_mode, gzip_csv
from timereports.render.email_body import CsvLink
from timereports.render.revision import EntryChanges, Revision, build_revision_messages, compare
from timereports.render.xlsx import XLSX_CONTENT_TYPE, render_xlsx

logger = logging.getLogger(__name__)
# Delivered runs read back per report: a daily report's window of 35 days, with room for retries and skips.
HISTORY_LOOKBACK = 200


@dataclass(frozen=True)
class RevisionSent:
    """One revision that went out (the command line prints one JSON line per revision)."""

    report_id: str
    scheduled_at: str
    period: Period
    number: int
    changed_rows: int
    total_before: str
    total_after: str
    emails: list[bytes]
    slice: str | None = None  # a private slice's slug; None for the whole report

    def as_dict(self) -> dict[str, object]:
        line: dict[str, object] = {
            "report_id": self.report_id,
            "scheduled_at": self.scheduled_at,
            "from": self.period.start.isoformat(),
            "to": self.period.end.isoformat(),
            "changed_rows": self.changed_rows,
            "hours_before": self.total_before,
            "hours_after": self.total_after,
        }
        if self.slice is not None:
            line["slice"] = self.slice
        return line


def revision_key(
    report_id: str, period: Period, number: int, slice_slug: str | None = None, extension: str = "csv"
) -> str:
    """The corrected CSV's (or workbook's) key: beside the original (the whole report's, or the slice's), which
    stays."""
    return archive_key(report_id, period, slice_slug=slice_slug).removesuffix(".csv") + f".rev{number}.{extension}"


@dataclass(frozen=True)
class WatchedDelivery:
    """The delivery of a period its recipients have now (the newest), watched for late edits."""

    scheduled_at: str
    period: Period
    s3_key: str | None  # the whole report's CSV; None when its recipients got a "no time logged" notice
    delivered_at: str
    entries: int = 0  # the entries the report counted when it was sent
    newest_entry_id: int | None = None
    archived: frozenset[str] = frozenset()  # every file the delivery archived (a slice with no time has none)
    slice_records: dict[str, tuple[int, ...]] = field(default_factory=dict)  # whom each slice was for
    # Made by a release before period marks (its record has no definition digest): it may have a per-delivery mark.
    before_period_marks: bool = False


def watched_deliveries(definition: ReportDefinition, records: list[RunRecord], at: datetime) -> list[WatchedDelivery]:
    """The deliveries of `definition` watched at `at`: per period, the newest one (what its recipients have: a report
    sent every day over last week is watched once, not seven times), if it is inside the revision window, was made
    with the definition as it is now (else a revision would compare tables of different shapes, or go to people who
    were not sent it), and covered a period that had ended when it went out (time still being logged in a running
    week or month is no correction; the next delivery carries it)."""
    window = timedelta(days=definition.revisions.window_days)
    zone = ZoneInfo(definition.timezone)
    digest = definition.content_digest
    newest: dict[Period, WatchedDelivery | None] = {}
    for record in records:  # newest first
        # (a notice that no time was logged too: time logged in the period later is news to its recipients)
        if record.status not in SENT_STATUSES or not record.finished_at:
            continue
        if not (record.scheduled_at and record.period_from and record.period_to):
            continue
        if record.status != "empty_notice" and not record.s3_key:
            continue
        delivered = datetime.fromisoformat(record.finished_at)
        if delivered > at:  # delivered after the instant checked
            continue
        period = Period(date.fromisoformat(record.period_from), date.fromisoformat(record.period_to))
        if period in newest:  # an older delivery of the period: its recipients have the newer one since
            continue
        newest[period] = None
        if at - delivered > window or period.end >= delivered.astimezone(zone).date():
            continue
        if record.definition_digest is not None and record.definition_digest != digest:
            continue  # (a delivery recorded before digests were kept is watched as before)
        newest[period] = WatchedDelivery(
            scheduled_at=record.scheduled_at,
            period=period,
            s3_key=record.s3_key if record.status != "empty_notice" else None,
            delivered_at=record.finished_at,
            entries=record.entries,
            newest_entry_id=record.newest_entry_id,
            archived=frozenset(record.s3_keys),
            slice_records={slug: tuple(ids) for slug, ids in record.slice_records.items()},
            before_period_marks=record.definition_digest is None,
        )
    return [watched for watched in newest.values() if watched is not None]


class RevisionCheck:
    """Checks every watched delivery of the catalogue and sends the revisions due."""

    def __init__(
        self,
        *,
        catalogue: Catalogue,
        history: RunHistory,
        archive: Archive,
        mailer: Mailer,
        marks: RevisionMarks,
        sources: TimeSources,
        sender: str,
        attachment_limit_bytes: int = 7_000_000,
        link_expiry_seconds: int = 6 * 3600,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._catalogue = catalogue
        self._history = history
        self._archive = archive
        self._mailer = mailer
        self._marks = marks
        self._sources = sources
        self._sender = sender
        self._clock = clock
        self._attachment_limit_bytes = attachment_limit_bytes
        self._link_expiry_seconds = link_expiry_seconds
        # What the last check could not do (one line each); its caller reports them after the revisions it sent.
        self.failures: list[str] = []

    def check(self, at: datetime | None = None, deadline: RemainingTime | None = None) -> list[RevisionSent]:
        """Send the revisions due as of `at` (default now); one source per account, built on first use and bounded
        by `deadline` (the invocation's Lambda context)."""
        moment = as_utc(at or self._clock(), "at")  # in UTC: the marks and records written from it compare as text too
        sources: dict[str, TimeSource] = {}
        sent: list[RevisionSent] = []
        failures: list[str] = []
        for definition in self._catalogue.reports.values():
            if definition.schedule is None or definition.delivery is None or not definition.revisions.notify:
                continue
            records = self._history.last_runs(definition.id, limit=HISTORY_LOOKBACK)
            for record in watched_deliveries(definition, records, moment):
                try:
                    if definition.account not in sources:
                        sources[definition.account] = self._sources(definition.account, deadline)
                    sent += self._check_one(definition, record, sources[definition.account], moment, failures)
                except TimereportsError as exc:
                    failures.append(_failure(definition, record.period, None, exc))
        self.failures = failures
        return sent

    def raise_failures(self) -> None:
        """After the revisions that could be sent went out: one error naming what the last check could not do (its
        schedule retries it; revisions already sent are not sent again)."""
        if self.failures:
            raise check_failed(self.failures)

    def _check_one(
        self,
        definition: ReportDefinition,
        record: WatchedDelivery,
        source: TimeSource,
        at: datetime,
        failures: list[str],
    ) -> list[RevisionSent]:
        """Rebuild the delivered period once, then revise each part its recipients got: the whole report, and each
        private slice with recipients (to its own recipients, from its own archived CSV); a part that fails is added
        to `failures` and the others are still revised."""
        period = record.period
        delivered = datetime.fromisoformat(record.delivered_at).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        newest = record.newest_entry_id
        edited: list[str] = []
        added: list[str] = []

        def note_change(entry: EntryLike) -> None:
            modified = getattr(entry, "datemodified", None)
            if modified and modified > delivered:  # build_table shows only the entries the report counts
                # Intervals numbers entries upwards: one newer than the newest the report saw was added since.
                is_new = newest is not None and (getattr(entry, "id", 0) or 0) > newest
                (added if is_new else edited).append(modified)

        corrected = build_table(source, definition, period, seen=note_change)
        entry_changes = EntryChanges(
            edited=len(edited),
            added=len(added) if newest is not None else None,
            deleted=max(0, record.entries + len(added) - corrected.entries) if newest is not None else None,
            last_modified=max([*edited, *added], default=None),
        )
        sent: list[RevisionSent] = []
        for part in report_parts(definition, corrected):
            if not part.recipients:
                continue
            try:
                revision = self._revise_part(definition, record, part, entry_changes, source, at)
            except TimereportsError as exc:
                failures.append(_failure(definition, period, part.slug, exc))
                continue
            if revision is not None:
                sent.append(revision)
        return sent

    @staticmethod
    def _delivered_file(definition: ReportDefinition, record: WatchedDelivery, part: ReportPart) -> str | None:
        """The CSV of `part` the delivery archived; None where it had no time (a notice, or nothing, went out)."""
        if part.slug is None:
            return record.s3_key
        key = archive_key(definition.id, record.period, slice_slug=part.slug)
        return key if key in record.archived else None

    def _legacy_mark(
        self, definition: ReportDefinition, record: WatchedDelivery, part: ReportPart
    ) -> RevisionMark | None:
        """The mark a release before period marks kept for this delivery (`sk=<scheduled at>[#<slice>]`): a period
        it revised is numbered on from it, not sent its revision again. It was sent after the delivery it names.
        Only such a delivery is asked about: a delivery of this release has none, and the read would be wasted."""
        if not record.before_period_marks:
            return None
        key = record.scheduled_at if part.slug is None else f"{record.scheduled_at}#{part.slug}"
        legacy = self._marks.current(definition.id, key)
        return replace(legacy, sent_at=record.delivered_at) if legacy is not None else None

    def _revise_part(
        self,
        definition: ReportDefinition,
        record: WatchedDelivery,
        part: ReportPart,
        entry_changes: EntryChanges,
        source: TimeSource,
        at: datetime,
    ) -> RevisionSent | None:
        assert definition.delivery is not None
        period, corrected = record.period, part.table
        # The period's revisions are numbered across its deliveries; a slice has a mark of its own beside the whole's.
        mark_key = f"period#{period.start}_{period.end}" + ("" if part.slug is None else f"#{part.slug}")
        split = definition.delivery.split
        sent_for = record.slice_records.get(slice_record_key(split.by, part.slug)) if split and part.slug else None
        if sent_for is not None and sent_for != corrected.slice_records:
            # Listed by a name that another record carries since (a rename): its time is not theirs to be sent.
            raise TimereportsError(
                f"not revised: the slice {corrected.slice_label!r} was sent for record(s) {list(sent_for)} and its "
                f"name names {list(corrected.slice_records)} now; list the slice by id"
            )
        delivered = self._delivered_file(definition, record, part)
        if delivered is None and definition.delivery.empty == "skip":
            return None  # a slice with no time, and sent nothing: there is nothing of theirs to correct
        mark = self._marks.current(definition.id, mark_key)
        claimed = mark.number if mark is not None else 0  # what the claim expects to find at the period's mark
        if mark is None:
            mark = self._legacy_mark(definition, record, part)
        previous = RevisionMark(number=mark.number if mark else 0, s3_key=delivered or "")
        if (
            mark is not None
            and mark.sent_at
            and datetime.fromisoformat(mark.sent_at) >= datetime.fromisoformat(record.delivered_at)
        ):
            previous = mark  # revised since the delivery: the last revision is what they have
        csv_bytes = render_csv(corrected)  # once: compared, archived and attached
        revision = compare(self._archive.get(previous.s3_key) if previous.s3_key else None, corrected, csv_bytes)
        if not _worth_sending(revision, definition):
            return None
        # The files travel as the report's do: attached when they fit, else gzipped, else as links to the archive.
        xlsx = render_xlsx(corrected) if "xlsx" in definition.delivery.formats else None
        extra = len(xlsx) if xlsx is not None else 0
        mode = choose_attachment_mode(
            len(csv_bytes) + extra,
            self._attachment_limit_bytes,
            definition.delivery.attach,
            gzipped_size=len(gzip_csv(csv_bytes)) + extra,
        )
        number = previous.number + 1
        key = revision_key(definition.id, period, number, part.slug)
        # A linked workbook is archived beside the corrected CSV; an attached one travels in the message only.
        linked_workbook = mode == "link" and xlsx is not None
        workbook_key = revision_key(definition.id, period, number, part.slug, "xlsx")
        # Claim first, then archive: a check that loses the claim must not overwrite the files the winner sends.
        if not self._marks.advance(definition.id, mark_key, claimed, RevisionMark(number, key, at.isoformat())):
            return None  # another check claimed this revision and sends it
        metadata = {"report-id": definition.id, "revision": str(number)}
        try:
            self._archive.put(key, csv_bytes, metadata)
            if linked_workbook and xlsx is not None:
                self._archive.put(workbook_key, xlsx, metadata, content_type=XLSX_CONTENT_TYPE)
        except TimereportsError:
            self._marks.advance(definition.id, mark_key, number, previous)  # nothing sent: give it back
            raise
        link = None
        if mode == "link":
            link = CsvLink(
                url=self._archive.link(key, self._link_expiry_seconds),
                expires_at=at + timedelta(seconds=self._link_expiry_seconds),
                workbook_url=self._archive.link(workbook_key, self._link_expiry_seconds) if linked_workbook else None,
            )
        messages = build_revision_messages(
            replace(corrected, revision=number),  # its files named as archived, not as the report they replace
            revision,
            sender=self._sender,
            addressing=part.addressing(definition.delivery.subject),
            sent_at=at,
            delivered_at=record.delivered_at,
            # The entry counts are the whole period's, every client's: a slice's recipients get their own rows only.
            entry_changes=entry_changes if part.slug is None else None,
            csv=csv_bytes,
            xlsx=xlsx,
            mode=mode,
            link=link,
        )
        emails: list[bytes] = []
        message_ids: list[str] = []
        for message in messages:
            raw = message.as_bytes()
            try:
                destinations = list(message.destinations)
                message_ids.append(self._mailer.send(raw, sender=self._sender, destinations=destinations))
            except DeliveryError:
                if not emails:
                    # Nobody has it: give the claim back, so that the next check sends this revision.
                    self._marks.advance(definition.id, mark_key, number, previous)
                    raise
                logger.warning("revision partially sent", extra={"report_id": definition.id})
                break
            emails.append(raw)
        self._history.record(
            RunRecord(
                report_id=definition.id,
                status="revised",
                scheduled_at=record.scheduled_at,
                period_from=period.start.isoformat(),
                period_to=period.end.isoformat(),
                finished_at=at.isoformat(),
                rows=len(corrected.rows),
                entries=corrected.entries,
                s3_key=key,
                message_id=message_ids[0] if message_ids else None,
                message_ids=message_ids,
                revision=number,
                total_before=revision.totals_before.get(revision.primary_metric),
                total_after=revision.totals_after.get(revision.primary_metric),
                api_requests=source.requests_sent,
            )
        )
        return RevisionSent(
            report_id=definition.id,
            scheduled_at=record.scheduled_at,
            period=period,
            number=number,
            changed_rows=len(revision.changes),
            total_before=revision.totals_before.get(revision.primary_metric, "0.00"),
            total_after=revision.totals_after.get(revision.primary_metric, "0.00"),
            emails=emails,
            slice=part.slug,
        )


def _worth_sending(revision: Revision, definition: ReportDefinition) -> bool:
    """Rows changed, by more than the definition's `min_change_hours` (summed over the rows; a days view's change
    counts `hours_per_day` hours a day; an amounts-only view, having no hours, compares its amounts). A row whose
    entry count alone moved (an entry split in two, the same hours) is no change to send."""
    minimum = definition.revisions.min_change_hours
    if revision.primary_metric.endswith("_days"):
        minimum = minimum / definition.hours_per_day
    return revision.changes_more_than_counts() and (minimum == 0 or revision.change_size() > minimum)


def _failure(definition: ReportDefinition, period: Period, slice_slug: str | None, exc: TimereportsError) -> str:
    """One line of what a check could not do, logged; one broken report, period or slice must not stop the others'
    revisions, day after day."""
    part = "" if slice_slug is None else f" slice {slice_slug}"
    logger.warning("revision check failed", extra={"report_id": definition.id, "error": one_line(exc)})
    return f"{definition.id} {period.start}..{period.end}{part}: {one_line(exc)}"


def check_failed(failures: list[str]) -> TimereportsError:
    """The error of a check some of whose revisions could not be done, one clause each."""
    return TimereportsError(f"revision check: {len(failures)} failed: " + "; ".join(failures))
