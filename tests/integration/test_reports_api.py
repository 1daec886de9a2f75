"""The Reports API end to end: the reports_api Lambda invoked in-process with the events/ samples, and the same resolver
over loopback HTTP behind `timereports serve`'s API key, against moto and the Intervals simulator.

Given the simulator's seeded account, when rows or totals are asked for, then they equal an independent aggregation
of the simulator's own entries (tests/support/reports.py, no engine code), with Resource Management's defaults and
answer shape; and every error is one JSON message with the right status, never a traceback, a token or a path.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from openapi_spec_validator import validate
from timereports_dev.api_server import ReportsApiServer
from timereports_dev.dataset import ADMIN_TOKEN
from timereports_dev.simulator import Fault

from functions.reports_api import app
from tests.support.deployment import deploy_environment, function_environment, redeploy
from tests.support.events import load_event
from tests.support.lambda_context import FakeLambdaContext
from tests.support.reports import as_decimal, entries_between, hours_by
from timereports.api import resolver
from timereports.api.resolver import build_resolver
from timereports.bootstrap.api import build_reports_api_service
from timereports.bootstrap.sources import build_ledger, build_mirror_store

REPO = Path(__file__).resolve().parents[2]
CATALOGUE = REPO / "reports"
API_KEY = "test-api-key-0123456789abcdef"
WEEK = (date(2026, 11, 16), date(2026, 11, 22))
HOUR_METRICS = ("incurred_hours", "billable_hours", "nonbillable_hours", "entries")
# What no answer may contain: a traceback, a source path, the Intervals token.
LEAKS = ("Traceback", 'File "', ".py", "/work/", "site-packages", ADMIN_TOKEN)


def with_body(event: dict[str, Any], body: str) -> dict[str, Any]:
    return {**event, "body": body, "headers": {**event["headers"], "content-length": str(len(body))}}


@pytest.fixture
def deployed(aws: Any, simulator: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The reports_api function's environment as template.yaml sets it, with moto and the simulator behind it."""
    environment = function_environment(aws, simulator, INTERVALS_MAX_RETRY_SECONDS="1")
    deploy_environment(monkeypatch, environment)
    yield aws
    redeploy()


# What the function has when API Gateway hands it a request: its 29-second timeout (template.yaml).
API_REMAINING_MILLIS = 29_000


def invoke(event: dict[str, Any], remaining_millis: int = API_REMAINING_MILLIS) -> tuple[int, dict[str, str], Any]:
    """The handler's reply to `event` with the time the deployed function has: status, headers and the parsed JSON
    body."""
    context = FakeLambdaContext(function_name="timereports-ReportsApiFunction", remaining_millis=remaining_millis)
    reply = app.lambda_handler(event, context)
    body = reply.get("body") or ""
    for leak in LEAKS:
        assert leak not in body, f"the answer leaks {leak!r}: {body[:300]}"
    return int(reply["statusCode"]), reply.get("headers") or {}, json.loads(body)


def expected_rows(dataset: Any, start: date, end: date) -> dict[tuple[int, int], dict[str, Any]]:
    """Hours by project and person over the period, from the simulator's own data."""
    return hours_by(entries_between(dataset, start, end), lambda entry: (entry["projectid"], entry["personid"]))


# --- the handler, with the sample events --------------------------------------------------------------------------


def test_rows_equal_an_independent_aggregation(deployed: Any, dataset: Any) -> None:
    # Given the sample rows request: this week as of 2026-11-18, by project and person
    event = load_event("reports_api_rows.json")
    # When the handler answers it
    status, headers, answer = invoke(event)
    # Then it is RM's shape: every parameter, the dates, and one row per project and person
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert answer["dates"] == {"today": "2026-11-18", "range": {"from": "2026-11-16", "to": "2026-11-22"}}
    assert answer["params"]["group_by"] == ["project_id", "user_id"]
    expected = expected_rows(dataset, *WEEK)
    assert {(row["project_id"], row["user_id"]) for row in answer["rows"]} == set(expected)
    # And each row's metrics are JSON numbers equal, to the cent, to the independent sums
    for row in answer["rows"]:
        sums = expected[(row["project_id"], row["user_id"])]
        assert isinstance(row["project_id"], int)
        assert isinstance(row["user_id"], int)
        for metric in HOUR_METRICS:
            assert isinstance(row[metric], int | float), metric
            assert as_decimal(row[metric]) == sums[metric], (row, metric)
    # And the labels are the records' names, HTML entities decoded
    names = {project["id"]: project["name"] for project in dataset.projects}
    people = {person["id"]: f"{person['firstname']} {person['lastname']}" for person in dataset.people}
    for row in answer["rows"]:
        assert row["project_name"] == names[row["project_id"]]
        assert row["user_name"] == people[row["user_id"]]
    assert any("&" in row["project_name"] for row in answer["rows"]), "the week has a name with an entity to decode"


def test_rm_defaults_this_week_from_monday_by_project(deployed: Any, dataset: Any) -> None:
    # Given a request that sets only `today` (a Wednesday)
    status, _, answer = invoke(load_event("reports_api_rows_defaults.json"))
    # Then every other parameter takes RM's default, and the week runs Monday to Sunday
    assert status == 200
    assert answer["params"] == {
        "view": "time_fees_hours",
        "time_frame": "this_week",
        "timezone": "UTC",
        "week_start": "monday",
        "group_by": ["project_id"],
        "filters": {},
        "calc_incurred_using": "confirmed-unconfirmed",
        "hours_per_day": 8,
        "today": "2026-11-18",
    }
    assert answer["dates"]["range"] == {"from": "2026-11-16", "to": "2026-11-22"}
    # And the rows are grouped by project only, sorted by it (ids numerically), with the view's columns in order
    expected = hours_by(entries_between(dataset, *WEEK), lambda entry: (entry["projectid"],))
    assert list(answer["rows"][0]) == ["project_id", "project_name", *HOUR_METRICS]
    assert {(row["project_id"],) for row in answer["rows"]} == set(expected)
    assert [row["project_id"] for row in answer["rows"]] == sorted(row["project_id"] for row in answer["rows"])
    for row in answer["rows"]:
        assert as_decimal(row["incurred_hours"]) == expected[(row["project_id"],)]["incurred_hours"]


