"""Time in one convention: aware UTC datetimes. Ledger days, cursors and schedules all compare instants."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current time as an aware UTC datetime (the default clock of ledgers and stores)."""
    return datetime.now(UTC)


def as_utc(moment: datetime, name: str = "time") -> datetime:
    """`moment` in UTC; a naive datetime is refused, since its zone would be a guess."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


_ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_instant(moment: datetime) -> str:
    """A fixed-width UTC timestamp (microseconds, `Z`): stored values that sort as text in time order."""
    return as_utc(moment, "moment").strftime(_ISO_FORMAT)


def parse_instant(text: str) -> datetime:
    """The aware UTC instant of a `format_instant` string."""
    return datetime.strptime(text, _ISO_FORMAT).replace(tzinfo=UTC)
