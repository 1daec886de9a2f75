"""The report vocabulary: views, group attributes, time frame shortcuts and the other closed sets a definition (and a
Reports API request) may use, as `Literal`s with their tuples of allowed values.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BeforeValidator

View = Literal[
    "time_fees_hours",
    "time_fees_days",
    "time_fees_amounts",
    "time_fees_hours_and_amounts",
    "time_fees_days_and_amounts",
    "time_entries",
]
VIEWS: tuple[str, ...] = get_args(View)
# Resource Management views that need data Intervals does not have (budgets, schedules, expenses).
VIEWS_WITHOUT_INTERVALS_MEANING: tuple[str, ...] = (
    "budgets_hours",
    "budgets_days",
    "budgets_amounts",
    "utilization",
    "expenses",
)

GroupAttribute = Literal[
    "user_id",
    "project_id",
    "client",
    "phase_name",
    "worktype",
    "module",
    "task",
    "date",
    "week",
    "month",
    "billable",
    "approval_status",
]
GROUP_ATTRIBUTES: tuple[str, ...] = get_args(GroupAttribute)

TimeFrameShortcut = Literal[
    "today",
    "yesterday",
    "this_week",
    "last_week",
    "this_half_month",
    "last_half_month",
    "this_month",
    "last_month",
    "this_quarter",
    "last_quarter",
    "this_year",
    "last_year",
    "last_30",
    "last_60",
    "last_90",
    "next_30",
    "next_60",
    "next_90",
    "last_and_next_90",
]
TIME_FRAME_SHORTCUTS: tuple[str, ...] = get_args(TimeFrameShortcut)

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[str, ...] = get_args(Weekday)

FilterOperation = Literal["inclusion", "exclusion"]
IncurredBasis = Literal["confirmed-unconfirmed", "approved"]
EmptyPolicy = Literal["skip", "notice"]
AttachMode = Literal["auto", "attachment", "link"]
# `compare: previous`: the period just before, of the same length.
CompareMode = Literal["previous"]
COMPARE_MODES: tuple[str, ...] = get_args(CompareMode)
# The files a report is attached and archived as.
ReportFormat = Literal["csv", "xlsx"]
REPORT_FORMATS: tuple[str, ...] = get_args(ReportFormat)
# What `delivery.split` may slice a report by: one email per client, project or person.
SplitAttribute = Literal["client", "project_id", "user_id"]
SPLIT_ATTRIBUTES: tuple[str, ...] = get_args(SplitAttribute)

MAX_GROUP_LEVELS = 5
SUBJECT_PLACEHOLDERS: tuple[str, ...] = ("title", "from", "to", "report_id", "slice")
DEFAULT_SUBJECT = "{title}, {from} to {to}"

# What a group attribute's values are, which says how its filter values are written, checked and matched: an
# Intervals record (an id or a name, pushed down to GET /time/ by id), a day (YYYY-MM-DD), a month (YYYY-MM), a
# true/false flag, or an approval state. Everything else about an attribute is its entry in engine.attributes.
AttributeKind = Literal["record", "day", "month", "flag", "approval"]
ATTRIBUTE_KINDS: dict[GroupAttribute, AttributeKind] = {
    "user_id": "record",
    "project_id": "record",
    "client": "record",
    "phase_name": "record",
    "worktype": "record",
    "module": "record",
    "task": "record",
    "date": "day",
    "week": "day",
    "month": "month",
    "billable": "flag",
    "approval_status": "approval",
}
if set(ATTRIBUTE_KINDS) != set(GROUP_ATTRIBUTES):
    raise RuntimeError("models.vocabulary: ATTRIBUTE_KINDS must name every GroupAttribute")
# Attributes whose groups are periods (a date, a week, a month): shown in their order, and never the same group in
# another period.
TIMELINE_ATTRIBUTES: frozenset[str] = frozenset(
    name for name, kind in ATTRIBUTE_KINDS.items() if kind in ("day", "month")
)
# Attributes whose filter values are ids (ints) or names (strings) of an Intervals record.
RECORD_ATTRIBUTES: frozenset[str] = frozenset(name for name, kind in ATTRIBUTE_KINDS.items() if kind == "record")
APPROVAL_STATES = ("approved", "unapproved")
# CR and LF start a new mail header; NUL, VT, FF, the file/group/record separators, NEL and the Unicode
# line/paragraph separators are line breaks to some mail software too (all that str.splitlines splits on, which the
# email package's header check uses). One definition, used by the definitions, the Intervals names and the renderer.
LINE_BREAKS = re.compile("[\r\n\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")

# The Unicode controls that reorder the text after them (embeddings, overrides, isolates, direction marks): a name
# or description carrying one could reverse the figures printed after it in the email.
DIRECTION_CONTROLS = dict.fromkeys(map(ord, "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


def plain_name(text: str) -> str:
    """A record's name as the reports show and match it: on one line (a line break could fake a line of the email's
    text part, or a header), without direction controls. Intervals' names and the names a definition gives alike."""
    if text.isprintable():  # every character changed below is unprintable: the common name costs one C call
        return text
    return LINE_BREAKS.sub(" ", text).translate(DIRECTION_CONTROLS)


# The dates a report may name (a custom time frame, `today`, a date filter). Beyond them lie typos such as 0001-01-01
# or 9999-12-31, which overflow a time frame's arithmetic or would have the mirror keep centuries of months.
SUPPORTED_DATES = (date(2000, 1, 1), date(2099, 12, 31))


def check_supported_date(value: date) -> date:
    """`value` when a report may name it; ValueError saying the supported dates otherwise."""
    first, last = SUPPORTED_DATES
    if not first <= value <= last:
        raise ValueError(f"{value.isoformat()} is outside the supported dates, {first} to {last}")
    return value


def check_calendar_date(value: object) -> object:
    """A date as a definition or a request writes one: YYYY-MM-DD (YAML reads it as a date). Not a number, which
    pydantic would read as a Unix time (20260301 as 1970-08-23 ...), nor a date and time."""
    if isinstance(value, datetime) or not (isinstance(value, date) or _ISO_DATE.fullmatch(str(value))):
        raise ValueError(f"{value!r} is not a date; write YYYY-MM-DD")
    return value


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
ReportDate = Annotated[date, BeforeValidator(check_calendar_date), AfterValidator(check_supported_date)]
FilterValue = int | str | bool | date
