"""Report definitions: the YAML (or JSON) a user writes, validated before any API request.

The vocabulary follows the Resource Management Reports API (views, time frames, group_by, filters,
calc_incurred_using) so that people who know that API know this one. Every invalid input becomes one
`DefinitionError` whose message names the field path and the allowed values, because the person
reading it is editing a YAML file, not reading a traceback.
"""

from __future__ import annotations

import html
import re
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, get_args

from cronsim import CronSim, CronSimError
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from timereports.models.address import check_address
from timereports.models.subject import fill_subject
from timereports.models.vocabulary import (
    APPROVAL_STATES,
    ATTRIBUTE_KINDS,
    COMPARE_MODES,
    DEFAULT_SUBJECT,
    GROUP_ATTRIBUTES,
    LINE_BREAKS,
    MAX_GROUP_LEVELS,
    REPORT_FORMATS,
    SPLIT_ATTRIBUTES,
    SUBJECT_PLACEHOLDERS,
    TIME_FRAME_SHORTCUTS,
    VIEWS,
    VIEWS_WITHOUT_INTERVALS_MEANING,
    WEEKDAYS,
    AttachMode,
    CompareMode,
    EmptyPolicy,
    FilterOperation,
    FilterValue,
    GroupAttribute,
    IncurredBasis,
    ReportDate,
    ReportFormat,
    SplitAttribute,
    TimeFrameShortcut,
    View,
    Weekday,
    check_supported_date,
)

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _fail(message: str, *, field: str | None = None) -> PydanticCustomError:
    """A validation error with our own message; `field` extends the error's path below its location."""
    context: dict[str, Any] = {"detail": message}
    if field:
        context["field"] = field
    return PydanticCustomError("definition", "{detail}", context)


def allowed_values(values: Sequence[str]) -> str:
    return ", ".join(values)


def _one_of(allowed: tuple[str, ...]) -> Callable[[object], object]:
    """A before-validator whose message lists the allowed values (pydantic's own one is hard to read)."""

    def check(value: object) -> object:
        if not isinstance(value, str) or value not in allowed:
            raise _fail(f"{value!r} is not supported; allowed: {allowed_values(allowed)}")
        return value

    return check


def _check_view(value: object) -> object:
    if isinstance(value, str) and value in VIEWS_WITHOUT_INTERVALS_MEANING:
        raise _fail(
            f"{value!r} is not supported: this Resource Management view has no Intervals meaning yet; "
            f"allowed: {allowed_values(VIEWS)}"
        )
    return _one_of(VIEWS)(value)


def _check_incurred_basis(value: object) -> object:
    if value == "confirmed":
        raise _fail(
            "'confirmed' is not supported: Intervals has no confirmed/unconfirmed time; allowed: "
            "confirmed-unconfirmed (all time), approved (only time on approved timesheets)"
        )
    return _one_of(get_args(IncurredBasis))(value)


def _check_weekday(value: object) -> object:
    return _one_of(WEEKDAYS)(value.lower() if isinstance(value, str) else value)


def _check_timezone(value: object) -> object:
    if not isinstance(value, str) or not value:
        raise _fail(f"{value!r} is not an IANA time zone name (e.g. Europe/Berlin, America/New_York, UTC)")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise _fail(f"{value!r} is not an IANA time zone name (e.g. Europe/Berlin, America/New_York, UTC)") from exc
    return value


def _check_single_line(value: object) -> object:
    # A CR or LF in an address or a subject would let a definition add its own mail headers.
    if isinstance(value, str) and LINE_BREAKS.search(value):
        raise _fail("line breaks (CR/LF) are not allowed")
    return value


AttributeName = Annotated[GroupAttribute, BeforeValidator(_one_of(GROUP_ATTRIBUTES))]
TimeZoneName = Annotated[str, BeforeValidator(_check_timezone)]


def _check_email(value: object) -> object:
    _check_single_line(value)
    if not isinstance(value, str):
        raise _fail(f"{value!r} is not an email address")
    try:
        return check_address(value.strip())
    except ValueError as exc:
        raise _fail(f"{value!r} is not a valid email address: {exc}") from None


EmailAddress = Annotated[str, BeforeValidator(_check_email)]