def test_an_empty_body_takes_every_default_with_today_the_current_utc_date(deployed: Any) -> None:
    # Given a POST without a body
    event = load_event("reports_api_rows_defaults.json")
    event.pop("body")
    event["headers"] = {name: value for name, value in event["headers"].items() if name != "content-type"}
    # When answered / Then today is the current UTC date (read around the call: the test may straddle midnight)
    before = datetime.now(UTC).date()
    status, _, answer = invoke(event)
    after = datetime.now(UTC).date()
    assert status == 200
    assert answer["params"]["today"] in {before.isoformat(), after.isoformat()}
    assert answer["params"]["time_frame"] == "this_week"


def test_totals_equal_an_independent_sum_with_amounts_and_a_filter(deployed: Any, dataset: Any) -> None:
    # Given the sample totals request: November, billable time only, hours and amounts
    status, _, answer = invoke(load_event("reports_api_totals.json"))
    # Then the totals are the independent sums of November's billable entries, to the cent
    assert status == 200
    assert answer["dates"]["range"] == {"from": "2026-11-01", "to": "2026-11-30"}
    assert set(answer) == {"params", "dates", "totals"}
    billable = [entry for entry in entries_between(dataset, date(2026, 11, 1), date(2026, 11, 30)) if entry["billable"]]
    (expected,) = hours_by(billable, lambda _entry: ()).values()
    assert list(answer["totals"]) == [*HOUR_METRICS, "incurred_amount"]
    for metric, value in answer["totals"].items():
        assert as_decimal(value) == expected[metric], metric
    assert answer["totals"]["nonbillable_hours"] == 0
    assert answer["params"]["filters"] == {"billable": {"operation": "inclusion", "values": [True]}}


def test_an_exclusion_filter_drops_the_named_client(deployed: Any, dataset: Any) -> None:
    # Given a rows request by client that excludes one client by name (with the name's HTML-unsafe characters)
    client = next(client["name"] for client in dataset.clients if "&" in client["name"] or "é" in client["name"])
    body = {
        "today": "2026-11-18",
        "group_by": ["client"],
        "filters": {"client": {"operation": "exclusion", "values": [client]}},
    }
    status, _, answer = invoke(with_body(load_event("reports_api_rows.json"), json.dumps(body)))
    # Then that client has no row, and the others equal the independent sums
    assert status == 200
    kept = [entry for entry in entries_between(dataset, *WEEK) if entry["client"] != client]
    expected = hours_by(kept, lambda entry: (entry["client"],))
    assert client not in {row["client_name"] for row in answer["rows"]}
    assert {(row["client_name"],) for row in answer["rows"]} == set(expected)
    for row in answer["rows"]:
        assert as_decimal(row["incurred_hours"]) == expected[(row["client_name"],)]["incurred_hours"]


def test_rows_and_totals_of_a_catalogue_report_as_of_today(deployed: Any) -> None:
    # Given the catalogue sample (GET .../weekly-hours-by-project/rows)
    status, _, rows = invoke(load_event("reports_api_catalogue_rows.json"))
    # Then the report's own parameters are used, as of today in its time zone
    assert status == 200
    assert rows["params"]["time_frame"] == "last_week"
    assert rows["params"]["group_by"] == ["project_id", "user_id"]
    # And its totals add up its rows
    event = load_event("reports_api_catalogue_rows.json")
    path = event["rawPath"].replace("/rows", "/totals")
    event = {
        **event,
        "rawPath": path,
        "requestContext": {**event["requestContext"], "http": {**event["requestContext"]["http"], "path": path}},
    }
    status, _, totals = invoke(event)
    assert status == 200
    assert totals["dates"] == rows["dates"]
    assert as_decimal(totals["totals"]["incurred_hours"]) == sum(
        as_decimal(row["incurred_hours"]) for row in rows["rows"]
    )


def test_the_openapi_document_validates_and_lists_the_endpoints(deployed: Any) -> None:
    # Given the OpenAPI sample / When served
    status, _, document = invoke(load_event("reports_api_openapi.json"))
    # Then it is a valid OpenAPI 3 document with the rows and totals endpoints and their request schema
    assert status == 200
    validate(document)
    assert document["openapi"].startswith("3.")
    assert {
        "/api/v1/reports/rows",
        "/api/v1/reports/totals",
        "/api/v1/reports/{report_id}/rows",
        "/api/v1/reports/{report_id}/totals",
    } <= set(document["paths"])
    assert set(document["components"]["securitySchemes"]) == {"sigv4", "bearer"}
    body = document["paths"]["/api/v1/reports/rows"]["post"]["requestBody"]
    assert "application/json" in body["content"]
    assert "ReportsQuery" in document["components"]["schemas"]
    # and every answer that says to try again declares the Retry-After header it carries
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for status in ("429", "503"):
                assert "Retry-After" in operation["responses"][status]["headers"], (method, path, status)


