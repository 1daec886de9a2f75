"""How an Intervals error reply becomes one of our typed exceptions.

The API documents twenty error codes, each with its HTTP status (https://www.myintervals.com/api/errors.php). The
client decides what to do by the exception's *type* (retry, slow down, stop for the day, fail at once) and never by
message text, so this table is the one place that knows the codes. The error keeps the HTTP status, the API code,
the API's own message and the body, so that a person reading the failure sees what the API said.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import datetime
from enum import IntEnum
from typing import Any

from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

from timereports.engine.quota_rules import next_reset
from timereports.errors import (
    IntervalsAuthError,
    IntervalsError,
    IntervalsRateLimitError,
    IntervalsRequestError,
    IntervalsUnavailableError,
    QuotaExhaustedError,
)

# Enough of a body to recognise an HTML error page or a proxy's message; the rest is noise in logs.
MAX_BODY_CHARS = 2000


class ApiErrorCode(IntEnum):
    """The API's error codes (the `code` inside the error body, not the HTTP status)."""

    GENERAL = 1
    ACCOUNT_NOT_FOUND = 2
    ACCOUNT_INACTIVE = 3
    ACCOUNT_SUSPENDED = 4
    ACCOUNT_BANNED = 5
    ACCOUNT_UNPAID = 6
    USER_NOT_FOUND = 7
    USER_NOT_ACTIVE = 8
    INVALID_AUTH = 9
    PERMISSION_DENIED = 10
    DAILY_LIMIT_EXCEEDED = 11
    REQUESTS_TOO_FAST = 12
    UNKNOWN_RESOURCE_TYPE = 13
    RESOURCE_NOT_FOUND = 14
    ACTION_NOT_AVAILABLE = 15
    METHOD_NOT_AVAILABLE = 16
    PARAMETER_NOT_RECOGNIZED = 17
    VALIDATION_ERROR = 18
    DATABASE_ERROR = 19
    SERVICE_OFFLINE = 20


# The documented meaning of each code: used when a reply carries a code but no message.
API_ERROR_MEANINGS: dict[int, str] = {
    1: "General (unknown) error",
    2: "Customer account not found",
    3: "Customer account inactive",
    4: "Customer account suspended",
    5: "Customer account banned",
    6: "Paid account inactive due to non-payment",
    7: "User not found",
    8: "User not active",
    9: "Invalid auth (bad username/password)",
    10: "Permissions error (user/company has no access)",
    11: "Maximum number of daily API requests exceeded",
    12: "Requests too fast",
    13: "Resource type does not exist",
    14: "Resource requested does not exist",
    15: "Action not available for resource",
    16: "HTTP method not available",
    17: "Parameter not recognized",
    18: "Validation error",
    19: "Database error",
    20: "Service offline (try again later)",
}

# Codes 2-10: the token, user or account is refused; a person must act, so retrying only spends quota.
_AUTH_CODES = frozenset(range(2, 11))
# Codes 13-18: the request itself is wrong (a bug or an unsupported filter); the same request fails the same way.
_REQUEST_CODES = frozenset(range(13, 19))
# Codes 1, 19 and 20: the server's trouble, which passes.
_UNAVAILABLE_CODES = frozenset({1, 19, 20})

_HINTS: dict[int, str] = {
    9: "check the API token (Intervals: My Account > API Access)",
    7: "check the API token (Intervals: My Account > API Access)",
    8: "the token's user is no longer active in Intervals",
    10: "the token's role may not read this resource; reports need an Administrator (or Manager) token",
}


def parse_error_body(payload: Any) -> tuple[int | None, str | None]:
    """The API error code and message in a decoded error body, tolerating the shapes seen or inferred.

    The documented envelope is `{"status": ..., "code": <HTTP status>, "error": {"code": 18, "message": ...}}`; the
    top-level `code` is the HTTP status, not the API code, so it is only used when it is a valid API code and no
    `error` object is present (the shape is not documented, see intervals-api.md section 3).
    """
    if not isinstance(payload, dict):
        return None, None
    error = payload.get("error")
    if isinstance(error, list) and error:
        error = error[0]
    if isinstance(error, dict):
        message = error.get("message") or error.get("error")
        verbose = error.get("verbose")
        if verbose and isinstance(verbose, list):
            message = f"{message}: {'; '.join(str(item) for item in verbose)}" if message else "; ".join(verbose)
        return _as_code(error.get("code")), str(message) if message else None
    message = payload.get("message") or (error if isinstance(error, str) else None)
    code = _as_code(payload.get("errorcode") if "errorcode" in payload else payload.get("code"))
    if code is not None and code not in API_ERROR_MEANINGS:
        code = None
    return code, str(message) if message else None


