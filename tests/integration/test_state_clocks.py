"""The state table's adapters date what they write by the clock they are given, not the wall clock: a claim's or a
mark's expiry, a run record without a finish time, and the owner's failure notice. Run a year ahead
(`make test-clock`), a test here that read the wall date would fail."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from tests.fixtures.aws import LocalAws
from tests.support.clock import FakeClock
from timereports.dal.failure_claims import FAILURE_CLAIM_TTL, DynamoDBFailureClaims
from timereports.dal.message_claims import MESSAGE_CLAIM_TTL, DynamoDBMessageClaims
from timereports.dal.revision_marks import MARK_RETENTION, DynamoDBRevisionMarks
from timereports.dal.run_history import HISTORY_RETENTION, DynamoDBRunHistory
from timereports.logic.failures import FailurePolicy
from timereports.logic.ports import RevisionMark
from timereports.models.catalogue import parse_definition
from timereports.models.run_record import RunRecord

# Far from today in either direction, so that a wall-clock date could not match by chance.
THEN = datetime(2031, 3, 4, 5, 6, 7, tzinfo=UTC)


def expiries(aws: LocalAws, pk: str) -> list[int]:
    items = aws.dynamodb.query(
        TableName=aws.settings.state_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
    )["Items"]
    return [int(item["expires_at"]["N"]) for item in items]


def test_message_and_failure_claims_expire_from_their_clock(aws: LocalAws) -> None:
    clock = FakeClock(THEN)
    table, client = aws.settings.state_table, aws.dynamodb
    assert DynamoDBMessageClaims(table, client, clock=clock).claim("run-1", "whole#1")
    assert DynamoDBFailureClaims(table, client, clock=clock).claim("weekly", "2031-03-04T05:00:00Z")
    assert expiries(aws, "message#run-1") == [int((THEN + MESSAGE_CLAIM_TTL).timestamp())]
    assert expiries(aws, "failure#weekly") == [int((THEN + FAILURE_CLAIM_TTL).timestamp())]


def test_a_revision_mark_is_kept_from_its_clock(aws: LocalAws) -> None:
    marks = DynamoDBRevisionMarks(aws.settings.state_table, aws.dynamodb, clock=FakeClock(THEN))
    assert marks.advance("weekly", "2031-03-03T06:00:00Z", 0, RevisionMark(number=1, s3_key="reports/x.rev1.csv"))
    assert expiries(aws, "revision#weekly") == [int((THEN + MARK_RETENTION).timestamp())]


def test_a_run_record_without_a_finish_time_is_filed_at_its_clock(aws: LocalAws) -> None:
    history = DynamoDBRunHistory(aws.settings.state_table, aws.dynamodb, clock=FakeClock(THEN))
    history.record(RunRecord(report_id="weekly", status="failed"))
    assert expiries(aws, "run#weekly") == [int((THEN + HISTORY_RETENTION).timestamp())]


class _Recorded:
    """The ports FailurePolicy needs, remembering what it sent."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def claim(self, report_id: str, run_id: str) -> bool:
        return True

    def record_failure(self, report_id: str) -> int:
        return 1

    def pause(self, report_id: str, reason: str) -> None:
        raise AssertionError("one failure does not pause")

    def send(self, raw: bytes, *, sender: str, destinations: Any) -> str:
        self.sent.append(raw)
        return "message-1"


@pytest.mark.parametrize("moment", [THEN, datetime(2026, 11, 23, 6, tzinfo=UTC)])
def test_the_owners_failure_notice_is_dated_by_the_policys_clock(moment: datetime) -> None:
    ports = _Recorded()
    policy = FailurePolicy(
        states=ports,  # type: ignore[arg-type]
        claims=ports,
        mailer=ports,  # type: ignore[arg-type]
        sender="reports@example.com",
        default_owner="owner@example.com",
        pause_after=3,
        clock=FakeClock(moment),
    )
    definition = parse_definition(
        {"id": "weekly", "title": "W", "view": "time_fees_hours", "time_frame": "last_week", "group_by": ["client"]}
    )
    assert policy.failed(definition, "2031-03-04T05:00:00Z", RuntimeError("the API said no")) is False
    (raw,) = ports.sent
    assert parsedate_to_datetime(message_from_bytes(raw)["Date"]) == moment
