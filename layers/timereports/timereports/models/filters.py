"""A report's filters: keep (`inclusion`) or drop (`exclusion`) the entries whose attribute has one of the values, and
each value in the form the engine compares with, by the attribute's kind (models.vocabulary.ATTRIBUTE_KINDS).
"""

from __future__ import annotations

import html
import re
from datetime import date, datetime
from typing import Annotated, get_args

from pydantic import BeforeValidator, field_validator

from timereports.models.rules import DefinitionModel, fail, one_of
from timereports.models.vocabulary import (
    APPROVAL_STATES,
    ATTRIBUTE_KINDS,
    FilterOperation,
    FilterValue,
    GroupAttribute,
    check_supported_date,
    plain_name,
)

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class FilterSpec(DefinitionModel):
    """Keep (`inclusion`) or drop (`exclusion`) entries whose attribute has one of `values` (an id or a name)."""

    operation: Annotated[FilterOperation, BeforeValidator(one_of(get_args(FilterOperation)))]
    values: tuple[FilterValue, ...]

    @field_validator("values", mode="before")
    @classmethod
    def _values_present(cls, value: object) -> object:
        if isinstance(value, str | int | bool | date):
            value = [value]
        if not isinstance(value, list | tuple) or not value:
            raise fail("give at least one value (a list of ids or names)")
        for index, item in enumerate(value):
            if isinstance(item, datetime) or not isinstance(item, str | int | bool | date):
                raise fail(f"{item!r} is not an id, a name, a date or true/false", field=f"[{index}]")
        return tuple(value)


def normalise_filter_values(attribute: GroupAttribute, values: tuple[FilterValue, ...]) -> tuple[FilterValue, ...]:
    """Each filter value in the form the engine compares with: ints for ids, dates, booleans, decoded names."""
    kind = ATTRIBUTE_KINDS[attribute]
    normalised: list[FilterValue] = []
    for index, value in enumerate(values):
        where = f"{attribute}.values[{index}]"
        if kind == "record":
            if isinstance(value, bool | date):
                raise fail(f"{value!r} is not an id or a name", field=where)
            normalised.append(plain_name(html.unescape(value)) if isinstance(value, str) else value)
        elif kind == "day":
            normalised.append(_as_date(value, where))
        elif kind == "month":
            text = value.strftime("%Y-%m") if isinstance(value, date) else str(value)
            if isinstance(value, bool) or not _MONTH.match(text):
                raise fail(f"{value!r} is not a month; write YYYY-MM", field=where)
            normalised.append(text)
        elif kind == "flag":
            if isinstance(value, str) and value.lower() in ("true", "false"):
                value = value.lower() == "true"
            if not isinstance(value, bool):
                raise fail(f"{value!r} is not supported; allowed: true, false", field=where)
            normalised.append(value)
        else:  # an approval state
            if value not in APPROVAL_STATES:
                raise fail(f"{value!r} is not supported; allowed: {', '.join(APPROVAL_STATES)}", field=where)
            normalised.append(value)
    return tuple(normalised)


def _as_date(value: FilterValue, where: str) -> date:
    try:
        day = value if isinstance(value, date) else date.fromisoformat(str(value)) if isinstance(value, str) else None
    except ValueError:
        day = None
    if day is None:
        raise fail(f"{value!r} is not a date; write YYYY-MM-DD", field=where)
    try:
        return check_supported_date(day)
    except ValueError as exc:
        raise fail(str(exc), field=where) from None
