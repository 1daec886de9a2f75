"""Views: which metric columns a report has, and how they are computed from a group's sums.

A view only reads four exact sums per group (incurred hours, billable hours, entries, billable amount),
so the engine accumulates those and nothing else; days and non-billable hours are derived at the end.
Hours and amounts stay exact `Decimal`s (amounts are cents already: each entry's amount is rounded to the
cent); days, a division, are rounded half up to the cent per row, so the rows add up to the total.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from timereports.models.vocabulary import VIEWS

ZERO = Decimal(0)
CENT = Decimal("0.01")


def entry_amount(hours: Decimal, rate: Decimal | None, billable: bool) -> Decimal:
    """What one entry adds to `incurred_amount` (and the entry view's `amount`): billable time at its rate, rounded
    to the cent as an invoice line is, so that amounts add up exactly row by row and to the total; no rate counts 0."""
    return (hours * rate).quantize(CENT, ROUND_HALF_UP) if billable and rate else ZERO


@dataclass(frozen=True, slots=True)
class Metric:
    """A metric column: its name (Resource Management's where the concept exists) and its labels in the email."""

    name: str
    heading: str  # the short column heading of the summary table (fits a phone)
    total_label: str  # the long form, in the totals block


METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric("incurred_hours", "Hours", "Hours incurred"),
        Metric("billable_hours", "Billable h", "Billable hours"),
        Metric("nonbillable_hours", "Non-bill. h", "Non-billable hours"),
        Metric("incurred_days", "Days", "Days incurred"),
        Metric("billable_days", "Billable d", "Billable days"),
        Metric("nonbillable_days", "Non-bill. d", "Non-billable days"),
        Metric("incurred_amount", "Amount", "Amount (billable)"),
        Metric("entries", "Entries", "Time entries"),
        # The entry view's, per entry (engine/entries.py).
        Metric("hours", "Hours", "Hours"),
        Metric("amount", "Amount", "Amount (billable)"),
    )
}

HOUR_COLUMNS = ("incurred_hours", "billable_hours", "nonbillable_hours", "entries")
DAY_METRICS = ("incurred_days", "billable_days", "nonbillable_days")
DAY_COLUMNS = (*DAY_METRICS, "entries")
# The columns that follow from others (non-billable is incurred less billable): they change only with those, or with
# how they are derived (a release), never on their own.
DERIVED_METRICS = frozenset({"nonbillable_hours", "nonbillable_days"})
AMOUNT_COLUMNS = ("incurred_amount",)
# `time_entries`: one row per entry, not per group (engine/entries.py builds it).
ENTRY_METRIC_COLUMNS = ("hours", "amount")


@dataclass(frozen=True, slots=True)
class GroupSums:
    """The exact sums of one group (or of the whole report)."""

    incurred_hours: Decimal
    billable_hours: Decimal
    entries: int
    billable_amount: Decimal


@dataclass(frozen=True, slots=True)
class View:
    """A report view: its metric columns (the first is its headline: what shares, bars and a revision's change are
    measured in), and whether it shows time (in hours or days) and amounts (which need rates)."""

    name: str
    metric_columns: tuple[str, ...]
    in_days: bool
    with_amounts: bool
    per_entry: bool = False
    with_time: bool = True

    @property
    def headline(self) -> str:
        return self.metric_columns[0]

    def metrics(self, sums: GroupSums, hours_per_day: Decimal) -> dict[str, Decimal | int]:
        """The metric columns of one group, exact (days are hours / hours_per_day)."""
        values: dict[str, Decimal | int] = {}
        if self.with_time:
            nonbillable = sums.incurred_hours - sums.billable_hours
            if self.in_days:
                incurred, billable = (
                    _days(sums.incurred_hours, hours_per_day),
                    _days(sums.billable_hours, hours_per_day),
                )
                # The difference of the rounded days, not the rounded difference: a row adds across, as a
                # spreadsheet reader checks it (1.83 + 0.93 would not make 2.77).
                values |= {
                    "incurred_days": incurred,
                    "billable_days": billable,
                    "nonbillable_days": incurred - billable,
                }
            else:
                values["incurred_hours"] = sums.incurred_hours
                values["billable_hours"] = sums.billable_hours
                values["nonbillable_hours"] = nonbillable
            values["entries"] = sums.entries
        if self.with_amounts:
            values["incurred_amount"] = sums.billable_amount
        return values


def _days(hours: Decimal, hours_per_day: Decimal) -> Decimal:
    return (hours / hours_per_day).quantize(CENT, ROUND_HALF_UP)


_VIEWS: dict[str, View] = {
    "time_fees_hours": View("time_fees_hours", HOUR_COLUMNS, in_days=False, with_amounts=False),
    "time_fees_days": View("time_fees_days", DAY_COLUMNS, in_days=True, with_amounts=False),
    "time_fees_amounts": View("time_fees_amounts", AMOUNT_COLUMNS, in_days=False, with_amounts=True, with_time=False),
    "time_fees_hours_and_amounts": View(
        "time_fees_hours_and_amounts", HOUR_COLUMNS + AMOUNT_COLUMNS, in_days=False, with_amounts=True
    ),
    "time_fees_days_and_amounts": View(
        "time_fees_days_and_amounts", DAY_COLUMNS + AMOUNT_COLUMNS, in_days=True, with_amounts=True
    ),
    "time_entries": View("time_entries", ENTRY_METRIC_COLUMNS, in_days=False, with_amounts=True, per_entry=True),
}
if set(_VIEWS) != set(VIEWS) or not {column for view in _VIEWS.values() for column in view.metric_columns} <= set(
    METRICS
):
    raise RuntimeError("engine.views and models.vocabulary disagree on the views or their metrics")


def view_for(name: str) -> View:
    """The view called `name` (the definition has already refused any other)."""
    try:
        return _VIEWS[name]
    except KeyError:
        raise ValueError(f"view {name!r} is not supported; allowed: {', '.join(_VIEWS)}") from None
