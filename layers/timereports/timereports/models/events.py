"""The events the Lambdas receive and the queue message between them.

One model per shape, shared by the dispatcher (which produces `RunMessage`), the run_report handler
and the command line, so the wire format has one definition.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from timereports.clock import format_instant
from timereports.models.report import Period
from timereports.models.vocabulary import ReportDate


class EventModel(BaseModel):
    """An event or message model, built at its first validation rather than at import: a handler receives one or two
    of these kinds per invocation (the dispatcher only its tick), so the others are never built."""

    model_config = ConfigDict(defer_build=True)


class RunMessage(EventModel):
    """One due run of a catalogue report: the dispatcher's SQS message body."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    report_id: str
    scheduled_at: AwareDatetime
    account: str = "default"
    period_from: date = Field(alias="from")
    period_to: date = Field(alias="to")
    force: bool = False

    @field_validator("scheduled_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)

    @classmethod
    def for_run(cls, report_id: str, scheduled_at: datetime, account: str, period: Period) -> RunMessage:
        """The message of one due run: the dispatcher enqueues it; a parked run is stored as it."""
        fields = {"report_id": report_id, "scheduled_at": scheduled_at, "account": account}
        return cls.model_validate(fields | {"from": period.start, "to": period.end})


class SyncMessage(EventModel):
    """One job of bringing an account's entry mirror up to date over a range (a month at most once queued): the run
    queue's other message kind, told apart from a `RunMessage` by `kind`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    kind: Literal["sync"] = "sync"
    account: str = "default"
    period_from: date = Field(alias="from")
    period_to: date = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> SyncMessage:
        if self.period_from > self.period_to:
            raise ValueError(f"from {self.period_from} is after to {self.period_to}")
        return self

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)


class DirectSyncEvent(EventModel):
    """A direct invoke asking for a mirror sync: `{"sync": {"account": "default", "from": ..., "to": ...}}`; a range
    longer than a month is split into month jobs on the run queue."""

    model_config = ConfigDict(extra="forbid")

    sync: SyncMessage


class DirectRunEvent(EventModel):
    """A direct invoke (EventBridge Scheduler target, `sam local invoke`, a person):
    either an inline definition or a catalogue report id."""

    model_config = ConfigDict(extra="forbid")

    definition: dict[str, Any] | None = None
    report_id: str | None = None
    today: ReportDate | None = None
    scheduled_at: AwareDatetime | None = None
    force: bool = False

    @field_validator("scheduled_at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return value.astimezone(UTC) if value else None

    @model_validator(mode="after")
    def _one_source(self) -> DirectRunEvent:
        if (self.definition is None) == (self.report_id is None):
            raise ValueError("give exactly one of 'definition' (inline) or 'report_id' (from the catalogue)")
        return self


class RevisionCheckEvent(EventModel):
    """The daily revision check's schedule payload (run_report): `at` is the scheduled time, else now."""

    model_config = ConfigDict(extra="forbid")

    check: Literal["revisions"]
    at: AwareDatetime | None = None


class QueuedRecordAttributes(EventModel):
    """The SQS system attributes of a record that run_report reads."""

    approximate_receive_count: int = Field(alias="ApproximateReceiveCount")


class QueuedRecord(EventModel):
    """One run queue message as Lambda's SQS event source hands it over (the fields run_report reads)."""

    message_id: str = Field(alias="messageId")
    receipt_handle: str = Field(alias="receiptHandle")
    body: str
    attributes: QueuedRecordAttributes


class QueuedBatch(EventModel):
    """Lambda's SQS event: the records of one batch (one at a time, the template's BatchSize)."""

    records: list[QueuedRecord] = Field(alias="Records")


class DispatchEvent(EventModel):
    """The dispatcher's schedule payload; `at` overrides the tick time (replays, tests)."""

    model_config = ConfigDict(extra="ignore")

    at: AwareDatetime | None = None


def run_key(message: RunMessage) -> str:
    """A run's identity, `report_id#scheduled_at`: what run_report's idempotency and FIFO deduplication key on."""
    return f"{message.report_id}#{format_instant(message.scheduled_at)}"
