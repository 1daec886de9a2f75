"""The Reports API's request model is the definitions' query model: same vocabulary, same defaults, same messages;
and answers carry JSON numbers and RM's shape. Pure: no socket, no AWS."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.support.reports_requests import refusal
from timereports.errors import DefinitionError, UnknownReportError
from timereports.logic.reports_api import ReportsApiService
from timereports.models.catalogue import Catalogue, parse_definition
from timereports.models.definition import ReportDefinition, ReportQuery
from timereports.models.report import Period, ReportTable
from timereports.models.reports_api import ReportsQuery, describe_request_errors
from timereports.render.report_json import json_cell, json_dates, json_rows, json_totals

IDENTITY: dict[str, Any] = {"id": "weekly", "title": "Weekly"}

SHARED_MISTAKES = [
    {"view": "utilization"},
    {"view": "budgets_hours"},
    {"group_by": ["user_id", "project_id", "client", "task", "module", "date"]},
    {"group_by": ["colour"]},
    {"group_by": []},
    {"time_frame": "next_week"},
    {"time_frame": {"from": "2026-11-30", "to": "2026-11-01"}},
    {"filters": {"client": {"operation": "include", "values": ["Mango Inc."]}}},
    {"filters": {"people_tags": {"operation": "exclusion", "values": ["intern"]}}},
    {"filters": {"billable": {"operation": "inclusion", "values": ["maybe"]}}},
    {"calc_incurred_using": "confirmed"},
    {"timezone": "Nowhere/City"},
]


@pytest.mark.parametrize("mistake", SHARED_MISTAKES, ids=lambda mistake: next(iter(mistake)))
def test_a_definition_and_a_request_refuse_a_mistake_with_the_same_message(mistake: dict[str, Any]) -> None:
    # Given one mistake in the query vocabulary / When a definition and an API request carry it
    with pytest.raises(DefinitionError) as in_definition:
        parse_definition({**IDENTITY, **mistake})
    in_request = refusal(mistake)
    # Then both are refused with the very same message, naming the field and the allowed values
    assert in_request == str(in_definition.value)
    assert in_request.startswith(next(iter(mistake)))


def test_one_model_holds_the_shared_vocabulary() -> None:
    # Given the two models / Then both are the query model, with the same fields and defaults
    assert issubclass(ReportDefinition, ReportQuery)
    assert issubclass(ReportsQuery, ReportQuery)
    assert set(ReportsQuery.model_fields) == {*ReportQuery.model_fields, "today"}
    request, definition = ReportsQuery.model_validate({}), parse_definition(IDENTITY)
    for name in ReportQuery.model_fields:
        assert getattr(request, name) == getattr(definition, name), name


def test_rm_defaults() -> None:
    query = ReportsQuery()  # what the API answers a request without a body with
    assert (query.view, query.time_frame, query.group_by) == ("time_fees_hours", "this_week", ("project_id",))
    assert (query.filters, query.today, query.calc_incurred_using) == ({}, None, "confirmed-unconfirmed")


def test_exclusion_filters_with_ids_or_names_are_accepted_in_both() -> None:
    # Given RM's example: include a client by name, exclude people by id
    filters = {
        "client": {"operation": "inclusion", "values": ["Mango Inc."]},
        "user_id": {"operation": "exclusion", "values": [10001, "Ada Lovelace"]},
        "project_id": {"operation": "exclusion", "values": ["Caf&eacute; site"]},
    }
    # When a definition and a request carry them / Then both normalise them alike (names' entities decoded)
    request = ReportsQuery.model_validate({"filters": filters})
    definition = parse_definition({**IDENTITY, "filters": filters})
    assert request.filters == definition.filters
    assert request.filters["user_id"].operation == "exclusion"
    assert request.filters["user_id"].values == (10001, "Ada Lovelace")
    assert request.filters["project_id"].values == ("Café site",)


def test_an_unknown_request_field_lists_the_requests_fields() -> None:
    assert re.fullmatch(r"colour: unknown field; allowed: view, .*, today", refusal({"colour": "red"}))


def test_a_definition_still_lists_its_fields_identity_first() -> None:
    with pytest.raises(DefinitionError, match="colour: unknown field; allowed: id, title, account, view, time_frame"):
        parse_definition({**IDENTITY, "colour": "red"})


def test_framework_errors_read_like_ours() -> None:
    # Given the error details Powertools hands over (locations under "body")
    try:
        ReportsQuery.model_validate({"view": "utilization"})
    except Exception as exc:
        details = [{**detail, "loc": ("body", *detail["loc"])} for detail in exc.errors()]  # type: ignore[attr-defined]
    # Then the message reads like a definition's
    assert describe_request_errors(details).startswith("view: 'utilization' is not supported")
    invalid = [
        {"type": "json_invalid", "loc": ("body", 3), "msg": "JSON decode error", "ctx": {"error": "Expecting value"}}
    ]
    assert (
        describe_request_errors(invalid)
        == "body: not valid JSON (Expecting value); send a JSON object of report parameters"
    )


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (Decimal("6.00"), 6),
        (Decimal("7.25"), 7.25),
        (Decimal("1234567.89"), 1234567.89),
        (12, 12),
        (date(2026, 11, 16), "2026-11-16"),
        (True, True),
        (None, None),
        ("Café Crème", "Café Crème"),
    ],
)
def test_cells_become_json_values(cell: Any, expected: Any) -> None:
    value = json_cell(cell)
    assert value == expected
    assert type(value) is type(expected)


def test_rows_and_totals_keep_the_tables_columns() -> None:
    table = ReportTable(
        report_id="r",
        title="R",
        view="time_fees_hours",
        period=Period(date(2026, 11, 16), date(2026, 11, 22)),
        group_by=("project_id",),
        columns=("project_id", "project_name", "incurred_hours", "entries"),
        metric_columns=("incurred_hours", "entries"),
        rows=[{"project_id": 7, "project_name": "A & B", "incurred_hours": Decimal("1.50"), "entries": 2}],
        totals={"incurred_hours": Decimal("1.50"), "entries": 2},
    )
    assert json_rows(table) == [{"project_id": 7, "project_name": "A & B", "incurred_hours": 1.5, "entries": 2}]
    assert json_totals(table) == {"incurred_hours": 1.5, "entries": 2}
    assert json_dates(date(2026, 11, 18), table.period) == {
        "today": "2026-11-18",
        "range": {"from": "2026-11-16", "to": "2026-11-22"},
    }


def test_an_unknown_catalogue_report_is_refused_before_any_source_is_built(tmp_path: Path) -> None:
    # Given an empty catalogue and a time source factory that must not be called
    def no_source(account: str) -> Any:
        raise AssertionError("no time source may be built for an unknown report")

    service = ReportsApiService(catalogue=Catalogue(tmp_path), sources=no_source)
    # When a report is asked for / Then it is an UnknownReportError (the API's 404) naming the catalogue
    with pytest.raises(UnknownReportError, match="report_id: 'weekly' is not in the catalogue; known reports: none"):
        service.answer_report("weekly")
