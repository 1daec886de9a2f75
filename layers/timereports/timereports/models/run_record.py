"""A run's record: what the history keeps of every run outcome (status, period, rows, requests, quota, delivery)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RunRecord(BaseModel):
    """What one run did; also the body of `run.json`."""

    model_config = ConfigDict(extra="ignore")

    report_id: str
    status: str  # delivered | empty_skipped | empty_notice | already_delivered | failed | deferred
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
    quota_used: int | None = None
    quota_remaining: int | None = None
    quota_limit: int | None = None
    s3_key: str | None = None
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
    delivery: str | None = None  # attachment | gzip | link | notice
    error: str | None = None
    retry_after: str | None = None
    duration_ms: int = 0
