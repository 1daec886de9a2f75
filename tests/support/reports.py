"""An independent aggregation of the simulator's entries, to check report answers against (no engine code)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")


def entries_between(dataset: Any, start: date, end: date) -> list[dict[str, Any]]:
    """The data set's time entries dated `start`..`end` (inclusive)."""
    return [entry for entry in dataset.time if start <= entry["date"] <= end]


def hours_by(
    entries: Iterable[dict[str, Any]], key: Callable[[dict[str, Any]], tuple[Any, ...]]
) -> dict[tuple[Any, ...], dict[str, Decimal | int]]:
    """Per group key: incurred, billable and non-billable hours, entry count and billable amount (cents per entry)."""
    groups: dict[tuple[Any, ...], dict[str, Decimal | int]] = defaultdict(
        lambda: {
            "incurred_hours": Decimal(0),
            "billable_hours": Decimal(0),
            "nonbillable_hours": Decimal(0),
            "entries": 0,
            "incurred_amount": Decimal(0),
        }
    )
    for entry in entries:
        sums = groups[key(entry)]
        hours = Decimal(str(entry["time"]))
        sums["incurred_hours"] += hours
        sums["entries"] += 1
        if entry["billable"]:
            sums["billable_hours"] += hours
            rate = Decimal(str(entry["hourlyrate"] or 0))
            sums["incurred_amount"] += (hours * rate).quantize(CENT, ROUND_HALF_UP)
        else:
            sums["nonbillable_hours"] += hours
    return dict(groups)


def as_decimal(value: Any) -> Decimal:
    """A JSON number as the exact decimal it prints as."""
    return Decimal(str(value))
