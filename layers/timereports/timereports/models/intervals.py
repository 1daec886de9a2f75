"""Typed models of the Intervals records the reports use.

The API returns ids and numbers as strings (older replies as JSON numbers), booleans as "t"/"f"
and names HTML-escaped; the annotated types below accept all of these, so the rest of the code
sees ints, Decimals, bools and plain text.
"""

from __future__ import annotations

import html
import re
from datetime import date, datetime
from decimal import Decimal
from html.parser import HTMLParser
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from timereports.errors import IntervalsError
from timereports.models.vocabulary import DIRECTION_CONTROLS, plain_name


def _to_bool(value: object) -> object:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"t", "true", "1", "y", "yes"}:
            return True
        if lowered in {"f", "false", "0", "n", "no", ""}:
            return False
    return value


def _to_optional_id(value: object) -> object:
    # The API sends "" or null (and some clients 0) for "no project/task/client".
    if value in (None, "", "0", 0):
        return None
    return value


def _to_text(value: object) -> object:
    """A name as the reports show it: HTML decoded, one line, no direction controls (plain_name)."""
    if value is None:
        return ""
    return plain_name(html.unescape(str(value)))


# Elements that end a line when Intervals' rich text is read as plain text; script and style contents are dropped.
_LINE_ELEMENTS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre"})
_DROPPED_ELEMENTS = frozenset({"script", "style"})
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")


