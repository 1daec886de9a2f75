"""One error hierarchy for the whole product.

Each error carries the exit code the command line uses for it, and says whether trying again can
help (`retryable`). Callers decide on the *type*, never on the message text. Messages never
contain the API token.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # errors are the bottom of the package: models import them, so this import is for types only
    from timereports.models.events import RunMessage


def one_line(exc: BaseException) -> str:
    """An error as one line for a person (the CLI's stderr, run.json, the history, an owner notice): our errors by
    their message, anything else with its type first, since its message alone rarely says what broke."""
    text = " ".join(str(exc).split())
    if isinstance(exc, TimereportsError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class TimereportsError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code: int = 1
    retryable: bool = False
    # Set by the runner on errors that ended a run: the record it kept in the history (for run.json).
    run_record: object | None = None


class DefinitionError(TimereportsError, ValueError):
    """A report definition (or a command-line argument) is invalid; nothing was requested."""

    exit_code = 2


class UnknownReportError(DefinitionError):
    """A report id that is not in the catalogue (the Reports API answers 404 for it, not 400)."""


class ConfigurationError(TimereportsError, ValueError):
    """A setting from the environment is missing or invalid."""

    exit_code = 2


class IntervalsError(TimereportsError):
    """An error reply from the Intervals API, or a failure to get one.

    `status` is the HTTP status (None when no reply arrived), `code` the API error code 1-20
    (None when the body did not say), `body` the start of the reply (never the request, so never the
    token), `retry_after` the seconds the server asked us to wait (0 when it did not say).
    """

    exit_code = 5

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        body: str | None = None,
        retry_after: float = 0.0,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.body = body
        self.retry_after = retry_after

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None or self.code is not None:
            parts.append(f"(HTTP {self.status}, API code {self.code})")
        return " ".join(parts)


class IntervalsAuthError(IntervalsError):
    """The token, user or account is refused (codes 2-10). Not retryable: a person must act."""

    exit_code = 3


class IntervalsRequestError(IntervalsError):
    """The API refused the request itself (codes 13-18): a bug or an unsupported filter. Not retryable."""


class IntervalsRateLimitError(IntervalsError):
    """ "Requests too fast" (HTTP 400, code 12). Retryable after slowing down."""

    retryable = True


class IntervalsUnavailableError(IntervalsError):
    """5xx, code 1/19/20, a reset, a timeout or an unreadable body. Retryable with backoff."""

    retryable = True


class QuotaExhaustedError(TimereportsError):
    """The account's daily API allowance (less the reserve) is spent; nothing was sent.

    `resets_at` is the next reset (midnight GMT), when a deferred run may try again.
    """

    exit_code = 4

    def __init__(self, message: str, *, resets_at: datetime, used: int | None = None, limit: int | None = None):
        super().__init__(message)
        self.resets_at = resets_at
        self.used = used
        self.limit = limit


class RunTooLongError(TimereportsError):
    """The report needs more requests than the API's pace allows before the run's deadline; nothing was spent
    beyond the first pages. Not retryable as is: raise the page size or narrow the report. The message is the
    operator's (it names the settings); `needed` says the size for callers who cannot change those."""

    exit_code = 5

    def __init__(self, message: str, *, needed: str = "") -> None:
        super().__init__(message)
        self.needed = needed or message


class PaceExceedsDeadlineError(TimereportsError):
    """The API's per-minute pace would start the next request after the invocation's deadline (earlier requests of
    this process spent the minute): refused before it is reserved or sent. Worth retrying once the window has moved,
    in `retry_after` seconds."""

    retryable = True
    exit_code = 5

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class MirrorConflictError(TimereportsError):
    """Other syncs of the account's entry mirror kept publishing first; safe to retry."""

    retryable = True


class RunInProgressError(TimereportsError):
    """The same run (report id + scheduled time) is being delivered by another invocation right now."""

    exit_code = 7
    retryable = True


class DeliveryError(TimereportsError):
    """Archiving to S3 or sending through SES failed; `messages_sent` says how many of the run's messages had left
    before it did (the owner's notice must not say "nothing was sent" then)."""

    exit_code = 6

    def __init__(self, message: str, *, messages_sent: int = 0) -> None:
        super().__init__(message)
        self.messages_sent = messages_sent


class RunQueueError(TimereportsError):
    """Some run messages could not be queued after retries; `unsent` lists them. Retryable: nothing was lost yet."""

    exit_code = 6
    retryable = True

    def __init__(self, message: str, *, unsent: Sequence[RunMessage]) -> None:
        super().__init__(message)
        self.unsent = list(unsent)