# --- errors ------------------------------------------------------------------------------------------------------

ERROR_CASES = [
    pytest.param(json.dumps({"today": 20261118}), 400, ["today", "is not a date; write YYYY-MM-DD"], id="numeric-date"),
    pytest.param(
        json.dumps({"view": "utilization"}), 400, ["view", "'utilization'", "allowed: time_fees_hours"], id="view"
    ),
    pytest.param(
        json.dumps({"group_by": ["user_id", "project_id", "client", "task", "module", "date"]}),
        400,
        ["group_by", "at most 5 levels"],
        id="six-levels",
    ),
    pytest.param(
        json.dumps({"time_frame": "next_week"}), 400, ["time_frame", "'next_week'", "allowed: today"], id="time-frame"
    ),
    pytest.param(
        json.dumps({"filters": {"client": {"operation": "include", "values": ["Mango Inc."]}}}),
        400,
        ["filters.client.operation", "'include'", "allowed: inclusion, exclusion"],
        id="filter-operation",
    ),
    pytest.param(
        json.dumps({"filters": {"people_tags": {"operation": "exclusion", "values": ["intern"]}}}),
        400,
        ["'people_tags' is not a filter attribute", "allowed: user_id"],
        id="filter-attribute",
    ),
    pytest.param('{"view": "time_fees_hours",', 400, ["body: not valid JSON"], id="malformed-json"),
    pytest.param("[1, 2]", 400, ["body: expected a JSON object"], id="not-an-object"),
    pytest.param(
        json.dumps({"colour": "red"}), 400, ["colour: unknown field", "allowed: view, time_frame"], id="unknown"
    ),
    pytest.param(json.dumps({"today": "2026-13-01"}), 400, ["today"], id="bad-today"),
    pytest.param(
        json.dumps({"time_frame": {"from": "2026-11-30", "to": "2026-11-01"}}),
        400,
        ["time_frame.from"],
        id="from-after-to",
    ),
]


@pytest.mark.parametrize(("body", "status", "fragments"), ERROR_CASES)
def test_a_bad_request_is_a_400_naming_the_field(
    deployed: Any, simulator: Any, body: str, status: int, fragments: list[str]
) -> None:
    # Given a rows request with one mistake
    event = with_body(load_event("reports_api_rows.json"), body)
    # When answered
    got, _, answer = invoke(event)
    # Then it is refused with one message naming the field and what is allowed, before any Intervals request
    assert got == status
    assert set(answer) == {"message"}
    for fragment in fragments:
        assert fragment in answer["message"]
    assert simulator.request_log == []


def test_the_invalid_view_sample_is_refused(deployed: Any) -> None:
    status, _, answer = invoke(load_event("reports_api_invalid_view.json"))
    assert status == 400
    assert answer["message"].startswith("view: 'utilization' is not supported")


def test_a_form_body_is_a_415_saying_to_send_json(deployed: Any) -> None:
    # Given what `curl -d` sends without -H 'Content-Type: application/json'
    event = load_event("reports_api_rows.json")
    event["headers"] = {**event["headers"], "content-type": "application/x-www-form-urlencoded"}
    status, _, answer = invoke(event)
    assert status == 415
    assert "send application/json" in answer["message"]


def test_an_unknown_report_or_path_is_a_404(deployed: Any) -> None:
    event = load_event("reports_api_catalogue_rows.json")
    for path, fragment in (
        ("/api/v1/reports/no-such-report/rows", "known reports: daily-unapproved-time"),
        ("/api/v1/reports/WEEKLY-hours-by-project/rows", "known reports: daily-unapproved-time"),
        ("/api/v1/reports/..%2F..%2Fetc/totals", "known reports: daily-unapproved-time"),
        ("/api/v1/reports/weekly-hours-by-project/rowz", "POST /api/v1/reports/rows"),
    ):
        http = {**event["requestContext"]["http"], "path": path}
        status, _, answer = invoke(
            {**event, "rawPath": path, "requestContext": {**event["requestContext"], "http": http}}
        )
        assert status == 404
        assert fragment in answer["message"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/api/v1/reports/rows", "POST"),
        ("PUT", "/api/v1/reports/totals", "POST"),
        ("POST", "/api/v1/reports/weekly-hours-by-project/rows", "GET"),
        ("DELETE", "/api/v1/openapi.json", "GET"),
    ],
)
def test_a_method_a_path_does_not_take_is_a_405_saying_which_it_does(
    deployed: Any, method: str, path: str, allowed: str
) -> None:
    event = load_event("reports_api_catalogue_rows.json")
    http = {**event["requestContext"]["http"], "path": path, "method": method}
    asked = {**event, "rawPath": path, "routeKey": f"{method} /api/v1/{{proxy+}}"}
    asked["requestContext"] = {**event["requestContext"], "http": http}
    status, headers, answer = invoke(asked)
    assert status == 405, answer
    assert headers["Allow"] == allowed
    assert answer["message"] == f"{method} is not allowed here; use {allowed}"


def test_a_spent_quota_is_a_429_with_retry_after(deployed: Any) -> None:
    # Given the account's ledger marked exhausted (the API said code 11) until the next reset
    settings = deployed.settings
    resets_at = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    resets_at = resets_at.fromtimestamp(resets_at.timestamp() + 86400, UTC)
    build_ledger(settings, settings.account("default")).mark_exhausted(resets_at)
    # When rows are asked for
    status, headers, answer = invoke(load_event("reports_api_rows.json"))
    # Then 429, with the seconds to the reset in Retry-After
    assert status == 429
    assert 0 < int(headers["Retry-After"]) <= 86400
    assert "quota is spent" in answer["message"]


