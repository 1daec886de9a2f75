"""The run use case with fakes for its ports: what is sent, recorded and raised when parts fail.

No sockets: the Intervals client, the archive, the mailer and the history are in-memory fakes passed
to the runner (the real adapters are covered by the integration tests).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pytest
from timereports_dev.fakes import InMemoryMessageClaims, InMemoryQuotaLedger, InMemoryRunHistory

from timereports.engine.quota_rules import QuotaStatus
from timereports.errors import DeliveryError, TimereportsError
from timereports.logic.runner import DeliveryOptions, ReportRunner, RunRequest
from timereports.models.catalogue import parse_definition
from timereports.models.intervals import ApiQuota, ReferenceData, TimeEntry, TimeQuery

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def entry(entry_id: int, day: str = "2026-11-17", hours: str = "2.5") -> TimeEntry:
    return TimeEntry.model_validate(
        {"id": entry_id, "date": day, "time": hours, "billable": "t", "projectid": 7, "project": "Atlas"}
    )


@dataclass
class FakeIntervals:
    entries: list[TimeEntry]
    requests_sent: int = 0
    fail_with: Exception | None = None
    reference: ReferenceData = field(default_factory=ReferenceData)

    def sync_quota(self) -> ApiQuota:
        return ApiQuota(quota=6000, used=0)

    def reference_data(self, needs: set[str], *, missing: Sequence[str] = ()) -> ReferenceData:
        return self.reference

    def iter_time_many(self, queries: Sequence[TimeQuery]) -> Iterator[tuple[int, TimeEntry]]:
        self.requests_sent += len(queries)
        if self.fail_with is not None:
            raise self.fail_with
        for index, _ in enumerate(queries):
            for entry in self.entries:
                yield index, entry

    def source_facts(self) -> dict[str, object]:
        return {"source": "direct"}


@dataclass
class FakeArchive:
    objects: dict[str, bytes] = field(default_factory=dict)

    def put(self, key: str, body: bytes, metadata: dict[str, str]) -> str:
        self.objects[key] = body
        return key

    def link(self, key: str, expires_in: int) -> str:
        return f"https://example.invalid/{key}"


@dataclass
class FakeMailer:
    fail_on_message: int | None = None
    sent: list[list[str]] = field(default_factory=list)

    def send(self, raw_message: bytes, *, sender: str, destinations: list[str]) -> str:
        if self.fail_on_message == len(self.sent) + 1:
            raise DeliveryError("SES refused the report email (Throttling)")
        self.sent.append(destinations)
        return f"message-{len(self.sent)}"


class UnreadableLedger(InMemoryQuotaLedger):
    """Reserves fine, but its status cannot be read (a throttled DynamoDB read)."""

    def status(self) -> QuotaStatus:
        raise TimereportsError("quota ledger: DynamoDB GetItem failed (ThrottlingException)")


def definition(recipients: int = 1) -> Any:
    return parse_definition(
        {
            "id": "weekly",
            "title": "Weekly hours",
            "time_frame": "last_week",
            "timezone": "Europe/Berlin",
            "group_by": ["project_id"],
            "delivery": {"to": [f"person{number}@example.com" for number in range(recipients)]},
        }
    )


def runner(
    client: FakeIntervals,
    mailer: FakeMailer,
    history: InMemoryRunHistory,
    ledger: Any = None,
    claims: InMemoryMessageClaims | None = None,
) -> ReportRunner:
    return ReportRunner(
        client=client,
        ledger=ledger or InMemoryQuotaLedger(clock=lambda: NOW),
        archive=FakeArchive(),
        mailer=mailer,
        history=history,
        options=DeliveryOptions(sender="reports@example.com"),
        clock=lambda: NOW,
        claims=claims,
    )


def test_a_ledger_that_cannot_be_read_after_sending_does_not_fail_the_run() -> None:
    # Given a ledger whose status read fails (it is read for the run's figures)
    mailer, history = FakeMailer(), InMemoryRunHistory()
    run = runner(FakeIntervals([entry(1)]), mailer, history, ledger=UnreadableLedger(clock=lambda: NOW))

    # When the report runs
    outcome = run.run(RunRequest(definition=definition(), today=date(2026, 11, 23)))

    # Then it is delivered once, with the quota figures left unknown rather than the run failed (a retry would
    # send the email again)
    assert outcome.record.status == "delivered"
    assert len(mailer.sent) == 1
    assert outcome.record.quota_used is None


def test_a_one_off_send_failing_after_some_messages_went_out_is_recorded_not_retried() -> None:
    # Given a one-off (no run identity to claim its messages under) to 120 recipients and SES refusing the second
    mailer, history = FakeMailer(fail_on_message=2), InMemoryRunHistory()
    run = runner(FakeIntervals([entry(1)]), mailer, history)

    # When the report runs
    outcome = run.run(RunRequest(definition=definition(recipients=120), today=date(2026, 11, 23)))

    # Then the run does not raise (a retry would resend to the first 50), and says what happened
    assert outcome.record.status == "partially_delivered"
    assert outcome.record.error is not None
    assert "1 of 3 messages sent" in outcome.record.error
    assert [len(batch) for batch in mailer.sent] == [50]
    assert history.runs[-1].status == "partially_delivered"


def test_a_scheduled_run_failing_after_some_messages_fails_and_its_retry_sends_only_the_rest() -> None:
    # Given a scheduled run to 120 recipients (three messages), its messages claimed, and SES refusing the second
    mailer, history, claims = FakeMailer(fail_on_message=2), InMemoryRunHistory(), InMemoryMessageClaims()
    request = RunRequest(
        definition=definition(recipients=120),
        today=date(2026, 11, 23),
        scheduled_at=datetime(2026, 11, 23, 6, tzinfo=UTC),
    )
    # When it runs, then it fails naming what went out (so that SQS retries it and its owner hears of it)
    with pytest.raises(DeliveryError, match="1 of 3 messages sent"):
        runner(FakeIntervals([entry(1)]), mailer, history, claims=claims).run(request)
    # When SES accepts again and the run is retried, then only the two messages not sent go out
    mailer.fail_on_message = None
    outcome = runner(FakeIntervals([entry(1)]), mailer, history, claims=claims).run(request)
    assert outcome.record.status == "delivered"
    assert [len(batch) for batch in mailer.sent] == [50, 50, 20]


def test_a_send_failing_before_any_message_went_out_fails_the_run() -> None:
    mailer, history = FakeMailer(fail_on_message=1), InMemoryRunHistory()
    run = runner(FakeIntervals([entry(1)]), mailer, history)

    with pytest.raises(DeliveryError) as raised:
        run.run(RunRequest(definition=definition(), today=date(2026, 11, 23)))

    assert history.runs[-1].status == "failed"
    assert raised.value.run_record is history.runs[-1]


def test_an_unexpected_error_is_recorded_before_it_propagates() -> None:
    # Given an API reply no model accepts (a bug, or an API change), surfacing as a plain exception
    client = FakeIntervals([], fail_with=ValueError("time: invalid decimal ''"))
    history = InMemoryRunHistory()

    with pytest.raises(ValueError, match="invalid decimal"):
        runner(client, FakeMailer(), history).run(RunRequest(definition=definition(), today=date(2026, 11, 23)))

    # Then the history still has the run, failed, with the error's type and text
    (record,) = history.runs
    assert record.status == "failed"
    assert record.error == "ValueError: time: invalid decimal ''"


def test_a_scheduled_run_covers_the_period_of_its_scheduled_day() -> None:
    # Given a run scheduled on Monday 23 November 07:00 Berlin, retried on Tuesday
    client, history = FakeIntervals([entry(1)]), InMemoryRunHistory()
    tuesday_clock = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    run = ReportRunner(
        client=client,
        ledger=InMemoryQuotaLedger(clock=lambda: tuesday_clock),
        archive=FakeArchive(),
        mailer=FakeMailer(),
        history=history,
        options=DeliveryOptions(sender="reports@example.com"),
        clock=lambda: tuesday_clock,
    )

    outcome = run.run(RunRequest(definition=definition(), scheduled_at=NOW))

    # Then it covers the week before Monday, as the first attempt would have
    assert (outcome.record.period_from, outcome.record.period_to) == ("2026-11-16", "2026-11-22")
