"""The rules of the Intervals daily allowance, shared by every ledger: which UTC day a request spends, when the
allowance resets (midnight GMT), the ceiling (limit less the reserve), and the error a refused reservation raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from timereports.clock import as_utc
from timereports.errors import QuotaExhaustedError

DEFAULT_DAILY_LIMIT = 6000


def next_reset(now: datetime) -> datetime:
    """The next midnight GMT after `now`: when Intervals lifts the daily allowance.

    At exactly midnight the allowance has just been lifted, so the next reset is the following midnight.
    """
    today = as_utc(now).date()
    return datetime.combine(today + timedelta(days=1), time.min, tzinfo=UTC)


def quota_day(now: datetime) -> date:
    """The UTC day whose allowance a request sent at `now` spends."""
    return as_utc(now).date()


@dataclass(frozen=True)
class QuotaStatus:
    """What the ledger knows about one account's allowance for one UTC day."""

    account: str
    day: date
    used: int
    limit: int
    reserve: int
    exhausted: bool
    resets_at: datetime

    @property
    def ceiling(self) -> int:
        """The most requests the ledger lets runs spend today: the limit less the reserve."""
        return max(0, self.limit - self.reserve)

    @property
    def remaining(self) -> int:
        """Requests a run may still reserve today (0 once the API said the day is exhausted)."""
        if self.exhausted:
            return 0
        return max(0, self.ceiling - self.used)


def check_requests(requests: int) -> None:
    if requests < 1:
        raise ValueError(f"requests must be at least 1, got {requests}")


def exhausted_error(status: QuotaStatus, requests: int) -> QuotaExhaustedError:
    """The error a refused reservation raises: what was asked, what is left, and when the allowance resets."""
    resets = status.resets_at.astimezone(UTC).isoformat()
    if status.exhausted:
        why = "the Intervals API reported the daily quota exceeded"
    else:
        why = f"{status.used} of {status.ceiling} requests used ({status.limit} a day, {status.reserve} in reserve)"
    return QuotaExhaustedError(
        f"API quota exhausted for account {status.account!r} on {status.day.isoformat()}: cannot reserve "
        f"{requests} request(s), {why}; the quota resets at {resets} (GMT)",
        resets_at=status.resets_at,
        used=status.used,
        limit=status.limit,
    )


def check_allowance(daily_limit: int, reserve: int) -> None:
    """Refuse a ledger set up with no allowance or a negative reserve (every ledger checks the same)."""
    if daily_limit < 1 or reserve < 0:
        raise ValueError(f"daily_limit must be >= 1 and reserve >= 0, got {daily_limit} and {reserve}")
