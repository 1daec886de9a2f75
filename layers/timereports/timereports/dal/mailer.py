"""The SES v2 mailer: sends a finished raw MIME message to its envelope destinations."""

from __future__ import annotations

from typing import Any

from timereports.dal.aws_errors import AWS_ERRORS, aws_error_code
from timereports.errors import DeliveryError


class SesMailer:
    """Sends raw messages; recipients come from the envelope so Bcc never shows in headers.

    With a configuration set, SES publishes the message's bounces and complaints where the set says (deployed: an
    SNS topic that email_feedback reads, keyed by the message id this returns).
    """

    def __init__(self, client: Any, *, configuration_set: str | None = None) -> None:
        self._client = client
        self._configuration_set = configuration_set

    def send(self, raw_message: bytes, *, sender: str, destinations: list[str]) -> str:
        """Send one message and return SES's MessageId.

        SES replaces the raw message's Message-ID header with one of its own built from this id, so this id, not
        the header we wrote, is what recipients' mail and SES's bounce and complaint notices carry.
        """
        request: dict[str, Any] = {
            "FromEmailAddress": sender,
            "Destination": {"ToAddresses": destinations},
            "Content": {"Raw": {"Data": raw_message}},
        }
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        try:
            reply = self._client.send_email(**request)
        except AWS_ERRORS as exc:
            raise DeliveryError(f"SES refused the report email ({aws_error_code(exc)})") from exc
        return str(reply["MessageId"])
