"""The run_report use case: pull, aggregate, archive, email, record — once per run.

A run either delivers the right report or fails before sending anything: every request to
Intervals, the aggregation and the CSV happen before the first byte goes to S3 or SES. A run
with an identity (report id + scheduled time) delivers once, whoever asks twice, unless forced.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from timereports.clock import utc_now
from timereports.engine.aggregate import aggregate
from timereports.engine.plan import plan_queries, reference_needs
from timereports.engine.timeframes import resolve_time_frame, today_in
from timereports.errors import DeliveryError, QuotaExhaustedError, TimereportsError
from timereports.logic.ports import Archive, Mailer, QuotaLedger, RunHistory, RunOnce, TimeSource
from timereports.models.definition import ReportDefinition
from timereports.models.intervals import TimeEntry
from timereports.models.report import Period, ReportTable, archive_key
from timereports.models.run_record import RunOutcome, RunRecord
from timereports.render.csv import render_csv
from timereports.render.email import build_empty_notice, build_messages, choose_attachment_mode, gzip_csv


@dataclass(frozen=True)
class RunRequest:
    """One run: which report, as of which day, under which identity."""

    definition: ReportDefinition
    today: date | None = None
    scheduled_at: datetime | None = None
    # Fixed by the dispatcher when it enqueued the run; otherwise resolved from the time frame and `today`.
    period: Period | None = None
    force: bool = False


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
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._client = client
        self._ledger = ledger
        self._archive = archive
        self._mailer = mailer
        self._history = history
        self._options = options
        self._once = once
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
        table = self._build_table(definition, period)
        record = self._new_record(definition, period, request, attempt, table)
        if table.is_empty:
            return self._deliver_empty(definition, table, record)
        return self._deliver_report(definition, table, record)

    def _build_table(self, definition: ReportDefinition, period: Period) -> ReportTable:

        self._client.sync_quota()
        reference = self._client.reference_data(set(reference_needs(definition)))
        plan = plan_queries(definition, period, reference)

        def tagged_entries() -> Iterator[tuple[TimeEntry, bool | None]]:
            # Each pull's entries carry the approval that pull asked for (None when approval was not asked). The
            # client reserves the pages of all pulls at once, so a run without enough quota stops before spending.
            for index, entry in self._client.iter_time_many(plan.queries):
                yield entry, plan.queries[index].approved

        return aggregate(tagged_entries(), definition, reference, period)

    def _deliver_empty(self, definition: ReportDefinition, table: ReportTable, record: RunRecord) -> RunOutcome:
        if definition.delivery is None or definition.delivery.empty == "skip":
            record.status = "empty_skipped"
            return RunOutcome(record=record)

        emails = build_empty_notice(
            table,
            sender=self._options.sender,
            to=list(definition.delivery.to),
            cc=list(definition.delivery.cc),
            bcc=list(definition.delivery.bcc),
            subject_template=definition.delivery.subject,
            sent_at=self._clock(),
        )
        record.status, record.delivery = "empty_notice", "notice"
        return self._send(emails, record, csv=None)

    def _deliver_report(self, definition: ReportDefinition, table: ReportTable, record: RunRecord) -> RunOutcome:

        csv_bytes = render_csv(table)
        key = archive_key(definition.id, table.period)
        metadata = {
            "report-id": definition.id,
            "period-from": table.period.start.isoformat(),
            "period-to": table.period.end.isoformat(),
            "rows": str(len(table.rows)),
            "generated-at": self._clock().astimezone(UTC).isoformat(timespec="seconds"),
        }
        self._archive.put(key, csv_bytes, metadata)
        if definition.delivery is None:
            # A one-off without recipients: the archive (and --out) is the delivery.
            record.status, record.s3_key = "archived", key
            self._fill_quota(record)
            return RunOutcome(record=record, csv=csv_bytes)
        mode = choose_attachment_mode(
            len(csv_bytes),
            self._options.attachment_limit_bytes,
            definition.delivery.attach,
            gzipped_size=len(gzip_csv(csv_bytes)),
        )
        link = self._archive.link(key, self._options.link_expiry_seconds) if mode == "link" else None
        emails = build_messages(
            table,
            csv_bytes,
            sender=self._options.sender,
            to=list(definition.delivery.to),
            cc=list(definition.delivery.cc),
            bcc=list(definition.delivery.bcc),
            subject_template=definition.delivery.subject,
            mode=mode,
            link=link,
            link_expires_in=self._options.link_expiry_seconds if link else None,
            sent_at=self._clock(),
        )
        record.status, record.delivery, record.s3_key = "delivered", mode, key
        return self._send(emails, record, csv=csv_bytes)

    def _send(self, emails: list[Any], record: RunRecord, *, csv: bytes | None) -> RunOutcome:
        # Everything that can fail is done before the first message leaves: after it, a raised error would make
        # the retry send the report again to the people who already have it.
        self._fill_quota(record)
        sent: list[bytes] = []
        for email in emails:
            raw = email.as_bytes()
            try:
                message_id = self._mailer.send(raw, sender=self._options.sender, destinations=email.destinations)
            except DeliveryError as exc:
                if not sent:
                    raise  # nobody has it yet: the run fails cleanly and is retried
                record.status = "partially_delivered"
                record.error = f"{len(sent)} of {len(emails)} messages sent, then: {exc}"
                break
            record.message_ids.append(message_id)
            record.recipients += len(email.destinations)
            sent.append(raw)
        record.message_id = record.message_ids[0] if record.message_ids else None
        return RunOutcome(record=record, csv=csv, emails=sent)

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
            rows=len(table.rows),
            entries=table.entries,
            api_requests=self._client.requests_sent,
        )

    def _fill_quota(self, record: RunRecord) -> None:
        """The run's request count and the ledger's figures; a ledger that cannot be read leaves them unset."""
        record.api_requests = self._client.requests_sent
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
            error=_one_line(exc),
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


def _one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text if isinstance(exc, TimereportsError) else f"{type(exc).__name__}: {text}"
