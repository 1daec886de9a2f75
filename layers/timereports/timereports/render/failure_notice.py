"""The notice a report's owner gets when a scheduled run fails (logic/failures.py decides when and to whom): one
plain-text message, dated by the caller's clock. The title is a single line (the definition is validated so), and the
email package refuses a header value with a line break."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from timereports.models.definition import ReportDefinition
from timereports.render.addressing import sender_address
from timereports.render.email_cells import count


def failure_notice(
    definition: ReportDefinition,
    run_id: str,
    reason: str,
    failures: int,
    paused: bool,
    *,
    sender: str,
    owner: str,
    sent_at: datetime,
    messages_sent: int = 0,
) -> EmailMessage:
    """A plain-text notice to the report's owner; the definition's title is already a single line."""
    message = EmailMessage()
    state = "paused" if paused else "failed"
    message["Subject"] = f"timereports: {definition.title} {state}"
    message["From"] = sender_address(sender)
    message["To"] = owner
    message["Date"] = format_datetime(sent_at.astimezone(UTC))
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    outcome = (
        f"after {count(messages_sent, 'message', 'messages')} had been sent"
        if messages_sent
        else "and nothing was sent"
    )
    lines = [
        f"The run of report {definition.id!r} scheduled for {_local(run_id, definition.schedule_timezone)} failed, "
        f"{outcome}.",
        "",
        f"Reason: {reason}",
        "",
        f"Failed runs in a row: {failures}.",
    ]
    if paused:
        lines += [
            "",
            "The report is now paused: its scheduled runs are skipped until it is resumed",
            f"(`timereports resume {definition.id} --stack <your stack>`, or set paused to false on the state "
            f"table's item pk=report#{definition.id}, sk=state; see the README).",
            "If an EventBridge schedule invokes it directly, consider disabling that schedule meanwhile.",
        ]
    else:
        lines += ["", "The run will be retried; you will not be told again about this run."]
    message.set_content("\n".join(lines))
    return message


def _local(run_id: str, zone: str) -> str:
    """A scheduled run's instant (its id, ISO UTC) as the schedule's zone reads it: `2026-11-02 07:00 CET`."""
    try:
        instant = datetime.fromisoformat(run_id)
    except ValueError:
        return run_id
    if instant.tzinfo is None:
        return run_id
    local = instant.astimezone(zoneinfo.ZoneInfo(zone))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"