class _TextOfHtml(HTMLParser):
    """Collects the text of an HTML fragment: entities decoded, tags dropped, line breaks where the markup has them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._dropping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROPPED_ELEMENTS:
            self._dropping += 1
        elif tag == "br":
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROPPED_ELEMENTS:
            self._dropping = max(0, self._dropping - 1)
        elif tag in _LINE_ELEMENTS and tag != "br":
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._dropping:
            self.parts.append(data)


def html_to_text(value: str) -> str:
    """Plain text of an Intervals rich-text field (descriptions may hold HTML and entities): what a reader of a CSV
    or an email should get. Line breaks are kept (CRLF becomes LF), runs of spaces become one, and at most one blank
    line separates paragraphs."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    if "<" in value or "&" in value:  # most descriptions are plain (or empty): the parser is the slow part
        parser = _TextOfHtml()
        parser.feed(value)
        parser.close()
        value = "".join(parser.parts)
    lines = [_SPACES.sub(" ", line).strip() for line in value.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _to_plain_text(value: object) -> object:
    if value is None:
        return ""
    return html_to_text(str(value)).translate(DIRECTION_CONTROLS)


def _to_decimal(value: object) -> object:
    if value is None or value == "":
        return None
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


RecordT = TypeVar("RecordT", bound=BaseModel)


def parse_record(model: type[RecordT], row: Any, resource: str) -> RecordT:
    """A reply's record as our model, or an IntervalsError naming the record and field the API sent oddly."""
    try:
        return model.model_validate(row)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"]) or "record"
        record_id = row.get("id", "?") if isinstance(row, dict) else "?"
        raise IntervalsError(
            f"unexpected reply from Intervals: /{resource}/ record {record_id}, {where}: {problem['msg']}"
        ) from None


ApiBool = Annotated[bool, BeforeValidator(_to_bool)]
OptionalId = Annotated[int | None, BeforeValidator(_to_optional_id)]
Text = Annotated[str, BeforeValidator(_to_text)]
RichText = Annotated[str, BeforeValidator(_to_plain_text)]
# Far beyond any real entry or rate, and inside what Decimal's 28 digits keep exact through sums and cent amounts: a
# reply outside them is an unexpected reply naming the record, not an arithmetic error after the pull.
MAX_ENTRY_HOURS = 100_000
MAX_HOURLY_RATE = 1_000_000_000
ApiHours = Annotated[Decimal, BeforeValidator(_to_decimal), Field(ge=-MAX_ENTRY_HOURS, le=MAX_ENTRY_HOURS)]
ApiRate = Annotated[
    Annotated[Decimal, Field(ge=-MAX_HOURLY_RATE, le=MAX_HOURLY_RATE)] | None, BeforeValidator(_to_decimal)
]


class ApiModel(BaseModel):
    # The API adds fields over time; unknown ones are kept out of our models, not an error.
    model_config = ConfigDict(extra="ignore", frozen=True)


class TimeEntry(ApiModel):
    """One row of GET /time/."""

    id: int
    date: date
    time: ApiHours
    billable: ApiBool = False
    personid: OptionalId = None
    projectid: OptionalId = None
    moduleid: OptionalId = None
    taskid: OptionalId = None
    worktypeid: OptionalId = None
    clientid: OptionalId = None
    person: Text = ""
    firstname: Text = ""
    lastname: Text = ""
    project: Text = ""
    module: Text = ""
    worktype: Text = ""
    task: Text = ""
    client: Text = ""
    hourlyrate: ApiRate = None
    datemodified: str | None = None
    description: RichText = ""

    @property
    def person_name(self) -> str:
        return self.person or f"{self.firstname} {self.lastname}".strip()


class ReferenceRecord(ApiModel):
    """A reference record (a person, project, task...): validated one by one only when the reference data is fetched
    again (daily, intervals/reference.py). A run reads ReferenceData from the cache, whose own schema includes these,
    so their standalone validators are built at first use rather than at every cold start."""

    model_config = ConfigDict(defer_build=True)


class Person(ReferenceRecord):
    id: int
    firstname: Text = ""
    lastname: Text = ""
    active: ApiBool = True
    groupid: OptionalId = None
    group: Text = ""

    @property
    def name(self) -> str:
        return f"{self.firstname} {self.lastname}".strip()


class Client(ReferenceRecord):
    id: int
    name: Text
    active: ApiBool = True


class Project(ReferenceRecord):
    id: int
    name: Text
    clientid: OptionalId = None
    client: Text = ""
    active: ApiBool = True
    billable: ApiBool = True


class Task(ReferenceRecord):
    id: int
    title: Text = ""
    projectid: OptionalId = None
    milestoneid: OptionalId = None
    moduleid: OptionalId = None


class Milestone(ReferenceRecord):
    id: int
    title: Text = ""
    projectid: OptionalId = None


class ProjectWorktype(ReferenceRecord):
    id: int
    projectid: OptionalId = None
    worktypeid: OptionalId = None
    worktype: Text = ""
    hourlyrate: ApiRate = None


class ProjectModule(ReferenceRecord):
    id: int
    projectid: OptionalId = None
    moduleid: OptionalId = None
    module: Text = ""


class Me(ReferenceRecord):
    id: int
    firstname: Text = ""
    lastname: Text = ""
    groupid: OptionalId = None
    group: Text = ""
    timezone: str | None = None


class ApiQuota(ApiModel):
    """GET /quota/: the account's real usage today (the call itself is not counted)."""

    quota: int
    used: int
    next_reset: datetime | None = None
    exceeded: ApiBool = False


class ReferenceData(ApiModel):
    """The rarely changing records a report needs besides time entries, indexed by id.

    `me` is the token's own person (GET /me/), when asked for.
    """

    me: Me | None = None
    people: dict[int, Person] = Field(default_factory=dict)
    clients: dict[int, Client] = Field(default_factory=dict)
    projects: dict[int, Project] = Field(default_factory=dict)
    tasks: dict[int, Task] = Field(default_factory=dict)
    milestones: dict[int, Milestone] = Field(default_factory=dict)
    project_worktypes: dict[int, ProjectWorktype] = Field(default_factory=dict)
    project_modules: dict[int, ProjectModule] = Field(default_factory=dict)


class TimeQuery(ApiModel):
    """Filters of GET /time/ that a report pushes down to the API (None = not filtered).

    Lists become the API's comma-separated values; `clientid` and `milestoneid` accept -1 ("none").
    `datebegin`/`dateend` are inclusive.
    """

    datebegin: date | None = None
    dateend: date | None = None
    personid: tuple[int, ...] | None = None
    projectid: tuple[int, ...] | None = None
    clientid: tuple[int, ...] | None = None
    worktypeid: tuple[int, ...] | None = None
    moduleid: tuple[int, ...] | None = None
    taskid: tuple[int, ...] | None = None
    milestoneid: tuple[int, ...] | None = None
    billable: bool | None = None
    approved: bool | None = None
    activeonly: bool | None = None
    datemodifiedbegin: datetime | None = None
    datemodifiedend: datetime | None = None

    def to_params(self) -> dict[str, str]:
        """The query string parameters, in the API's encodings (t/f, CSV lists, ISO dates)."""
        params: dict[str, str] = {}
        for name, value in self:
            if value is None:
                continue
            if isinstance(value, bool):
                params[name] = "t" if value else "f"
            elif isinstance(value, tuple):
                params[name] = ",".join(str(item) for item in value)
            elif isinstance(value, datetime):
                params[name] = value.strftime("%Y-%m-%d %H:%M:%S")
            else:
                params[name] = value.isoformat() if isinstance(value, date) else str(value)
        return params
