"""The Reports API's request and answers: Resource Management's `POST /api/v1/reports/rows` and `/totals`.

A request is a `ReportQuery` (the very model report definitions use, so the same values are accepted and the same
mistakes refused with the same messages) plus RM's `today`. The answers repeat every parameter with its default
filled in, the dates the time frame resolved to, and the rows or totals as JSON numbers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from timereports.errors import DefinitionError
from timereports.models.catalogue import describe_errors, refuse_duplicate_keys
from timereports.models.definition import ReportQuery
from timereports.models.vocabulary import ReportDate

# A row's or a total's value: ids and counts are ints, hours and amounts numbers, labels and dates strings.
JsonCell = int | float | str | bool | None


class ReportsQuery(ReportQuery):
    """The body of a rows or totals request; every field is optional (RM's defaults: `time_fees_hours`, `this_week`,
    `["project_id"]`, no filters, `today` the current date in `timezone` (UTC), `confirmed-unconfirmed`)."""

    # Built at import (its base defers its own): every rows or totals request validates one.
    model_config = ConfigDict(defer_build=False)

    today: ReportDate | None = Field(
        default=None, description="the day the time frame is resolved from (YYYY-MM-DD, 2000-01-01 to 2099-12-31)"
    )


def load_request_body(text: str | bytes) -> Any:
    """An HTTP framework's JSON deserializer for request bodies: `json.loads`, but a key that appears twice in one
    object (by default the last one would silently win), or a body nested too deep to decode, is a DefinitionError."""
    try:
        return json.loads(text, object_pairs_hook=refuse_duplicate_keys)
    except DefinitionError as exc:
        raise DefinitionError(f"body: {exc}; send each parameter once") from exc
    except json.JSONDecodeError:
        raise
    except ValueError:
        # An integer of more digits than Python converts (4,300 by default): a 400, not a 500.
        raise DefinitionError(
            "body: a number too long to read (over 4,300 digits); send numbers of a few digits"
        ) from None
    except RecursionError:
        # The decoder recurses once a level: a body nested this deep is refused, not a 500.
        raise DefinitionError("body: nested too deeply to read; send a JSON object of report parameters") from None


def describe_request_errors(details: list[Mapping[str, Any]]) -> str:
    """One message for the errors an HTTP framework found validating a request body against `ReportsQuery`."""
    relative = [{**detail, "loc": tuple(detail.get("loc", ()))[1:]} for detail in details]
    invalid_json = [detail for detail in relative if detail.get("type") == "json_invalid"]
    if invalid_json:
        reason = (invalid_json[0].get("ctx") or {}).get("error", "cannot be parsed")
        return f"body: not valid JSON ({reason}); send a JSON object of report parameters"
    if any(detail.get("type") == "model_attributes_type" and not detail["loc"] for detail in relative):
        return "body: expected a JSON object of report parameters"
    return describe_errors(relative, ReportsQuery)


# --- answers (documented in the OpenAPI document; the rows' columns depend on group_by and the view) ---------------


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DateRange(ApiModel):
    start: date = Field(alias="from")
    end: date = Field(alias="to")


class ReportDates(ApiModel):
    today: date
    range: DateRange


class RowsAnswer(ApiModel):
    """`rows`: one object per group: its group columns (`project_id`, `project_name`, ...) then the view's metrics."""

    params: dict[str, Any]
    dates: ReportDates
    rows: list[dict[str, JsonCell]]


class TotalsAnswer(ApiModel):
    """`totals`: each metric of the view summed over every row."""

    params: dict[str, Any]
    dates: ReportDates
    totals: dict[str, JsonCell]


class ErrorAnswer(ApiModel):
    """Every error: one message naming the field and the allowed values (never a traceback, a token or a path)."""

    message: str
