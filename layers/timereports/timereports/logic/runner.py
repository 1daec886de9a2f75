"""The run_report use case: pull, aggregate, archive, email, record — once per run.

A run either delivers the right report or fails before sending anything: every request to
Intervals, the aggregation and the CSV happen before the first byte goes to S3 or SES. A run
with an identity (report id + scheduled time) delivers once, whoever asks twice, unless forced.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal

from timereports.clock import utc_now
from timereports.engine.attributes import EntryLike
from timereports.engine.sections import compare_with_previous, stamped
from timereports.engine.timeframes import previous_period, resolve_time_frame, today_in
from timereports.errors import DefinitionError, DeliveryError, QuotaExhaustedError, TimereportsError, one_line
from timereports.logic.ports import Archive, Mailer, MessageClaims, QuotaLedger, RunHistory, RunOnce, TimeSource
from timereports.logic.tables import build_table
from timereports.models.definition import ReportDefinition
from timereports.models.report import Period, ReportTable, archive_key
from timereports.models.run_record import MessageRecord, RunOutcome, RunRecord, slice_record_key
from timereports.render.addressing import Addressing
from timereports.render.csv import render_csv
from timereports.render.email import OutgoingEmail, build_empty_notice, build_messages, choose_attachment_mode, gzip_csv
from timereports.render.xlsx import XLSX_CONTENT_TYPE, render_xlsx


@dataclass(frozen=True)
class RunRequest:
    """One run: which report, as of which day, under which identity."""

    definition: ReportDefinition
    today: date | None = None
    scheduled_at: datetime | None = None
    # Fixed by the dispatcher when it enqueued the run; otherwise resolved from the time frame and `today`.
    period: Period | None = None
    force: bool = False


@dataclass(frozen=True)
class ReportPart:
    """One deliverable of a run: the whole report (`slug` None), or a private slice (named by its slug)."""

    slug: str | None
    table: ReportTable
    to: list[str]
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)

    @property
    def recipients(self) -> bool:
        return bool(self.to or self.cc or self.bcc)

    def addressing(self, subject: str) -> Addressing:
        return Addressing(to=self.to, cc=self.cc, bcc=self.bcc, subject=subject)


def report_parts(definition: ReportDefinition, table: ReportTable) -> list[ReportPart]:
    """The whole report for delivery.to/cc/bcc, then each slice listed with recipients, with only its own table."""
    delivery = definition.delivery
    if delivery is None:
        return [ReportPart(None, table, [])]
    parts = [ReportPart(None, table, list(delivery.to), list(delivery.cc), list(delivery.bcc))]
    if delivery.split is not None:
        for name, addresses in delivery.split.to.items():
            part = table.slices[name]
            # A slice listed without recipients is still archived, and sent to nobody.
            parts.append(ReportPart(part.slice_slug, part, list(addresses)))
    return parts


@dataclass
class DeliveryOptions:
    sender: str
    attachment_limit_bytes: int = 7_000_000
    link_expiry_seconds: int = 6 * 3600


class ReportRunner:
    """Runs reports against one Intervals account with the adapters it is given."""

    def __init__(
        self,
        *,
        client: TimeSource,
        ledger: QuotaLedger,
        archive: Archive,
        mailer: Mailer,
        history: RunHistory,
        options: DeliveryOptions,
        once: RunOnce | None = None,
        claims: MessageClaims | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._client = client
        self._ledger = ledger
        self._archive = archive
        self._mailer = mailer
        self._history = history
        self._options = options
        self._once = once
        self._claims = claims
        self._clock = clock

    def run(self, request: RunRequest) -> RunOutcome:
        """Deliver the report (or find it already delivered), record the run, and return what happened.

        Raises QuotaExhaustedError (the run is deferred: nothing was sent) and other TimereportsErrors
        (the run failed: nothing was sent); both are recorded in the history first.
        """
        started = time.monotonic()
        definition = request.definition
        period = request.period or self.resolve_period(definition, request.today, request.scheduled_at)
        attempt = uuid.uuid4().hex
        try:
            if request.scheduled_at is not None and self._once is not None and not request.force:
                run_key = {"report_id": definition.id, "scheduled_at": request.scheduled_at.isoformat()}
                outcome = self._once(lambda: self._deliver(definition, period, request, attempt), run_key)
                if outcome.record.attempt != attempt:
                    # The idempotency store answered with an earlier attempt's record: it was delivered then. This
                    # attempt's own record says when it finished (the history keys on that: reusing the earlier time
                    # would overwrite the delivery's record) and that it sent nothing and asked the API nothing.
                    earlier = outcome.record
                    outcome = RunOutcome(
                        record=earlier.model_copy(
                            update={
                                "status": "already_delivered",
                                "finished_at": self._clock().astimezone(UTC).isoformat(),
                                "api_requests": self._client.requests_sent,
                                "message_ids": [],
                                "email_message_ids": [],
                                "messages": [],
                                "recipients": 0,
                            }
                        )
                    )
                    self._fill_quota(outcome.record)
            else:
                outcome = self._deliver(definition, period, request, attempt)
        except QuotaExhaustedError as exc:
            self._record_failure(definition, period, request, started, exc, status="deferred")
            raise
        except Exception as exc:
            # Our own errors, and unexpected ones too (a bug, a reply no model accepts): every run leaves a record
            # before the error goes on to the CLI's one line, or to SQS's retries and the dead-letter queue.
            self._record_failure(definition, period, request, started, exc, status="failed")
            raise
        outcome.record.duration_ms = int((time.monotonic() - started) * 1000)
        self._fill_source(outcome.record)
        self._history.record(outcome.record)
        return outcome

    def resolve_period(
        self, definition: ReportDefinition, today: date | None, scheduled_at: datetime | None = None
    ) -> Period:
        """The dates the report covers, resolved in the report's time zone.

        "Today" is the day the run was scheduled for when it has an identity, so that a retry hours later
        (even past midnight) covers the same period under the same identity; else the current day.
        """

        day = today or today_in(definition.timezone, scheduled_at or self._clock())
        return resolve_time_frame(definition.time_frame, day, definition.week_start_index)

    def _deliver(self, definition: ReportDefinition, period: Period, request: RunRequest, attempt: str) -> RunOutcome:
        as_of = self._clock()
        newest: list[int] = [0]

        def track_newest(entry: EntryLike) -> None:
            # The newest id of the entries the report counts (build_table shows only those, of the period): a
            # revision tells entries added since from edited.
            newest[0] = max(newest[0], getattr(entry, "id", 0) or 0)

        table = build_table(self._client, definition, period, seen=track_newest)
        if definition.compare == "previous":
            # Through the same path as the current period, so that it reads whatever TimeSource reads (the API today,
            # the entry mirror once it is behind the port): today that costs one more pull, of the same size.
            previous = previous_period(definition.time_frame, period)
            table = compare_with_previous(table, build_table(self._client, definition, previous))
        table = stamped(table, as_of)
        self._refuse_slices_whose_names_moved(definition, table)
        record = self._new_record(definition, period, request, attempt, table)
        record.newest_entry_id = newest[0] or None
        outcome = RunOutcome(record=record)
        # Everything that can fail (rendering, archiving, links) is done for every part before the first message
        # leaves: after it, a raised error would make the retry send the report again.
        outgoing: list[tuple[str | None, OutgoingEmail]] = []
        for part in report_parts(definition, table):
            outgoing += self._prepare(definition, part, outcome)
        if table.is_empty:
            record.status = "empty_notice" if outgoing else "empty_skipped"
            record.delivery = "notice" if outgoing else None
        elif not outgoing:
            record.status = "archived"  # a one-off without recipients: the archive (and --out) is the delivery
        else:
            record.status = "delivered"
        run_id = None
        if request.scheduled_at is not None and not request.force:
            run_id = f"{definition.id}#{request.scheduled_at.isoformat()}"
        return self._send(outgoing, outcome, run_id)

    def _refuse_slices_whose_names_moved(self, definition: ReportDefinition, table: ReportTable) -> None:
        """Refuse, before anything is sent, a slice listed by name whose name has moved to another record since its
        last delivery (one client renamed, another given its name): its recipients would get that record's time.
        Listed by id, a slice is for its record whatever it is called."""
        split = definition.delivery.split if definition.delivery is not None else None
        by_name = {name: part for name, part in table.slices.items() if not name.isdigit() and part.slice_slug}
        if split is None or not by_name:
            return
        last_sent = self._history.last_slices(definition.id)
        for name, part in by_name.items():
            before = last_sent.get(slice_record_key(split.by, part.slice_slug or ""))
            if before is not None and tuple(before) != part.slice_records:
                raise DefinitionError(
                    f"delivery.split.to[{name!r}]: the name is record(s) {list(part.slice_records)} now, and was "
                    f"{before} when the slice was last sent; list the slice by the id of the record it is for"
                )

    def _prepare(
        self, definition: ReportDefinition, part: ReportPart, outcome: RunOutcome
    ) -> list[tuple[str | None, OutgoingEmail]]:
        """Render and archive one part (the whole report or a slice); its messages, not yet sent."""
        delivery, table, record = definition.delivery, part.table, outcome.record
        if table.slice_slug and delivery is not None and delivery.split is not None:  # whom it was for, time or not
            record.slice_records[slice_record_key(delivery.split.by, table.slice_slug)] = list(table.slice_records)
        if table.is_empty:
            # Never an empty attachment: a short notice, or nothing.
            if delivery is None or delivery.empty == "skip" or not part.recipients:
                return []
            notices = build_empty_notice(
                table, sender=self._options.sender, addressing=part.addressing(delivery.subject), sent_at=self._clock()
            )
            return [(part.slug, email) for email in notices]
        csv_bytes = render_csv(table)
        xlsx_bytes = render_xlsx(table) if delivery is not None and "xlsx" in delivery.formats else None
        metadata = {
            "report-id": definition.id,
            "period-from": table.period.start.isoformat(),
            "period-to": table.period.end.isoformat(),
            "rows": str(len(table.rows)),
            "generated-at": self._clock().astimezone(UTC).isoformat(timespec="seconds"),
        }
        if table.slice_slug:
            metadata["slice"] = table.slice_slug
        key = archive_key(definition.id, table.period, slice_slug=table.slice_slug)
        self._archive.put(key, csv_bytes, metadata)
        record.s3_keys.append(key)
        xlsx_key = None
        if xlsx_bytes is not None:
            xlsx_key = archive_key(definition.id, table.period, slice_slug=table.slice_slug, extension="xlsx")
            self._archive.put(xlsx_key, xlsx_bytes, metadata, content_type=XLSX_CONTENT_TYPE)
            record.s3_keys.append(xlsx_key)
        if table.slice_slug is None:
            record.s3_key, outcome.csv, outcome.xlsx = key, csv_bytes, xlsx_bytes
        else:
            outcome.slice_files[table.slice_slug] = {"csv": csv_bytes} | ({"xlsx": xlsx_bytes} if xlsx_bytes else {})
        if delivery is None or not part.recipients:
            return []
        extra = len(xlsx_bytes) if xlsx_bytes is not None else 0
        mode = choose_attachment_mode(
            len(csv_bytes) + extra,
            self._options.attachment_limit_bytes,
            delivery.attach,
            gzipped_size=len(gzip_csv(csv_bytes)) + extra,
        )
        link = self._archive.link(key, self._options.link_expiry_seconds) if mode == "link" else None
        workbook_link = None
        if link is not None and xlsx_key is not None:
            workbook_link = self._archive.link(xlsx_key, self._options.link_expiry_seconds)
        emails = build_messages(
            table,
            csv_bytes,
            sender=self._options.sender,
            addressing=part.addressing(delivery.subject),
            mode=mode,
            link=link,
            link_expires_in=self._options.link_expiry_seconds if link else None,
            workbook_link=workbook_link,
            sent_at=self._clock(),
            xlsx=xlsx_bytes,
        )
        if record.delivery is None or table.slice_slug is None:
            record.delivery = mode
        return [(part.slug, email) for email in emails]

    def _send(
        self, outgoing: list[tuple[str | None, OutgoingEmail]], outcome: RunOutcome, run_id: str | None
    ) -> RunOutcome:
        """Send each message once: with a run identity, each is claimed first, so that a retry of a run that died
        between two messages sends the rest and none twice."""
        record = outcome.record
        self._fill_quota(record)
        batches: dict[str | None, int] = {}
        failed: DeliveryError | None = None
        for part, email in outgoing:
            batches[part] = batches.get(part, 0) + 1
            message_key = f"whole#{batches[part]}" if part is None else f"slice#{part}#{batches[part]}"
            recipients = len(email.destinations)
            if failed is not None:
                record.messages.append(MessageRecord(part=part, status="not_sent", recipients=recipients))
                continue
            claims = self._claims if run_id is not None else None
            if claims is not None and run_id is not None and not claims.claim(run_id, message_key):
                record.messages.append(MessageRecord(part=part, status="already_sent", recipients=recipients))
                continue
            raw = email.as_bytes()
            try:
                message_id = self._mailer.send(raw, sender=self._options.sender, destinations=list(email.destinations))
            except DeliveryError as exc:
                if claims is not None and run_id is not None:
                    claims.release(run_id, message_key)  # refused, so not sent: a retry may send it
                if not outcome.emails and not any(m.status == "already_sent" for m in record.messages):
                    raise  # nobody has it yet: the run fails cleanly and is retried
                failed = exc
                record.messages.append(MessageRecord(part=part, status="not_sent", recipients=recipients))
                continue
            except Exception:
                # The mailer failed without an answer (a bug, a crash in the adapter): the message did not leave this
                # process, so the retry may send it. Only a process killed mid-send (a Lambda timeout) leaves the claim,
                # and then the message is not sent again: at most once, never twice.
                if claims is not None and run_id is not None:
                    claims.release(run_id, message_key)
                raise
            if claims is not None and run_id is not None:
                # It is sent: a claim left without its message id still stops a second send.
                with contextlib.suppress(TimereportsError):
                    claims.sent(run_id, message_key, message_id)
            record.message_ids.append(message_id)
            record.email_message_ids.append(str(email.message["Message-ID"]))
            record.recipients += recipients
            record.messages.append(
                MessageRecord(part=part, status="sent", message_id=message_id, recipients=recipients)
            )
            outcome.emails.append(raw)
            outcome.email_parts.append(part)
        if failed is not None:
            sent = sum(1 for message in record.messages if message.status == "sent")
            summary = f"{sent} of {len(outgoing)} messages sent, then: {failed}"
            if self._claims is not None and run_id is not None:
                # Each message is claimed: the run fails, so that its retry sends the rest, and none twice.
                raise DeliveryError(summary, messages_sent=sent) from failed
            # A one-off has no identity to claim messages under: a retry would send the first ones again.
            record.status = "partially_delivered"
            record.error = summary
        record.message_id = record.message_ids[0] if record.message_ids else None
        return outcome

    def _new_record(
        self, definition: ReportDefinition, period: Period, request: RunRequest, attempt: str, table: ReportTable
    ) -> RunRecord:
        return RunRecord(
            report_id=definition.id,
            status="running",
            attempt=attempt,
            period_from=period.start.isoformat(),
            period_to=period.end.isoformat(),
            scheduled_at=request.scheduled_at.isoformat() if request.scheduled_at else None,
            finished_at=self._clock().astimezone(UTC).isoformat(),
            definition_digest=definition.content_digest,
            rows=len(table.rows),
            entries=table.entries,
            api_requests=self._client.requests_sent,
        )

    def _fill_source(self, record: RunRecord) -> None:
        """Where the entries came from (mirror or direct) and what syncing them cost."""
        for name, value in self._client.source_facts().items():
            setattr(record, name, value)

    def _fill_quota(self, record: RunRecord) -> None:
        """The run's request count and the ledger's figures; a ledger that cannot be read leaves them unset."""
        record.api_requests = self._client.requests_sent
        self._fill_source(record)
        with contextlib.suppress(TimereportsError):
            status = self._ledger.status()
            record.quota_used, record.quota_remaining, record.quota_limit = status.used, status.remaining, status.limit

    def _record_failure(
        self,
        definition: ReportDefinition,
        period: Period,
        request: RunRequest,
        started: float,
        exc: Exception,
        *,
        status: Literal["failed", "deferred"],
    ) -> None:
        record = RunRecord(
            report_id=definition.id,
            status=status,
            period_from=period.start.isoformat(),
            period_to=period.end.isoformat(),
            scheduled_at=request.scheduled_at.isoformat() if request.scheduled_at else None,
            finished_at=self._clock().astimezone(UTC).isoformat(),
            error=one_line(exc),
            retry_after=exc.resets_at.isoformat() if isinstance(exc, QuotaExhaustedError) else None,
            duration_ms=int((time.monotonic() - started) * 1000),
            api_requests=self._client.requests_sent,
        )
        self._fill_quota(record)
        # The caller (the CLI's run.json) reports the same record the history keeps.
        with contextlib.suppress(AttributeError):
            exc.run_record = record  # type: ignore[attr-defined]
        # A history that cannot be written must not hide the run's own error.
        with contextlib.suppress(TimereportsError):
            self._history.record(record)
