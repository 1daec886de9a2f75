"""Translating AWS SDK errors into ours, in one place for every DynamoDB/SQS adapter.

Adapters raise `TimereportsError`s that say what failed and whether it may pass on its own
(`retryable`), and recognise a failed condition (the expected outcome of a conditional write that
lost a race) without matching on message text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from timereports.errors import TimereportsError

# Errors that may pass on their own; a missing table, a denied call or a bad request will not.
RETRYABLE_AWS_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "InternalError",
        "ServiceUnavailable",
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
    }
)
AWS_ERRORS = (ClientError, BotoCoreError)


def aws_error_code(exc: Exception) -> str:
    """The AWS error code of a ClientError, else the SDK exception's class name."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return type(exc).__name__


def is_condition_failure(exc: Exception) -> bool:
    """Whether a conditional write was refused because its condition did not hold."""
    return aws_error_code(exc) == "ConditionalCheckFailedException"


def aws_error(what: str, exc: Exception) -> TimereportsError:
    """Our error for an SDK error: `what` failed, with the AWS code, retryable when it may pass."""
    code = aws_error_code(exc)
    error = TimereportsError(f"{what} failed ({code})")
    error.retryable = code in RETRYABLE_AWS_CODES
    return error


@dataclass(frozen=True)
class ConditionFailed:
    """A conditional write was refused because its condition did not hold: the expected outcome of losing a race.
    `item` is the item as it was, when the write asked for it (ReturnValuesOnConditionCheckFailure=ALL_OLD)."""

    item: dict[str, Any] | None = None


def conditional_write(what: str, write: Callable[[], dict[str, Any]]) -> dict[str, Any] | ConditionFailed:
    """Send one conditional write: its reply, ConditionFailed when the condition did not hold, or our error saying
    `what` failed (every other SDK error)."""
    try:
        return write()
    except ClientError as exc:
        if is_condition_failure(exc):
            return ConditionFailed(exc.response.get("Item"))
        raise aws_error(what, exc) from exc
    except BotoCoreError as exc:
        raise aws_error(what, exc) from exc
