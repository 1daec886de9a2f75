"""The SES v2 mailer: sends a finished raw MIME message to its envelope destinations."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from timereports.dal.aws_errors import aws_error_code
from timereports.errors import DeliveryError


class SesMailer:
    """Sends raw messages; recipients come from the envelope so Bcc never shows in headers."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def send(self, raw_message: bytes, *, sender: str, destinations: list[str]) -> str:
        """Send one message and return the SES message id."""
        try:
            reply = self._client.send_email(
                FromEmailAddress=sender,
                Destination={"ToAddresses": destinations},
                Content={"Raw": {"Data": raw_message}},
            )
        except (ClientError, BotoCoreError) as exc:
            raise DeliveryError(f"SES refused the report email ({aws_error_code(exc)})") from exc
        return str(reply["MessageId"])