def _as_code(value: Any) -> int | None:
    try:
        return int(value) if value is not None and str(value).strip() else None
    except (TypeError, ValueError):
        return None


def decode_body(body: str) -> Any:
    """The JSON value of a body, or None when it is not JSON (an HTML error page from a proxy, a cut reply)."""
    try:
        return json.loads(body)
    except ValueError:
        return None


def error_for_reply(
    method: str, path: str, status: int, body: str, *, now: datetime
) -> IntervalsError | QuotaExhaustedError:
    """The exception for a non-success reply of `method path` with HTTP `status` and `body` (text).

    Codes decide first (the API's own word), then the HTTP status for replies without a readable code:
    401/403 are auth errors, 429 and 5xx are retryable, any other 4xx is a request error.
    `now` (aware UTC) dates the reset of a code-11 refusal.
    """
    code, api_message = parse_error_body(decode_body(body))
    meaning = api_message or (API_ERROR_MEANINGS.get(code, "") if code is not None else "") or f"HTTP {status}"
    what = f"Intervals API refused {method} {path}: {meaning}"
    hint = _HINTS.get(code) if code is not None else None
    if hint:
        what = f"{what} ({hint})"
    error: IntervalsError
    if code == ApiErrorCode.DAILY_LIMIT_EXCEEDED:
        resets_at = next_reset(now)
        return QuotaExhaustedError(
            f"{what}; the daily API quota is spent until {resets_at.isoformat()} (GMT)", resets_at=resets_at
        )
    if code in _AUTH_CODES:
        error = IntervalsAuthError(what, status=status, code=code)
    elif code == ApiErrorCode.REQUESTS_TOO_FAST:
        error = IntervalsRateLimitError(what, status=status, code=code)
    elif code in _REQUEST_CODES:
        error = IntervalsRequestError(what, status=status, code=code)
    elif code in _UNAVAILABLE_CODES:
        error = IntervalsUnavailableError(what, status=status, code=code)
    elif status in (401, 403):
        error = IntervalsAuthError(what, status=status, code=code)
    elif status == 429:
        error = IntervalsRateLimitError(what, status=status, code=code)
    elif status >= 500 or status < 400:
        # 5xx, or a status the API never documents (a proxy's 3xx/1xx): the server side, which may pass.
        error = IntervalsUnavailableError(what, status=status, code=code)
    else:
        error = IntervalsRequestError(what, status=status, code=code)
    keep_body(error, body)
    return error


def keep_body(error: IntervalsError, body: str | None) -> IntervalsError:
    """Keep (the start of) the reply body on the error, for logs and for a person debugging the failure."""
    # IntervalsError has no `body` field yet (requested from the errors.py owner); exceptions take attributes.
    error.body = body[:MAX_BODY_CHARS] if body else None
    return error


def gave_up(error: IntervalsError, attempts: int, elapsed: float) -> IntervalsError:
    """The last error, re-stated with the bounds that stopped the retries (same type, status, code and body)."""
    final = type(error)(
        f"{error.message}; gave up after {attempts} attempt(s) in {elapsed:.1f}s",
        status=error.status,
        code=error.code,
    )
    return keep_body(final, getattr(error, "body", None))


def retry_after_seconds(value: str | None) -> float:
    """Seconds asked by a Retry-After header (the API documents none, but a proxy in front of it may send one)."""
    if not value:
        return 0.0
    try:
        return float(Retry(0).parse_retry_after(value))
    except (InvalidHeader, ValueError):  # a malformed header is ignored, not fatal
        return 0.0


def backoff_delay(attempt: int, *, base: float, cap: float, rng: Callable[[], float] = random.random) -> float:
    """Full-jitter backoff before retry number `attempt` (1 = the first retry): uniform in [0, min(cap, base*2^(n-1))].

    Full jitter spreads the retries of concurrent runs, so that they do not hit a recovering API in step.
    """
    return rng() * min(cap, base * 2 ** max(0, attempt - 1))
