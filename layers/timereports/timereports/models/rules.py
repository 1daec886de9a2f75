"""The rules every field of a definition is checked by, and the one form of their messages.

A mistake becomes one message naming the field and what is allowed (`fail`), because the person reading it is editing
a YAML file. `DefinitionModel` is the base of the definition's models: an unknown key is a mistake.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Sequence
from functools import lru_cache
from importlib import resources
from typing import Annotated, Any, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic_core import PydanticCustomError

from timereports.models.address import check_address
from timereports.models.vocabulary import (
    GROUP_ATTRIBUTES,
    LINE_BREAKS,
    VIEWS,
    VIEWS_WITHOUT_INTERVALS_MEANING,
    WEEKDAYS,
    GroupAttribute,
    IncurredBasis,
)


def fail(message: str, *, field: str | None = None) -> PydanticCustomError:
    """A validation error with our own message; `field` extends the error's path below its location."""
    context: dict[str, Any] = {"detail": message}
    if field:
        context["field"] = field
    return PydanticCustomError("definition", "{detail}", context)


def allowed_values(values: Sequence[str]) -> str:
    return ", ".join(values)


def one_of(allowed: tuple[str, ...]) -> Callable[[object], object]:
    """A before-validator whose message lists the allowed values (pydantic's own one is hard to read)."""

    def check(value: object) -> object:
        if not isinstance(value, str) or value not in allowed:
            raise fail(f"{value!r} is not supported; allowed: {allowed_values(allowed)}")
        return value

    return check


def check_view(value: object) -> object:
    if isinstance(value, str) and value in VIEWS_WITHOUT_INTERVALS_MEANING:
        raise fail(
            f"{value!r} is not supported: this Resource Management view has no Intervals meaning yet; "
            f"allowed: {allowed_values(VIEWS)}"
        )
    return one_of(VIEWS)(value)


def check_incurred_basis(value: object) -> object:
    if value == "confirmed":
        raise fail(
            "'confirmed' is not supported: Intervals has no confirmed/unconfirmed time; allowed: "
            "confirmed-unconfirmed (all time), approved (only time on approved timesheets)"
        )
    return one_of(get_args(IncurredBasis))(value)


def check_weekday(value: object) -> object:
    return one_of(WEEKDAYS)(value.lower() if isinstance(value, str) else value)


@lru_cache(maxsize=1)
def iana_zones() -> frozenset[str]:
    """The IANA zone names, from the tzdata package the functions ship (Lambda's image has no zone files of its own):
    a name only this machine's files know (`localtime`, `posixrules`) would validate here and fail when deployed."""
    return frozenset(resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split())


def check_timezone(value: object) -> object:
    if not isinstance(value, str) or value not in iana_zones():
        raise fail(f"{value!r} is not an IANA time zone name (e.g. Europe/Berlin, America/New_York, UTC)")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise fail(f"{value!r} is not an IANA time zone name (e.g. Europe/Berlin, America/New_York, UTC)") from exc
    return value


def check_single_line(value: object) -> object:
    # A CR or LF in an address or a subject would let a definition add its own mail headers.
    if isinstance(value, str) and LINE_BREAKS.search(value):
        raise fail("line breaks (CR/LF) are not allowed")
    return value


AttributeName = Annotated[GroupAttribute, BeforeValidator(one_of(GROUP_ATTRIBUTES))]
TimeZoneName = Annotated[str, BeforeValidator(check_timezone)]


def check_email(value: object) -> object:
    check_single_line(value)
    if not isinstance(value, str):
        raise fail(f"{value!r} is not an email address")
    try:
        return check_address(value.strip())
    except ValueError as exc:
        raise fail(f"{value!r} is not a valid email address: {exc}") from None


EmailAddress = Annotated[str, BeforeValidator(check_email)]


class DefinitionModel(BaseModel):
    """Base of the definition's models: unknown keys are mistakes (a typo would silently do nothing)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
