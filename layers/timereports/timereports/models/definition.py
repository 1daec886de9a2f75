"""Report definitions: the YAML (or JSON) a user writes, validated before any API request.

The vocabulary follows the Resource Management Reports API (views, time frames, group_by, filters,
calc_incurred_using) so that people who know that API know this one. Every invalid input becomes one
`DefinitionError` whose message names the field path and the allowed values, because the person
reading it is editing a YAML file, not reading a traceback.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, get_args

from cronsim import CronSim, CronSimError
from pydantic import (
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from timereports.models.filters import FilterSpec, normalise_filter_values
from timereports.models.rules import (
    AttributeName,
    DefinitionModel,
    EmailAddress,
    TimeZoneName,
    allowed_values,
    check_incurred_basis,
    check_single_line,
    check_view,
    check_weekday,
    fail,
    iana_zones,
    one_of,
)
from timereports.models.subject import fill_subject
from timereports.models.vocabulary import (
    COMPARE_MODES,
    DEFAULT_SUBJECT,
    GROUP_ATTRIBUTES,
    MAX_GROUP_LEVELS,
    REPORT_FORMATS,
    SPLIT_ATTRIBUTES,
    SUBJECT_PLACEHOLDERS,
    TIME_FRAME_SHORTCUTS,
    WEEKDAYS,
    AttachMode,
    CompareMode,
    EmptyPolicy,
    GroupAttribute,
    IncurredBasis,
    ReportDate,
    ReportFormat,
    SplitAttribute,
    TimeFrameShortcut,
    View,
    Weekday,
    plain_name,
)


class CustomTimeFrame(DefinitionModel):
    """`{from: YYYY-MM-DD, to: YYYY-MM-DD}`, both inclusive."""

    start: ReportDate = Field(alias="from")
    end: ReportDate = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> CustomTimeFrame:
        if self.start > self.end:
            raise fail(f"{self.start} is after time_frame.to {self.end}", field="from")
        return self


def _time_frame_kind(value: object) -> str:
    if isinstance(value, CustomTimeFrame | Mapping):
        return "custom"
    return "shortcut"


TimeFrame = Annotated[
    Annotated[TimeFrameShortcut, BeforeValidator(one_of(TIME_FRAME_SHORTCUTS)), Tag("shortcut")]
    | Annotated[CustomTimeFrame, Tag("custom")],
    Discriminator(_time_frame_kind),
]
# Tags of the time_frame union: pydantic puts them in error locations, where they mean nothing to a user.
LOCATION_TAGS = frozenset({"shortcut", "custom"})


class Schedule(DefinitionModel):
    """When the report is sent: a 5-field cron expression read in `timezone` (the report's own by default)."""

    cron: str
    timezone: TimeZoneName | None = None

    @field_validator("cron", mode="before")
    @classmethod
    def _valid_cron(cls, value: object) -> object:
        if not isinstance(value, str) or len(value.split()) != 5:
            raise fail(f"{value!r} is not a cron expression of 5 fields (minute hour day-of-month month day-of-week)")
        try:
            parsed = CronSim(value, datetime(2000, 1, 1))
        except CronSimError as exc:
            raise fail(f"{value!r} is not a valid cron expression: {exc}") from exc
        if len(parsed.minutes) > 1:
            # `* 7 * * MON` reads as "at 7 on Mondays" and means every minute of that hour: 60 emails.
            raise fail(
                f"{value!r} sends the report {len(parsed.minutes)} times in each hour it names (minute field "
                f"{value.split()[0]!r}); a report goes out at most once an hour: give one minute, e.g. '0 7 * * MON'"
            )
        return value


def slice_slug(name: str) -> str:
    """The file-name and S3-key form of a slice's name or id: `Mango Inc.` -> `mango-inc`; a name written without
    Latin letters or digits (`日本株式会社`, `אקמה בע"מ`) -> `slice-` and a digest of it, the same every run."""
    ascii_slug = "-".join("".join(char if char.isascii() and char.isalnum() else " " for char in name.lower()).split())
    if ascii_slug or not any(char.isalnum() for char in name):
        return ascii_slug
    return "slice-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:10]


class Split(DefinitionModel):
    """`delivery.split`: one email per listed slice (a client, project or person), each with only its own rows.

    `to` maps a slice's id or name (as filters take them) to its recipients; a slice listed without recipients is
    not sent.
    """

    by: Annotated[SplitAttribute, BeforeValidator(one_of(SPLIT_ATTRIBUTES))]
    to: dict[str, tuple[EmailAddress, ...]]

    @field_validator("to", mode="before")
    @classmethod
    def _named_slices(cls, value: object) -> object:
        if not isinstance(value, Mapping) or not value:
            raise fail("give at least one slice: {NAME_OR_ID: [addresses]}")
        slugs: dict[str, str] = {}
        normalised: dict[str, object] = {}
        for name, addresses in value.items():
            check_single_line(str(name))
            text = plain_name(html.unescape(str(name))).strip()
            slug = slice_slug(text)
            if not slug:
                raise fail(f"{name!r} has no letter or digit to name its files by", field=str(name))
            if slug in slugs:
                raise fail(f"{name!r} and {slugs[slug]!r} would share the file name {slug!r}", field=str(name))
            slugs[slug] = text
            # One address is a list of one, as in `to`.
            normalised[text] = () if addresses is None else [addresses] if isinstance(addresses, str) else addresses
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
    empty: Annotated[EmptyPolicy, BeforeValidator(one_of(get_args(EmptyPolicy)))] = "notice"
    attach: Annotated[AttachMode, BeforeValidator(one_of(get_args(AttachMode)))] = "auto"
    owner: EmailAddress | None = None
    formats: tuple[Annotated[ReportFormat, BeforeValidator(one_of(REPORT_FORMATS))], ...] = ("csv",)
    split: Split | None = None

    @field_validator("to", "cc", "bcc", mode="before")
    @classmethod
    def _one_address_is_a_list_of_one(cls, value: object) -> object:
        # `to: ops@example.com` means what `to: [ops@example.com]` says, as `formats: csv` and `group_by: client` do.
        return [value] if isinstance(value, str) else value

    @field_validator("formats", mode="before")
    @classmethod
    def _valid_formats(cls, value: object) -> object:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list | tuple):
            for index, item in enumerate(value):
                if item not in REPORT_FORMATS:
                    raise fail(
                        f"{item!r} is not supported; allowed: {allowed_values(REPORT_FORMATS)}", field=f"[{index}]"
                    )
        if not isinstance(value, list | tuple) or "csv" not in value:
            # The CSV is the archive's record of the report: every other format comes beside it.
            raise fail(f"a list that includes csv; allowed: {allowed_values(REPORT_FORMATS)}")
        return tuple(dict.fromkeys(value))

    @field_validator("subject", mode="before")
    @classmethod
    def _valid_subject(cls, value: object) -> object:
        check_single_line(value)
        if isinstance(value, str):
            try:
                fill_subject(value, {name: name for name in SUBJECT_PLACEHOLDERS})
            except ValueError as exc:
                raise fail(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _has_recipient(self) -> Delivery:
        if not (self.to or self.cc or self.bcc or (self.split and self.split.recipients)):
            raise fail("at least one recipient in to, cc, bcc or split.to")
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
    requests, so that both accept the same values and refuse the same mistakes with the same messages.

    Built at first use: nothing validates a bare query in a report run (a definition and a Reports API request build
    their own validators, over all their fields), so its own would be about a millisecond of every cold start."""

    model_config = ConfigDict(defer_build=True)

    view: Annotated[View, BeforeValidator(check_view)] = "time_fees_hours"
    time_frame: TimeFrame = "this_week"
    timezone: TimeZoneName = "UTC"
    week_start: Annotated[Weekday, BeforeValidator(check_weekday)] = "monday"
    group_by: tuple[AttributeName, ...] = ("project_id",)
    filters: dict[GroupAttribute, FilterSpec] = Field(default_factory=dict)
    calc_incurred_using: Annotated[IncurredBasis, BeforeValidator(check_incurred_basis)] = "confirmed-unconfirmed"
    # At least half an hour, in hundredths: a smaller day would turn hours into more days than Decimal keeps exact.
    # The schema's default as the number the answers give (pydantic would write a Decimal's as the text "8").
    hours_per_day: Decimal = Field(
        default=Decimal(8), ge=Decimal("0.5"), le=24, decimal_places=2, json_schema_extra={"default": 8}
    )

    @field_validator("group_by", mode="before")
    @classmethod
    def _valid_group_by(cls, value: object) -> object:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            raise fail(
                f"give a list of 1 to {MAX_GROUP_LEVELS} attributes; allowed: {allowed_values(GROUP_ATTRIBUTES)}"
            )
        if not value:
            raise fail(f"at least 1 level; allowed: {allowed_values(GROUP_ATTRIBUTES)}")
        if len(value) > MAX_GROUP_LEVELS:
            raise fail(f"at most {MAX_GROUP_LEVELS} levels, got {len(value)}")
        repeated = sorted({str(item) for item in value if value.count(item) > 1})
        if repeated:
            raise fail(f"{', '.join(repeated)} appears more than once")
        return tuple(value)

    @field_validator("filters", mode="before")
    @classmethod
    def _known_filter_attributes(cls, value: object) -> object:
        if value is None:
            return {}
        if isinstance(value, Mapping):
            for name in value:
                if name not in GROUP_ATTRIBUTES:
                    raise fail(f"{name!r} is not a filter attribute; allowed: {allowed_values(GROUP_ATTRIBUTES)}")
        return value

    @field_validator("filters", mode="after")
    @classmethod
    def _normalised_filter_values(cls, value: dict[GroupAttribute, FilterSpec]) -> dict[GroupAttribute, FilterSpec]:
        return {
            name: spec.model_copy(update={"values": normalise_filter_values(name, spec.values)})
            for name, spec in value.items()
        }

    @model_validator(mode="after")
    def _weeks_start_on_week_start(self) -> ReportQuery:
        # A week is named by its first day: any other day matches no week, so the filter would keep nothing.
        spec = self.filters.get("week")
        for index, value in enumerate(spec.values if spec else ()):
            if isinstance(value, date) and value.weekday() != self.week_start_index:
                first = value - timedelta(days=(value.weekday() - self.week_start_index) % 7)
                raise fail(
                    f"{value} is a {WEEKDAYS[value.weekday()]}, and weeks here start on {self.week_start} "
                    f"(week_start): its week is {first}",
                    field=f"filters.week.values[{index}]",
                )
        return self

    @model_validator(mode="after")
    def _approval_filter_keeps_some_approved_time(self) -> ReportQuery:
        # Approved time only, and an approval filter that leaves no approved time: every report would be empty.
        spec = self.filters.get("approval_status")
        if self.calc_incurred_using == "approved" and spec is not None:
            named = "approved" in spec.values
            if named != (spec.operation == "inclusion"):
                raise fail(
                    f"{spec.operation} of {list(spec.values)} keeps no approved time, and calc_incurred_using is "
                    "'approved' (approved time only): every report would be empty; drop the filter, or use "
                    "calc_incurred_using 'confirmed-unconfirmed'",
                    field="filters.approval_status",
                )
        return self

    @property
    def week_start_index(self) -> int:
        """The first day of the week as `date.weekday()` counts it (Monday 0 ... Sunday 6)."""
        return WEEKDAYS.index(self.week_start)


class ReportIdentity(DefinitionModel):
    """What names a catalogue report and its Intervals account (its own base only so that these fields come first
    in the definition's field order, as a definition file is written and as "allowed:" lists them). Built at first
    use, like ReportQuery: nothing validates it alone."""

    model_config = ConfigDict(defer_build=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    title: str = Field(min_length=1, max_length=200)
    account: str = Field(default="default", pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

    @field_validator("id", mode="before")
    @classmethod
    def _valid_id(cls, value: object) -> object:
        if isinstance(value, str) and not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", value):
            raise fail(f"{value!r} is not allowed; use 1-63 of a-z, 0-9 and '-', starting with a letter or digit")
        return value

    @field_validator("title", mode="before")
    @classmethod
    def _single_line_title(cls, value: object) -> object:
        return check_single_line(value)  # the title goes into the subject line


class ReportDefinition(ReportQuery, ReportIdentity):
    """One report of the catalogue: what to pull, how to group it, and whom to send it to."""

    # Built at import (its bases defer theirs): every report run validates its definition.
    model_config = ConfigDict(defer_build=False)

    compare: Annotated[CompareMode, BeforeValidator(one_of(COMPARE_MODES))] | None = None
    schedule: Schedule | None = None
    delivery: Delivery | None = None
    revisions: Revisions = Field(default_factory=Revisions)

    @model_validator(mode="before")
    @classmethod
    def _zone_from_the_schedule(cls, data: object) -> object:
        """A report that names only its schedule's zone lives in it: "0 7 * * MON" in Sydney is Monday there, and
        last week is Sydney's last week, not UTC's (where it is still Sunday)."""
        if isinstance(data, Mapping) and "timezone" not in data:
            schedule = data.get("schedule")
            zone = schedule.get("timezone") if isinstance(schedule, Mapping) else None
            if isinstance(zone, str) and zone in iana_zones():  # a wrong one is schedule.timezone's error alone
                return {**data, "timezone": zone}
        return data

    @model_validator(mode="after")
    def _scheduled_reports_have_recipients(self) -> ReportDefinition:
        if self.schedule is not None and self.delivery is None:
            raise fail("required when a schedule is set (whom to send the report to)", field="delivery")
        return self

    @property
    def content_digest(self) -> str:
        """A fingerprint of what the recipients are sent: everything but when (`schedule`) and how it is watched
        (`revisions`), defaults left out so that a release adding a field with its default keeps every digest. A
        revision compares only deliveries made under the same one."""
        content = self.model_dump(mode="json", exclude={"schedule", "revisions"}, exclude_defaults=True)
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def schedule_timezone(self) -> str:
        """The zone the cron is read in: the schedule's own, else the report's."""
        if self.schedule is not None and self.schedule.timezone:
            return self.schedule.timezone
        return self.timezone
