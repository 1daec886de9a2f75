"""SES bounces and complaints: recorded in the history of the run whose email they concern."""

from __future__ import annotations

from dataclasses import dataclass

from timereports.logic.ports import FeedbackLog
from timereports.models.feedback import EmailFeedback, FeedbackKind


@dataclass(frozen=True)
class FeedbackOutcome:
    """What became of one notice: its kind, how many recipients, and the report whose run it was recorded on."""

    kind: FeedbackKind | None
    recipients: int
    report_id: str | None  # None: no run sent that message (an owner's notice, an expired record) or not a bounce

    @property
    def recorded(self) -> bool:
        return self.report_id is not None


def record_feedback(notice: EmailFeedback, log: FeedbackLog) -> FeedbackOutcome:
    """Add a bounce's or a complaint's recipients to the run that sent the message; other event types are ignored."""
    kind = notice.kind
    if kind is None:
        return FeedbackOutcome(kind=None, recipients=0, report_id=None)
    recipients = notice.recipients
    report_id = log.add_feedback(notice.mail.message_id, kind, recipients)
    return FeedbackOutcome(kind=kind, recipients=len(recipients), report_id=report_id)