def test_intervals_failing_is_a_503(deployed: Any, simulator: Any) -> None:
    # Given Intervals answering every time request with a 503 (the client's retries give up after a second)
    simulator.inject(Fault("status", path="/time/", times=1000, status=503, api_code=None))
    # When rows are asked for / Then 503, saying to try later, with none of Intervals' reply in it
    status, headers, answer = invoke(load_event("reports_api_rows.json"))
    assert status == 503
    assert int(headers["Retry-After"]) >= 1
    assert answer == {"message": "Intervals could not answer the query; try again later"}


def test_answers_past_the_minutes_pace_are_a_429_with_retry_after_not_a_timeout(
    deployed: Any, simulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a deployment pacing Intervals at 3 requests a minute, which one answer takes (/quota/, a sync page, a
    # count probe)
    monkeypatch.setenv("INTERVALS_REQUESTS_PER_MINUTE", "3")
    redeploy()
    event = load_event("reports_api_rows.json")
    assert invoke(event)[0] == 200
    before = simulator.requests_counted
    started = time.monotonic()
    # When the next answer is asked for within the minute
    status, headers, answer = invoke(event)
    # Then it is refused at once with the wait, before a request is reserved or sent, instead of sleeping past API
    # Gateway's 29 s
    assert status == 429, answer
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert answer["message"].startswith("too many requests to Intervals in the last minute to answer in time")
    assert time.monotonic() - started < 5
    assert simulator.requests_counted == before


def test_rows_too_large_for_an_answer_are_a_413_saying_how_to_ask_for_less(
    deployed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given this week's rows, whose JSON is some kilobytes and gzipped much less
    event = load_event("reports_api_rows.json")
    plain = invoke(event)
    assert plain[0] == 200
    size = len(json.dumps(plain[2], separators=(",", ":")))
    # And an answer limit between the two (Lambda's is 6 MB; the rows of a year of entries pass it)
    monkeypatch.setattr(resolver, "ANSWER_LIMIT_BYTES", size // 2)
    # When they are asked for without gzip / Then 413, naming the rows and saying what to ask instead
    status, _, answer = invoke(event)
    assert status == 413
    assert answer["message"].startswith(f"the answer ({len(plain[2]['rows'])} rows, ")
    assert answer["message"].endswith("or ask for the totals, or send Accept-Encoding: gzip")
    # And with gzip accepted the same rows fit, gzipped
    gzipped = app.lambda_handler(
        {**event, "headers": {**event["headers"], "accept-encoding": "gzip"}},
        FakeLambdaContext(remaining_millis=API_REMAINING_MILLIS),
    )
    assert gzipped["statusCode"] == 200
    assert gzipped["headers"]["Content-Encoding"] == "gzip"
    assert gzipped["isBase64Encoded"] is True
    assert json.loads(gzip.decompress(base64.b64decode(gzipped["body"]))) == plain[2]


def test_query_parameters_are_refused_not_ignored(deployed: Any, simulator: Any) -> None:
    # Given a catalogue report's rows asked for with parameters in the query string
    event = load_event("reports_api_catalogue_rows.json")
    asked = {**event, "rawQueryString": "today=2020-01-06&view=time_fees_days"}
    asked["queryStringParameters"] = {"today": "2020-01-06", "view": "time_fees_days"}
    before = simulator.requests_counted
    # When it is answered / Then 400 naming them and where parameters go, before any Intervals request
    status, _, answer = invoke(asked)
    assert status == 400
    assert answer["message"].startswith("query parameters are not read (today, view): ")
    assert "JSON body of POST /api/v1/reports/rows" in answer["message"]
    assert simulator.requests_counted == before


def test_a_bodiless_get_with_a_text_content_type_is_judged_by_its_path_not_its_content_type(deployed: Any) -> None:
    # Given a GET for a report id the catalogue does not have, sent with a text Content-Type (and no body)
    event = load_event("reports_api_catalogue_rows.json")
    path = "/api/v1/reports/Not_An_Id/rows"
    http = {**event["requestContext"]["http"], "path": path}
    asked = {
        **event,
        "rawPath": path,
        "requestContext": {**event["requestContext"], "http": http},
        "pathParameters": {"report_id": "Not_An_Id"},
        "headers": {**event["headers"], "content-type": "text/plain"},
    }
    # When it is answered / Then 404 for the id, not 415 for a body it does not have
    status, _, answer = invoke(asked)
    assert status == 404, answer
    assert "report_id" in answer["message"]


def test_a_mirror_other_syncs_keep_publishing_over_is_a_503_to_retry(deployed: Any, simulator: Any) -> None:
    # Given a mirror the first answer published, and an entry of the week edited since (this answer must publish)
    event = load_event("reports_api_rows.json")
    assert invoke(event)[0] == 200
    week = [entry for entry in simulator.time_entries() if "2026-11-16" <= entry["date"].isoformat() <= "2026-11-22"]
    simulator.update_time_entry(week[0]["id"], time=Decimal("1.5"))
    # And other syncs of the account rewriting November all the while (each Intervals reply takes 0.2 s), so that
    # this answer's November cannot be laid over theirs
    simulator.inject(Fault("latency", path="/time/", times=100, delay=0.2))
    store = build_mirror_store(deployed.settings, "default")
    stop = threading.Event()

    def publish_over() -> None:
        # time.sleep, not stop.wait(timeout): libfaketime (make test-clock) moves the clock a condition variable
        # waits on, and a timed wait would then not wake for 400 days.
        while not stop.is_set():
            time.sleep(0.02)
            manifest = store.load_manifest()
            november = manifest.months["2026-11"].model_copy(update={"written_at": datetime.now(UTC)})
            store.publish(
                manifest.model_copy(update={"months": {**manifest.months, "2026-11": november}}), manifest.version
            )

    racer = threading.Thread(target=publish_over, daemon=True)
    racer.start()
    try:
        # When rows are asked for
        status, headers, answer = invoke(event)
    finally:
        stop.set()
        racer.join()
    # Then 503 with Retry-After (the conflict is worth retrying), not a 500
    assert status == 503, answer
    assert int(headers["Retry-After"]) >= 1
    assert answer == {"message": "the data kept changing while it was read; try again"}


def test_a_number_too_long_to_read_is_a_400(deployed: Any, simulator: Any) -> None:
    # Given a filter value of 5,000 digits (Python refuses to convert integers that long)
    body = json.dumps({"view": "time_fees_hours", "filters": {"user_id": {"values": [1]}}}).replace(
        "[1]", "[" + "9" * 5000 + "]"
    )
    before = simulator.requests_counted
    # When rows are asked for / Then 400 naming the body, before any Intervals request
    status, _, answer = invoke(with_body(load_event("reports_api_rows.json"), body))
    assert status == 400, answer
    assert answer["message"].startswith("body: a number too long to read")
    assert simulator.requests_counted == before


def test_a_missing_setting_is_a_500_that_names_nothing_internal(deployed: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a deployment whose token setting is missing
    monkeypatch.delenv("INTERVALS_API_TOKEN")
    redeploy()
    status, _, answer = invoke(load_event("reports_api_rows.json"))
    assert status == 500
    assert "INTERVALS" not in answer["message"]


def test_a_broken_catalogue_is_a_500_that_names_no_file(
    deployed: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a deployment whose catalogue has an invalid definition
    (tmp_path / "broken.yaml").write_text("id: Broken_Id\ntitle: x\n", encoding="utf-8")
    monkeypatch.setenv("CATALOGUE_DIR", str(tmp_path))
    redeploy()
    # When a catalogue report is asked for / Then it is the operator's problem (500), and the answer names no file
    status, _, answer = invoke(load_event("reports_api_catalogue_rows.json"))
    assert status == 500
    assert str(tmp_path) not in answer["message"]
    assert "broken" not in answer["message"]


def catalogue_of(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str) -> None:
    """Redeploy with a catalogue of the weekly report, `extra` lines added to its YAML."""
    text = (CATALOGUE / "weekly-hours-by-project.yaml").read_text(encoding="utf-8") + extra
    (tmp_path / "weekly-hours-by-project.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("CATALOGUE_DIR", str(tmp_path))
    redeploy()


def test_a_catalogue_reports_slices_are_not_the_apis_to_check(
    deployed: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the weekly report split by client, one slice a client the account no longer has
    catalogue_of(tmp_path, monkeypatch, '  split: {by: client, to: {"Old Client Ltd": [old@example.com]}}\n')
    # When its rows are asked for / Then they are answered: its delivery is not the API's
    status, _, answer = invoke(load_event("reports_api_catalogue_rows.json"))
    assert status == 200, answer


def test_a_catalogue_report_naming_what_the_account_lacks_is_the_operators_500(
    deployed: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the weekly report filtered on a client the account does not have
    catalogue_of(tmp_path, monkeypatch, 'filters:\n  client: {operation: inclusion, values: ["Old Client Ltd"]}\n')
    # When its rows are asked for / Then the caller gets the fixed 500 (its operator's log names the filter)
    status, _, answer = invoke(load_event("reports_api_catalogue_rows.json"))
    assert status == 500, answer
    assert "Old Client" not in answer["message"]


# --- over loopback HTTP, behind the API key ----------------------------------------------------------------------


@pytest.fixture
def served(aws: Any, simulator: Any) -> Iterator[str]:
    """The resolver behind `timereports serve`'s server, in this process, on a free port of 127.0.0.1."""
    settings = aws.settings.model_copy(update={"catalogue_dir": str(CATALOGUE), "intervals_max_retry_seconds": 1.0})
    service = build_reports_api_service(settings, api_url=simulator.url, token=ADMIN_TOKEN)
    with ReportsApiServer(build_resolver(lambda: service), API_KEY) as server:
        yield server.url


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-key-0123456789abcdef", f"Basic {API_KEY}", f"Bearer {API_KEY}x", "Bearer"],
    ids=["none", "wrong", "basic", "longer", "empty"],
)
def test_no_key_or_a_wrong_key_is_a_401(served: str, simulator: Any, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    reply = requests.post(f"{served}/api/v1/reports/rows", json={"today": "2026-11-18"}, headers=headers, timeout=10)
    assert reply.status_code == 401
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in reply.json()["message"]
    assert simulator.request_log == []


def test_rows_and_totals_over_http_equal_the_independent_sums(served: str, dataset: Any) -> None:
    # Given the key / When rows and totals are asked for over HTTP, as a spreadsheet or curl would
    headers = {"Authorization": f"Bearer {API_KEY}"}
    query = {"today": "2026-11-18", "group_by": ["project_id", "user_id"]}
    rows = requests.post(f"{served}/api/v1/reports/rows", json=query, headers=headers, timeout=30)
    totals = requests.post(f"{served}/api/v1/reports/totals", json=query, headers=headers, timeout=30)
    # Then both are answered, and equal the independent aggregation
    assert rows.status_code == totals.status_code == 200
    expected = expected_rows(dataset, *WEEK)
    answer = rows.json()
    assert {(row["project_id"], row["user_id"]): as_decimal(row["incurred_hours"]) for row in answer["rows"]} == {
        key: sums["incurred_hours"] for key, sums in expected.items()
    }
    all_entries = entries_between(dataset, *WEEK)
    assert as_decimal(totals.json()["totals"]["incurred_hours"]) == sum(
        (as_decimal(entry["time"]) for entry in all_entries), as_decimal(0)
    )
    assert totals.json()["totals"]["entries"] == len(all_entries)
    # And the OpenAPI document is served too
    document = requests.get(f"{served}/api/v1/openapi.json", headers=headers, timeout=10)
    assert document.status_code == 200
    validate(document.json())


def test_an_error_over_http_is_the_same_json_message(served: str) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    reply = requests.post(f"{served}/api/v1/reports/rows", data=b"{not json", headers=headers, timeout=10)
    assert reply.status_code == 400
    assert reply.json()["message"].startswith("body: not valid JSON")


def raw_request(url: str, request: bytes) -> bytes:
    """What the server sends back to `request` written as bytes on a socket, up to its closing the connection."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(
    ("framing", "status", "message"),
    [
        ("Content-Length: abc", b"400", b"is not a number of bytes"),
        ("Content-Length: -1", b"400", b"is not a number of bytes"),
        ("Transfer-Encoding: chunked", b"411", b"not chunked"),
    ],
)
def test_a_body_framed_otherwise_than_by_its_length_is_refused_in_json(
    served: str, simulator: Any, framing: str, status: bytes, message: bytes, capfd: pytest.CaptureFixture[str]
) -> None:
    # Given a request whose body length is not a number of bytes, or chunked (which was read as no body: the
    # default report answered 200 for a query the caller never saw refused)
    body = b'{"view": "utilization"}'
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    request = (
        f"POST /api/v1/reports/totals HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n"
        f"Content-Type: application/json\r\n{framing}\r\nConnection: close\r\n\r\n"
    ).encode() + (chunked if "chunked" in framing else body)
    # When it is sent / Then a JSON refusal, and nothing asked of Intervals
    answer = raw_request(served, request)
    assert answer.startswith(b"HTTP/1.1 " + status)
    assert message in answer
    assert simulator.request_log == []
    # and no traceback on the terminal that serves
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("method", ["OPTIONS", "HEAD"])
def test_options_and_head_are_a_405_with_allow(served: str, method: str) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    reply = requests.request(method, f"{served}/api/v1/reports/rows", headers=headers, timeout=10)
    assert reply.status_code == 405
    assert reply.headers["Allow"] == "POST"
    if method == "OPTIONS":
        assert reply.json()["message"]
    else:
        assert reply.content == b""


def test_a_client_that_hangs_up_leaves_the_server_answering(served: str) -> None:
    # Given a client that sends a request and closes before the answer
    host, port = served.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            f"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n\r\n".encode()
        )
    # Then the next request is answered as usual
    headers = {"Authorization": f"Bearer {API_KEY}"}
    assert requests.get(f"{served}/api/v1/openapi.json", headers=headers, timeout=10).status_code == 200


# --- the command ---------------------------------------------------------------------------------------------------


def _command_environment(**extra: str) -> dict[str, str]:
    environment = {name: value for name, value in os.environ.items() if name != "TIMEREPORTS_API_KEY"}
    return {**environment, **extra}


def test_serve_refuses_to_start_without_a_key() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "timereports_dev.cli", "serve", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_command_environment(),
        check=False,
    )
    assert result.returncode == 2
    assert "TIMEREPORTS_API_KEY: not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_timereports_serve_answers_over_loopback(aws: Any, simulator: Any, dataset: Any) -> None:
    # Given `timereports serve --local --api-url SIMULATOR --port 0` with a key, on the test's local AWS
    environment = _command_environment(
        TIMEREPORTS_API_KEY=API_KEY,
        INTERVALS_API_TOKEN=ADMIN_TOKEN,
        STATE_TABLE=aws.settings.state_table,
        REPORTS_BUCKET=aws.settings.reports_bucket,
        CATALOGUE_DIR=str(CATALOGUE),
    )
    command = [
        sys.executable,
        "-m",
        "timereports_dev.cli",
        "serve",
        "--local",
        "--api-url",
        simulator.url,
        "--port",
        "0",
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=environment)
    try:
        assert process.stderr is not None
        line = ""
        deadline = time.monotonic() + 60
        while "serving the Reports API on " not in line and time.monotonic() < deadline:
            line = process.stderr.readline()
            assert line or process.poll() is None, "serve exited before listening"
        url = line.split(" on ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        # When rows are asked for with and without the key
        denied = requests.post(f"{url}/api/v1/reports/rows", json={}, timeout=10)
        reply = requests.post(
            f"{url}/api/v1/reports/rows",
            json={"today": "2026-11-18"},
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=30,
        )
        # Then the keyless request is refused, and the rows equal the independent sums by project
        assert denied.status_code == 401
        assert reply.status_code == 200
        expected = hours_by(entries_between(dataset, *WEEK), lambda entry: (entry["projectid"],))
        assert {(row["project_id"],): as_decimal(row["incurred_hours"]) for row in reply.json()["rows"]} == {
            key: sums["incurred_hours"] for key, sums in expected.items()
        }
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_repeated_query_spends_at_most_two_quota_requests(deployed: Any, simulator: Any) -> None:
    # Given one answered rows query (its reference data is now cached in the warm container)
    event = load_event("reports_api_rows.json")
    assert invoke(event)[0] == 200
    counted_before = sum(record.counted for record in simulator.request_log)
    # When the same query is asked again
    assert invoke(event)[0] == 200
    # Then it spent at most two quota-counted requests (GET /quota/ is free)
    spent = sum(record.counted for record in simulator.request_log) - counted_before
    assert spent <= 2, [(record.path, record.params) for record in simulator.request_log[-5:]]


def small_pages(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    """Redeploy with pages of `size` entries, so that a month of the simulator's data takes many pages."""
    monkeypatch.setenv("INTERVALS_PAGE_SIZE", str(size))
    redeploy()


def test_a_query_of_many_pages_is_answered_within_the_apis_time_limit(
    deployed: Any, dataset: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given pages of 20 entries, so that a month no mirror holds yet takes several pages
    small_pages(monkeypatch, 20)
    query = {"time_frame": {"from": "2026-10-01", "to": "2026-10-31"}, "group_by": ["project_id", "user_id"]}
    start, end = date(2026, 10, 1), date(2026, 10, 31)
    assert len(entries_between(dataset, start, end)) > 3 * 20
    # When it is asked with the 29 seconds the function has
    status, _, answer = invoke(with_body(load_event("reports_api_rows.json"), json.dumps(query)))
    # Then it is answered, and its rows are the simulator's
    assert status == 200, answer
    expected = expected_rows(dataset, start, end)
    assert len(answer["rows"]) == len(expected)


def test_a_filtered_query_over_a_period_the_mirror_cannot_fill_in_time_is_pulled_directly(
    deployed: Any, dataset: Any, simulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given pages of 4 entries at 20 requests a minute: October, which no mirror holds yet, is far too many pages
    # for the API's 29 seconds, one person's October a few
    monkeypatch.setenv("INTERVALS_REQUESTS_PER_MINUTE", "20")
    small_pages(monkeypatch, 4)
    october = (date(2026, 10, 1), date(2026, 10, 31))
    by_person = Counter(entry["personid"] for entry in entries_between(dataset, *october))
    person = min(by_person, key=by_person.__getitem__)  # the one with the fewest entries: a few pages
    mine = [entry for entry in entries_between(dataset, *october) if entry["personid"] == person]
    assert len(mine) <= 16
    query = {
        "time_frame": {"from": "2026-10-01", "to": "2026-10-31"},
        "group_by": ["user_id"],
        "filters": {"user_id": {"operation": "inclusion", "values": [person]}},
    }
    # When one person's October is asked for
    status, _, answer = invoke(with_body(load_event("reports_api_rows.json"), json.dumps(query)))
    # Then it is answered from a direct pull of that person's entries (their filter pushed down), not refused
    assert status == 200, answer
    (row,) = answer["rows"]
    assert as_decimal(row["incurred_hours"]) == sum((Decimal(str(entry["time"])) for entry in mine), Decimal(0))
    direct = [record for record in simulator.request_log if record.params.get("personid") == str(person)]
    assert direct


def test_a_query_the_minutes_earlier_requests_hold_back_is_a_429_not_a_422(
    deployed: Any, simulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 10 requests a minute and pages of 8: the first ten days of October take a first page and a few more
    monkeypatch.setenv("INTERVALS_REQUESTS_PER_MINUTE", "10")
    small_pages(monkeypatch, 8)
    # And an answer of this week just before, which spent 3 of the minute's requests
    week = load_event("reports_api_rows.json")
    assert invoke(week)[0] == 200
    query = {"time_frame": {"from": "2026-10-01", "to": "2026-10-10"}, "group_by": ["project_id"]}
    # When it is asked / Then it is refused as worth trying again in a minute (alone it fits in the 29 s),
    # not as too large for the API (which retrying cannot mend)
    status, headers, answer = invoke(with_body(week, json.dumps(query)))
    assert status == 429, answer
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert answer["message"].startswith("too many requests to Intervals in the last minute to answer in time")
    # And nothing of October was pulled beyond the first page, which told it how many there are
    october = [record for record in simulator.request_log if record.params.get("datebegin") == "2026-10-01"]
    assert [record.params.get("offset") for record in october] == ["0"]


def test_a_query_needing_more_requests_than_its_time_allows_is_a_422_before_spending_them(
    deployed: Any, simulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given pages of 2 entries: a year takes about a thousand requests, at 90 a minute some ten minutes
    small_pages(monkeypatch, 2)
    query = {"time_frame": {"from": "2026-01-01", "to": "2026-12-31"}, "group_by": ["project_id"]}
    counted_before = sum(record.counted for record in simulator.request_log)
    # When it is asked with the 29 seconds the function has
    status, _, answer = invoke(with_body(load_event("reports_api_rows.json"), json.dumps(query)))
    # Then it is refused as too long (not "try again later"), saying how many requests and what to change
    assert status == 422, answer
    assert answer["message"].startswith("this query needs ")
    assert "more requests to Intervals" in answer["message"]
    assert "narrow its time frame" in answer["message"]
    # And names none of the deployment's settings, which are not the caller's to change
    assert "INTERVALS_" not in answer["message"]
    assert "PageSize" not in answer["message"]
    # And only the first page, which told it so, was spent, not the rest of the year's
    spent = sum(record.counted for record in simulator.request_log) - counted_before
    assert spent == 1, [(record.path, record.params) for record in simulator.request_log[-5:]]


@pytest.mark.parametrize(
    "body",
    ["[" * 5000, '{"a":' * 5000 + "1" + "}" * 5000],
    ids=["unclosed", "deep"],
)
def test_a_body_nested_too_deeply_is_a_400(deployed: Any, body: str) -> None:
    status, _, answer = invoke(with_body(load_event("reports_api_rows.json"), body))
    assert status == 400, answer
    assert answer["message"].startswith("body:")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"today": "9999-12-31", "time_frame": "next_90"}, "today"),
        ({"today": "0001-01-01", "time_frame": "last_year"}, "today"),
        ({"time_frame": {"from": "0001-01-01", "to": "9999-12-31"}}, "time_frame.from"),
        ({"filters": {"date": {"operation": "inclusion", "values": ["1999-12-31"]}}}, "filters.date"),
    ],
)
def test_a_date_outside_the_supported_ones_is_a_400_naming_it(deployed: Any, query: dict[str, Any], field: str) -> None:
    status, _, answer = invoke(with_body(load_event("reports_api_rows.json"), json.dumps(query)))
    assert status == 400, answer
    assert answer["message"].startswith(field), answer["message"]
    assert "supported dates, 2000-01-01 to 2099-12-31" in answer["message"]


def test_a_filter_naming_no_record_of_the_account_is_a_400_with_the_closest_names(
    deployed: Any, simulator: Any
) -> None:
    # Given a query whose client filter has a typo
    query = {"filters": {"client": {"operation": "exclusion", "values": ["mango inc"]}}}
    # When it is asked / Then it is refused naming the value and the account's closest client, and no time was pulled
    status, _, answer = invoke(with_body(load_event("reports_api_rows.json"), json.dumps(query)))
    assert status == 400, answer
    assert answer["message"] == (
        "filters.client.values[0]: 'mango inc' names no client of the account; closest: Mango Inc."
    )
    assert [record.path for record in simulator.request_log if record.path.startswith("/time/")] == []


def test_a_name_given_since_the_reference_data_was_cached_is_looked_up_once_more(deployed: Any, simulator: Any) -> None:
    # Given a warm container whose cached reference data knows the project as "Website Relaunch"
    status, before = project_rows("Website Relaunch")
    assert status == 200
    assert before["rows"]
    # When the project is renamed in Intervals and asked for by its new name
    simulator.rename("project", 30001, "Website Relaunch 2027")
    status, answer = project_rows("Website Relaunch 2027")
    # Then the names are fetched again rather than the new one refused, and the project's time is all there
    assert status == 200, answer
    # (the old name is three projects'; the new one is 30001's alone)
    renamed = [row for row in before["rows"] if row["project_id"] == 30001]
    assert [(row["project_id"], row["incurred_hours"]) for row in answer["rows"]] == [
        (30001, row["incurred_hours"]) for row in renamed
    ]


def project_rows(project: str) -> tuple[int, Any]:
    """Last month's rows of one project, named by its name (status, answer)."""
    included = {"operation": "inclusion", "values": [project]}
    query = {"time_frame": "last_month", "today": "2026-11-18", "filters": {"project_id": included}}
    status, _, answer = invoke(with_body(load_event("reports_api_rows.json"), json.dumps(query)))
    return status, answer


def test_a_look_up_that_failed_is_tried_again_not_remembered(deployed: Any, simulator: Any) -> None:
    # Given a warm container whose cached names know the project as "Website Relaunch", then a rename
    assert project_rows("Website Relaunch")[0] == 200
    simulator.rename("project", 30001, "Website Relaunch 2027")
    # When the new name's look-up finds Intervals failing (the answer is a 503) ...
    simulator.inject(Fault("status", path="/project/", times=1000, status=503, api_code=None))
    assert project_rows("Website Relaunch 2027")[0] == 503
    # ... and the same name is asked for again once Intervals answers
    simulator.clear_faults()
    status, answer = project_rows("Website Relaunch 2027")
    # Then it is looked up again and found, not refused from the names that failed to be fetched
    assert status == 200, answer


def test_a_misspelt_name_sent_again_is_refused_from_the_cache_without_requests(deployed: Any, simulator: Any) -> None:
    # Given a client sending a misspelt client name (one the account has no record of)
    query = {"today": "2026-11-18", "filters": {"client": {"operation": "inclusion", "values": ["Mango Incc."]}}}
    event = with_body(load_event("reports_api_rows.json"), json.dumps(query))
    first_before = simulator.requests_counted
    status, _, answer = invoke(event)
    assert status == 400, answer
    assert "'Mango Incc.' names no client of the account" in answer["message"]
    assert simulator.requests_counted > first_before  # the names were looked up once more, uncached
    # When it sends the same request again and again
    before = simulator.requests_counted
    replies = [invoke(event) for _ in range(3)]
    # Then each is refused the same way, and no request to Intervals is counted for them
    assert [(status, answer) for status, _, answer in replies] == [(400, answer)] * 3
    assert simulator.requests_counted == before


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('{"view": "time_fees_hours", "view": "budgets_hours"}', "view"),
        (
            '{"filters": {"client": {"operation": "inclusion", "values": ["Mango Inc."]},'
            ' "client": {"operation": "exclusion", "values": ["Mango Inc."]}}}',
            "client",
        ),
    ],
    ids=["view", "filter"],
)
def test_a_body_with_a_key_given_twice_is_a_400_naming_it(deployed: Any, simulator: Any, body: str, key: str) -> None:
    # Given a rows request whose body has a key twice
    event = with_body(load_event("reports_api_rows.json"), body)
    # When the handler answers it
    status, _, answer = invoke(event)
    # Then it is refused with one message naming the key, before any Intervals request
    assert status == 400, answer
    assert answer == {"message": f"body: {key} appears twice in one object; send each parameter once"}
    assert simulator.request_log == []
