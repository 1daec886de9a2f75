"""A run's record: what the history keeps of every run outcome (status, period, rows, requests, quota, delivery)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict

RunStatus = Literal[
    "running",  # the run's own record while it works (never stored)
    "delivered",  # the report went to every recipient
    "partially_delivered",  # SES refused a later message of a split recipient list; the first ones went out
    "archived",  # a one-off without recipients: the CSV in S3 (and --out) is the delivery
    "empty_skipped",  # nothing logged in the period and the definition says `empty: skip`
    "empty_notice",  # nothing logged: a short "no time logged" note went out instead of a report
    "already_delivered",  # the same run (report id + scheduled time) was delivered before: nothing sent
    "skipped_paused",  # the report is paused: its scheduled run was dropped
    "deferred",  # the account's daily quota was spent: parked until the reset, nothing sent
    "failed",  # an error stopped the run before anything was sent
    "revised",  # time in a delivered period changed: a corrected report went to the same recipients
]
RUN_STATUSES: tuple[RunStatus, ...] = get_args(RunStatus)
# The runs whose recipients were sent something of the report: the report, part of its messages, or the notice that
# no time was logged.
SENT_STATUSES: frozenset[RunStatus] = frozenset({"delivered", "partially_delivered", "empty_notice"})


def slice_record_key(split_by: str, slug: str) -> str:
    """How `RunRecord.slice_records` names a slice: its split attribute and slug (`client#mango-inc`), so that a slice
    of a split by another attribute is never taken for it."""
    return f"{split_by}#{slug}"


# How the CSV travels with the email: attached, gzipped and attached, or as a presigned link.
AttachmentMode = Literal["attachment", "gzip", "link"]
ATTACHMENT_MODES: tuple[AttachmentMode, ...] = get_args(AttachmentMode)
# How the report reached its recipients: one of the attachment modes, or a notice without data (an empty period).
DeliveryMode = AttachmentMode | Literal["notice"]


MessageStatus = Literal[
    "sent",  # the mailer accepted it
    "already_sent",  # an earlier attempt of the same run claimed it (a retry after a crash): not sent again
    "not_sent",  # the mailer refused an earlier message of the run, so this one was not tried
]


class MessageRecord(BaseModel):
    """One message of a run: the whole report (`part` None) or a private slice (`part` its slug)."""

    model_config = ConfigDict(extra="ignore")

    status: MessageStatus
    part: str | None = None
    message_id: str | None = None
    recipients: int = 0


class RunRecord(BaseModel):
    """What one run did; also the body of `run.json`."""

    model_config = ConfigDict(extra="ignore")

    report_id: str
    status: RunStatus
    # Which attempt produced this record: a retried invocation that gets an earlier attempt's record back knows
    # the run was already delivered.
    attempt: str | None = None
    period_from: str | None = None
    period_to: str | None = None
    scheduled_at: str | None = None
    finished_at: str = ""
    rows: int = 0
    entries: int = 0
    api_requests: int = 0
    # Where the entries came from: "mirror" (synced copy; changes synced and count probes say what it cost) or
    # "direct" (pulled whole from the API).
    source: str | None = None
    changes_synced: int | None = None
    count_probes: int | None = None
    quota_used: int | None = None
    quota_remaining: int | None = None
    quota_limit: int | None = None
    s3_key: str | None = None
    # Every file the run archived: the whole report's CSV (s3_key), its workbook, each slice's files.
    s3_keys: list[str] = []
    # SES's MessageIds of the messages sent (the first, and all of them): what recipients' mail and SES's bounce and
    # complaint notices carry. SES replaces the Message-ID header of a raw send with one built from this id.
    message_id: str | None = None
    message_ids: list[str] = []
    # The Message-ID headers we wrote (as in the `.eml` files the CLI leaves); SES replaced them on sending.
    email_message_ids: list[str] = []
    # Recipients SES reported as bounced or complaining (email_feedback adds them after the run).
    bounced: list[str] = []
    complained: list[str] = []
    recipients: int = 0
    delivery: DeliveryMode | None = None
    # Each message of the run (whole report and slices), in the order they were sent.
    messages: list[MessageRecord] = []
    error: str | None = None
    retry_after: str | None = None
    duration_ms: int = 0
    # The newest entry id of the period when the report was built: a revision counts entries added since by it.
    newest_entry_id: int | None = None
    # The definition's content_digest when the run was built: a revision compares only what the same one sends.
    definition_digest: str | None = None
    # Each slice's record ids as delivered (by slice_record_key): a slice listed by name that names another record
    # since (a rename) is refused at the next run and not revised with that record's time.
    slice_records: dict[str, list[int]] = {}
    # A revision's number (1 for the first correction of a delivered run) and the primary metric's totals.
    revision: int | None = None
    total_before: str | None = None
    total_after: str | None = None


@dataclass
class RunOutcome:
    """The run's record, plus the bytes it archived and sent (for `--out`; empty when nothing was sent)."""

    record: RunRecord
    csv: bytes | None = None
    xlsx: bytes | None = None
    emails: list[bytes] = field(default_factory=list)
    # Which part each of `emails` is: None for the whole report, else a slice's slug (`--out` names files by it).
    email_parts: list[str | None] = field(default_factory=list)
    # Each private slice's archived files, by slug and extension ("csv", "xlsx").
    slice_files: dict[str, dict[str, bytes]] = field(default_factory=dict)
