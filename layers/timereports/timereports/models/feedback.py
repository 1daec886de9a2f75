"""SES's bounce and complaint notices, as its configuration set publishes them to SNS (one JSON document each), and
the SNS event Lambda receives them in.

Only what the history needs is read: the kind, the SES message id and the recipients; the rest (headers, diagnostic
codes, the SNS signature) is ignored, and nothing of it is logged. The SNS event is two models of ours rather than
Powertools Parser's SnsEnvelope, whose import loads the envelopes of every event source (~25 ms of a cold start).
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, Json

FeedbackKind = Literal["bounce", "complaint"]


class _Recipient(BaseModel):
    model_config = ConfigDict(extra="ignore")

    email_address: str = Field(alias="emailAddress")


class _Bounce(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    bounce_type: str = Field("Undetermined", alias="bounceType")  # Permanent | Transient | Undetermined
    recipients: list[_Recipient] = Field([], alias="bouncedRecipients")  # copied per instance


class _Complaint(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    recipients: list[_Recipient] = Field([], alias="complainedRecipients")


class _Mail(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    message_id: str = Field(alias="messageId")


class EmailFeedback(BaseModel):
    """One SES event: `eventType` from a configuration set, `notificationType` from an identity's notifications."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    event_type: str = Field(validation_alias=AliasChoices("eventType", "notificationType"))
    mail: _Mail
    bounce: _Bounce | None = None
    complaint: _Complaint | None = None

    @property
    def kind(self) -> FeedbackKind | None:
        """bounce or complaint; None for the other event types a configuration set may publish (delivery, ...)."""
        if self.event_type == "Bounce" and self.bounce is not None:
            return "bounce"
        if self.event_type == "Complaint" and self.complaint is not None:
            return "complaint"
        return None

    @property
    def recipients(self) -> list[str]:
        """The addresses the notice is about."""
        detail = self.bounce if self.kind == "bounce" else self.complaint
        return [recipient.email_address for recipient in detail.recipients] if detail is not None else []


class _SnsMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    message: Json[EmailFeedback] = Field(alias="Message")


class _SnsRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sns: _SnsMessage = Field(alias="Sns")


class SnsFeedbackEvent(BaseModel):
    """Lambda's SNS event from the feedback topic: each record's message is one SES notice, as JSON."""

    model_config = ConfigDict(extra="ignore")

    records: list[_SnsRecord] = Field(alias="Records")

    @property
    def notices(self) -> list[EmailFeedback]:
        return [record.sns.message for record in self.records]