class DefinitionModel(BaseModel):
    """Base of the definition's models: unknown keys are mistakes (a typo would silently do nothing)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CustomTimeFrame(DefinitionModel):
    """`{from: YYYY-MM-DD, to: YYYY-MM-DD}`, both inclusive."""

    start: ReportDate = Field(alias="from")
    end: ReportDate = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> CustomTimeFrame:
        if self.start > self.end:
            raise _fail(f"{self.start} is after time_frame.to {self.end}", field="from")
        return self


def _time_frame_kind(value: object) -> str:
    if isinstance(value, CustomTimeFrame | Mapping):
        return "custom"
    return "shortcut"


TimeFrame = Annotated[
    Annotated[TimeFrameShortcut, BeforeValidator(_one_of(TIME_FRAME_SHORTCUTS)), Tag("shortcut")]
    | Annotated[CustomTimeFrame, Tag("custom")],
    Discriminator(_time_frame_kind),
]
# Tags of the time_frame union: pydantic puts them in error locations, where they mean nothing to a user.
LOCATION_TAGS = frozenset({"shortcut", "custom"})


class FilterSpec(DefinitionModel):
    """Keep (`inclusion`) or drop (`exclusion`) entries whose attribute has one of `values` (an id or a name)."""

    operation: Annotated[FilterOperation, BeforeValidator(_one_of(get_args(FilterOperation)))]
    values: tuple[FilterValue, ...]

    @field_validator("values", mode="before")
    @classmethod
    def _values_present(cls, value: object) -> object:
        if isinstance(value, str | int | bool | date):
            value = [value]
        if not isinstance(value, list | tuple) or not value:
            raise _fail("give at least one value (a list of ids or names)")
        for index, item in enumerate(value):
            if isinstance(item, datetime) or not isinstance(item, str | int | bool | date):
                raise _fail(f"{item!r} is not an id, a name, a date or true/false", field=f"[{index}]")
        return tuple(value)


class Schedule(DefinitionModel):
    """When the report is sent: a 5-field cron expression read in `timezone` (the report's own by default)."""

    cron: str
    timezone: TimeZoneName | None = None

    @field_validator("cron", mode="before")
    @classmethod
    def _valid_cron(cls, value: object) -> object:
        if not isinstance(value, str) or len(value.split()) != 5:
            raise _fail(f"{value!r} is not a cron expression of 5 fields (minute hour day-of-month month day-of-week)")
        try:
            CronSim(value, datetime(2000, 1, 1))
        except CronSimError as exc:
            raise _fail(f"{value!r} is not a valid cron expression: {exc}") from exc
        return value


def slice_slug(name: str) -> str:
    """The file-name and S3-key form of a slice's name or id: `Mango Inc.` -> `mango-inc`."""
    return "-".join("".join(char if char.isascii() and char.isalnum() else " " for char in name.lower()).split())


class Split(DefinitionModel):
    """`delivery.split`: one email per listed slice (a client, project or person), each with only its own rows.

    `to` maps a slice's id or name (as filters take them) to its recipients; a slice listed without recipients is
    not sent.
    """

    by: Annotated[SplitAttribute, BeforeValidator(_one_of(SPLIT_ATTRIBUTES))]
    to: dict[str, tuple[EmailAddress, ...]]

    @field_validator("to", mode="before")
    @classmethod
    def _named_slices(cls, value: object) -> object:
        if not isinstance(value, Mapping) or not value:
            raise _fail("give at least one slice: {NAME_OR_ID: [addresses]}")
        slugs: dict[str, str] = {}
        normalised: dict[str, object] = {}
        for name, addresses in value.items():
            text = html.unescape(str(name)).strip()
            slug = slice_slug(text)
            if not slug:
                raise _fail(f"{name!r} has no letter or digit to name its files by", field=str(name))
            if slug in slugs:
                raise _fail(f"{name!r} and {slugs[slug]!r} would share the file name {slug!r}", field=str(name))
            _check_single_line(text)
            slugs[slug] = text
            normalised[text] = () if addresses is None else addresses
        return normalised

    @property
    def recipients(self) -> dict[str, tuple[str, ...]]:
        """The slices that are sent (those with recipients), by the name or id they are listed under."""
        return {name: tuple(dict.fromkeys(addresses)) for name, addresses in self.to.items() if addresses}


class Delivery(DefinitionModel):
    """Who receives the report, under which subject, in which formats, and what to do with an empty period."""

    to: tuple[EmailAddress, ...] = ()
    cc: tuple[EmailAddress, ...] = ()
    bcc: tuple[EmailAddress, ...] = ()
    subject: str = DEFAULT_SUBJECT
    empty: Annotated[EmptyPolicy, BeforeValidator(_one_of(get_args(EmptyPolicy)))] = "notice"
    attach: Annotated[AttachMode, BeforeValidator(_one_of(get_args(AttachMode)))] = "auto"
    owner: EmailAddress | None = None
    formats: tuple[Annotated[ReportFormat, BeforeValidator(_one_of(REPORT_FORMATS))], ...] = ("csv",)
    split: Split | None = None

    @field_validator("formats", mode="before")
    @classmethod
    def _valid_formats(cls, value: object) -> object:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list | tuple):
            for index, item in enumerate(value):
                if item not in REPORT_FORMATS:
                    raise _fail(
                        f"{item!r} is not supported; allowed: {allowed_values(REPORT_FORMATS)}", field=f"[{index}]"
                    )
        if not isinstance(value, list | tuple) or "csv" not in value:
            # The CSV is the archive's record of the report: every other format comes beside it.
            raise _fail(f"a list that includes csv; allowed: {allowed_values(REPORT_FORMATS)}")
        return tuple(dict.fromkeys(value))

    @field_validator("subject", mode="before")
    @classmethod
    def _valid_subject(cls, value: object) -> object:
        _check_single_line(value)
        if isinstance(value, str):
            try:
                fill_subject(value, {name: name for name in SUBJECT_PLACEHOLDERS})
            except ValueError as exc:
                raise _fail(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _has_recipient(self) -> Delivery:
        if not (self.to or self.cc or self.bcc or (self.split and self.split.recipients)):
            raise _fail("at least one recipient in to, cc, bcc or split.to")
        return self

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every address the message goes to (to, cc and bcc), without repeats."""
        return tuple(dict.fromkeys((*self.to, *self.cc, *self.bcc)))


class Revisions(DefinitionModel):
    """Corrected reports after late edits: a delivered scheduled period stays watched for `window_days` after its
    delivery, and a change of more than `min_change_hours` (summed over the rows) sends one revision."""

    notify: bool = True
    window_days: int = Field(default=35, ge=1, le=400)
    min_change_hours: Decimal = Field(default=Decimal(0), ge=0)


class ReportQuery(DefinitionModel):
    """What a report asks of the data: the Resource Management vocabulary shared by report definitions and Reports API
    requests, so that both accept the same values and refuse the same mistakes with the same messages."""

    view: Annotated[View, BeforeValidator(_check_view)] = "time_fees_hours"
    time_frame: TimeFrame = "this_week"
    timezone: TimeZoneName = "UTC"
    week_start: Annotated[Weekday, BeforeValidator(_check_weekday)] = "monday"
    group_by: tuple[AttributeName, ...] = ("project_id",)
    filters: dict[GroupAttribute, FilterSpec] = Field(default_factory=dict)
    calc_incurred_using: Annotated[IncurredBasis, BeforeValidator(_check_incurred_basis)] = "confirmed-unconfirmed"
    hours_per_day: Decimal = Field(default=Decimal(8), gt=0, le=24)

    @field_validator("group_by", mode="before")
    @classmethod
    def _valid_group_by(cls, value: object) -> object:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            raise _fail(
                f"give a list of 1 to {MAX_GROUP_LEVELS} attributes; allowed: {allowed_values(GROUP_ATTRIBUTES)}"
            )
        if not value:
            raise _fail(f"at least 1 level; allowed: {allowed_values(GROUP_ATTRIBUTES)}")
        if len(value) > MAX_GROUP_LEVELS:
            raise _fail(f"at most {MAX_GROUP_LEVELS} levels, got {len(value)}")
        repeated = sorted({str(item) for item in value if value.count(item) > 1})
        if repeated:
            raise _fail(f"{', '.join(repeated)} appears more than once")
        return tuple(value)

    @field_validator("filters", mode="before")
    @classmethod
    def _known_filter_attributes(cls, value: object) -> object:
        if value is None:
            return {}
        if isinstance(value, Mapping):
            for name in value:
                if name not in GROUP_ATTRIBUTES:
                    raise _fail(f"{name!r} is not a filter attribute; allowed: {allowed_values(GROUP_ATTRIBUTES)}")
        return value

    @field_validator("filters", mode="after")
    @classmethod
    def _normalised_filter_values(cls, value: dict[GroupAttribute, FilterSpec]) -> dict[GroupAttribute, FilterSpec]:
        return {
            name: spec.model_copy(update={"values": _normalise_filter_values(name, spec.values)})
            for name, spec in value.items()
        }

    @property
    def week_start_index(self) -> int:
        """The first day of the week as `date.weekday()` counts it (Monday 0 ... Sunday 6)."""
        return WEEKDAYS.index(self.week_start)


class ReportIdentity(DefinitionModel):
    """What names a catalogue report and its Intervals account (its own base only so that these fields come first
    in the definition's field order, as a definition file is written and as "allowed:" lists them)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    title: str = Field(min_length=1, max_length=200)
    account: str = Field(default="default", pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

    @field_validator("id", mode="before")
    @classmethod
    def _valid_id(cls, value: object) -> object:
        if isinstance(value, str) and not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", value):
            raise _fail(f"{value!r} is not allowed; use 1-63 of a-z, 0-9 and '-', starting with a letter or digit")
        return value

    @field_validator("title", mode="before")
    @classmethod
    def _single_line_title(cls, value: object) -> object:
        return _check_single_line(value)  # the title goes into the subject line


class ReportDefinition(ReportQuery, ReportIdentity):
    """One report of the catalogue: what to pull, how to group it, and whom to send it to."""

    compare: Annotated[CompareMode, BeforeValidator(_one_of(COMPARE_MODES))] | None = None
    schedule: Schedule | None = None
    delivery: Delivery | None = None
    revisions: Revisions = Field(default_factory=Revisions)

    @model_validator(mode="after")
    def _scheduled_reports_have_recipients(self) -> ReportDefinition:
        if self.schedule is not None and self.delivery is None:
            raise _fail("required when a schedule is set (whom to send the report to)", field="delivery")
        return self

    @property
    def schedule_timezone(self) -> str:
        """The zone the cron is read in: the schedule's own, else the report's."""
        if self.schedule is not None and self.schedule.timezone:
            return self.schedule.timezone
        return self.timezone


def _normalise_filter_values(attribute: GroupAttribute, values: tuple[FilterValue, ...]) -> tuple[FilterValue, ...]:
    """Each filter value in the form the engine compares with: ints for ids, dates, booleans, decoded names."""
    kind = ATTRIBUTE_KINDS[attribute]
    normalised: list[FilterValue] = []
    for index, value in enumerate(values):
        where = f"{attribute}.values[{index}]"
        if kind == "record":
            if isinstance(value, bool | date):
                raise _fail(f"{value!r} is not an id or a name", field=where)
            normalised.append(html.unescape(value) if isinstance(value, str) else value)
        elif kind == "day":
            normalised.append(_as_date(value, where))
        elif kind == "month":
            text = value.strftime("%Y-%m") if isinstance(value, date) else str(value)
            if isinstance(value, bool) or not _MONTH.match(text):
                raise _fail(f"{value!r} is not a month; write YYYY-MM", field=where)
            normalised.append(text)
        elif kind == "flag":
            if isinstance(value, str) and value.lower() in ("true", "false"):
                value = value.lower() == "true"
            if not isinstance(value, bool):
                raise _fail(f"{value!r} is not supported; allowed: true, false", field=where)
            normalised.append(value)
        else:  # an approval state
            if value not in APPROVAL_STATES:
                raise _fail(f"{value!r} is not supported; allowed: {', '.join(APPROVAL_STATES)}", field=where)
            normalised.append(value)
    return tuple(normalised)


def _as_date(value: FilterValue, where: str) -> date:
    try:
        day = value if isinstance(value, date) else date.fromisoformat(str(value)) if isinstance(value, str) else None
    except ValueError:
        day = None
    if day is None:
        raise _fail(f"{value!r} is not a date; write YYYY-MM-DD", field=where)
    try:
        return check_supported_date(day)
    except ValueError as exc:
        raise _fail(str(exc), field=where) from None
