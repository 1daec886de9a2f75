"""The Intervals simulator over real HTTP: the behaviours the client and the reports rely on.

Each test gets a fresh simulator (tests/fixtures/simulator.py) over the shared 2000-entry data set;
expectations are computed independently from `dataset.time`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from http import HTTPStatus
from typing import Any

import pytest
import requests
from timereports_dev.dataset import (
    ADMIN_TOKEN,
    EXECUTIVE_TOKEN,
    INACTIVE_TOKEN,
    MANAGER_TOKEN,
    RESOURCE_TOKEN,
    Dataset,
    build_dataset,
)
from timereports_dev.simulator import Fault, IntervalsSimulator

from tests.support.clock import FakeClock
from timereports.models.intervals import TimeEntry


def session(token: str = ADMIN_TOKEN, password: str = "X") -> requests.Session:  # noqa: S107 - fake token
    client = requests.Session()
    client.auth = (token, password)
    client.headers["Accept"] = "application/json"
    return client


@pytest.fixture
def api(simulator_url: str) -> Iterator[tuple[requests.Session, str]]:
    client = session()
    yield client, simulator_url
    client.close()


@pytest.fixture
def started() -> Iterator[list[IntervalsSimulator]]:
    """Simulators a test builds with its own options; stopped afterwards."""
    simulators: list[IntervalsSimulator] = []
    yield simulators
    for simulator in simulators:
        simulator.stop()


def start(started: list[IntervalsSimulator], simulator: IntervalsSimulator) -> str:
    started.append(simulator)
    return simulator.start()


def error_code(response: requests.Response) -> int:
    return int(response.json()["error"]["code"])


def all_time(client: requests.Session, url: str, **params: str) -> list[dict[str, Any]]:
    """Every row of /time/ for the filters, paged by 500."""
    rows: list[dict[str, Any]] = []
    offset = 0
    while True:
        body = client.get(f"{url}/time/", params={**params, "limit": "500", "offset": str(offset)}).json()
        rows.extend(body["time"])
        offset += 500
        if offset >= int(body["listcount"]):
            return rows


def ids_of(rows: list[dict[str, Any]]) -> list[int]:
    return [int(row["id"]) for row in rows]


# -- authentication ------------------------------------------------------------------------------


def test_token_is_the_user_name_and_the_password_is_ignored(simulator_url: str) -> None:
    # Given the admin token with different passwords
    for password in ("X", "x", ""):
        # When /me/ is requested
        response = session(ADMIN_TOKEN, password).get(f"{simulator_url}/me/")
        # Then the admin answers
        assert response.status_code == 200
        assert response.json()["me"][0]["group"] == "Administrator"


@pytest.mark.parametrize(
    ("auth", "status", "code"),
    [(None, 401, 9), (("NotAT0ken99", "X"), 401, 9), ((INACTIVE_TOKEN, "X"), 401, 8)],
)
def test_missing_unknown_and_inactive_tokens_are_refused(
    simulator: IntervalsSimulator, auth: tuple[str, str] | None, status: int, code: int
) -> None:
    # When /time/ is requested without a valid active user
    response = requests.get(f"{simulator.url}/time/", auth=auth, timeout=5)
    # Then 401 with the API code, and nothing is counted
    assert (response.status_code, error_code(response)) == (status, code)
    assert simulator.requests_counted == 0


# -- envelope, paging, encodings -----------------------------------------------------------------


def test_collection_envelope_and_default_page_of_ten(api: tuple[requests.Session, str], dataset: Dataset) -> None:
    client, url = api
    # When /time/ is requested without limit (and without the trailing slash)
    response = client.get(f"{url}/time")
    body = response.json()
    # Then the envelope carries the caller, OK, the full listcount and the first 10 rows by id
    assert response.status_code == 200
    assert response.raw.version == 11  # HTTP/1.1 keep-alive
    assert body["personid"] == str(dataset.tokens[ADMIN_TOKEN])
    assert (body["status"], body["code"], body["listcount"]) == ("OK", "200", str(len(dataset.time)))
    assert ids_of(body["time"]) == sorted(e["id"] for e in dataset.time)[:10]


def test_paging_by_offset_returns_every_entry_once(api: tuple[requests.Session, str], dataset: Dataset) -> None:
    client, url = api
    # When all of /time/ is paged with limit 500
    rows = all_time(client, url)
    # Then every entry arrives exactly once, in id order
    assert ids_of(rows) == sorted(e["id"] for e in dataset.time)


def test_offset_past_the_end_is_empty_with_the_same_listcount(api: tuple[requests.Session, str]) -> None:
    client, url = api
    body = client.get(f"{url}/time/", params={"offset": "5000", "limit": "10"}).json()
    assert body["time"] == []
    assert body["listcount"] == "2000"


def test_limit_has_no_cap(api: tuple[requests.Session, str]) -> None:
    client, url = api
    body = client.get(f"{url}/time/", params={"limit": "5000"}).json()
    assert len(body["time"]) == 2000


def test_max_page_size_makes_bigger_pages_fail(started: list[IntervalsSimulator], dataset: Dataset) -> None:
    url = start(started, IntervalsSimulator(dataset, max_page_size=500))
    client = session()
    assert client.get(f"{url}/time/", params={"limit": "500"}).status_code == 200
    response = client.get(f"{url}/time/", params={"limit": "501"})
    assert (response.status_code, error_code(response)) == (500, 1)


def test_empty_result_has_listcount_zero(api: tuple[requests.Session, str]) -> None:
    client, url = api
    body = client.get(f"{url}/time/", params={"date": "2026-01-03"}).json()  # a Saturday
    assert (body["listcount"], body["time"]) == ("0", [])


def test_values_are_encoded_like_the_real_api(api: tuple[requests.Session, str], dataset: Dataset) -> None:
    client, url = api
    # Given an entry of a client whose name needs escaping
    entry = next(e for e in dataset.time if "&" in e["client"] and e["taskid"] is None)
    # When it is fetched as a member
    body = client.get(f"{url}/time/{entry['id']}/").json()
    row = body["time"]
    # Then ids and numbers are strings, booleans t/f, names escaped, no-task fields null, dates ISO
    assert row["id"] == str(entry["id"])
    assert row["time"] == format(entry["time"], "f")
    assert row["hourlyrate"] == format(entry["hourlyrate"], "f")
    assert row["billable"] in {"t", "f"}
    assert "&amp;" in row["client"]
    assert row["taskid"] is None
    assert row["date"] == row["dateiso"] == entry["date"].isoformat()
    assert datetime.strptime(row["datemodified"], "%Y-%m-%d %H:%M:%S") == entry["datemodified"]
    assert "milestoneid" not in row
    assert "approved" not in row
    # And the project's model reads it back to the same values
    parsed = TimeEntry.model_validate(row)
    assert (parsed.time, parsed.client, parsed.hourlyrate) == (entry["time"], entry["client"], entry["hourlyrate"])


def test_time_rows_carry_the_reference_field_list(api: tuple[requests.Session, str]) -> None:
    client, url = api
    row = client.get(f"{url}/time/", params={"limit": "1"}).json()["time"][0]
    assert set(row) == {
        "id", "projectid", "moduleid", "taskid", "worktypeid", "personid", "date", "time", "description",
        "billable", "datemodified", "dateiso", "module", "project", "worktype", "tasklocalid", "task", "firstname",
        "lastname", "active", "person", "clientid", "client", "clientactive", "statusid", "hourlyrate",
    }  # fmt: skip


def test_numbers_as_json_numbers_when_asked(started: list[IntervalsSimulator], dataset: Dataset) -> None:
    url = start(started, IntervalsSimulator(dataset, numbers_as_strings=False))
    body = session().get(f"{url}/time/", params={"limit": "3"}).json()
    row = body["time"][0]
    assert isinstance(body["listcount"], int)
    assert isinstance(body["personid"], int)
    assert isinstance(row["id"], int)
    assert isinstance(row["time"], float)
    assert row["billable"] in {"t", "f"}
    assert TimeEntry.model_validate(row).time == dataset.time[0]["time"]


# -- /time/ filters ------------------------------------------------------------------------------


def expected_ids(dataset: Dataset, keep: Any) -> list[int]:
    return sorted(e["id"] for e in dataset.time if keep(e))


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"personid": "10002,10007"}, lambda e: e["personid"] in {10002, 10007}),
        ({"projectid": "30001"}, lambda e: e["projectid"] == 30001),
        ({"clientid": "20002,20005"}, lambda e: e["clientid"] in {20002, 20005}),
        ({"clientid": "-1"}, lambda e: e["clientid"] is None),
        ({"milestoneid": "-1"}, lambda e: e["milestoneid"] is None),
        ({"milestoneid": "90001"}, lambda e: e["milestoneid"] == 90001),
        ({"worktypeid": "40001"}, lambda e: e["worktypeid"] == 40001),
        ({"moduleid": "50002,50003"}, lambda e: e["moduleid"] in {50002, 50003}),
        ({"taskid": "80001,80004"}, lambda e: e["taskid"] in {80001, 80004}),
        ({"date": "2026-03-02"}, lambda e: e["date"] == date(2026, 3, 2)),
        (
            {"datebegin": "2026-03-02", "dateend": "2026-03-06"},
            lambda e: date(2026, 3, 2) <= e["date"] <= date(2026, 3, 6),
        ),
        (
            {"datemodifiedbegin": "2026-02-01 00:00:00", "datemodifiedend": "2026-02-10"},
            lambda e: datetime(2026, 2, 1) <= e["datemodified"] <= datetime(2026, 2, 10, 23, 59, 59),
        ),
        ({"billable": "f"}, lambda e: not e["billable"]),
        ({"approved": "t"}, lambda e: e["approved"]),
        ({"approved": "f", "billable": "t"}, lambda e: not e["approved"] and e["billable"]),
    ],
)
def test_time_filters(api: tuple[requests.Session, str], dataset: Dataset, params: dict[str, str], keep: Any) -> None:
    client, url = api
    wanted = expected_ids(dataset, keep)
    assert wanted, "the data set should exercise this filter"
    assert ids_of(all_time(client, url, **params)) == wanted


def test_activeonly_keeps_active_projects_and_people(api: tuple[requests.Session, str], dataset: Dataset) -> None:
    client, url = api
    active_projects = {p["id"] for p in dataset.projects if p["active"]}
    wanted = expected_ids(dataset, lambda e: e["active"] and e["projectid"] in active_projects)
    assert len(wanted) < len(dataset.time)
    assert ids_of(all_time(client, url, activeonly="t")) == wanted


def test_sort_by_date_descending(api: tuple[requests.Session, str], dataset: Dataset) -> None:
    client, url = api
    rows = all_time(client, url, sortfield="t.date", sortdir="DESC")
    wanted = [e["id"] for e in sorted(dataset.time, key=lambda e: (e["date"], e["id"]), reverse=True)]
    assert ids_of(rows) == wanted
    by_modified = ids_of(all_time(client, url, sortfield="datemodified"))
    assert by_modified == [e["id"] for e in sorted(dataset.time, key=lambda e: (e["datemodified"], e["id"]))]


# -- error replies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "params", "status", "code"),
    [
        ("GET", "/time/", {"statusid": "1"}, 400, 17),
        ("GET", "/time/", {"personid": "ten"}, 400, 18),
        ("GET", "/time/", {"datebegin": "2026-13-01"}, 400, 18),
        ("GET", "/time/", {"billable": "maybe"}, 400, 18),
        ("GET", "/time/", {"sortfield": "person"}, 400, 18),
        ("GET", "/time/", {"limit": "-1"}, 400, 18),
        ("GET", "/miletsone/", {}, 400, 13),
        ("GET", "/time/999/", {}, 404, 14),
        ("GET", "/project/1/", {}, 404, 14),
        ("DELETE", "/time/", {}, 400, 16),
        ("DELETE", "/client/20001/", {}, 400, 16),
        ("POST", "/project/", {}, 400, 16),
    ],
)
def test_error_replies(
    api: tuple[requests.Session, str], method: str, path: str, params: dict[str, str], status: int, code: int
) -> None:
    client, url = api
    response = client.request(method, f"{url}{path}", params=params)
    body = response.json()
    assert (response.status_code, int(body["error"]["code"])) == (status, code)
    assert body["status"] == HTTPStatus(status).phrase
    assert int(body["code"]) == status
    assert body["personid"] == str(10001)
    assert body["error"]["message"]
    assert isinstance(body["error"]["verbose"], list)


# -- roles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", ["person", "timer", "worktype", "module", "milestone"])
def test_executive_is_refused_some_resources(simulator_url: str, resource: str) -> None:
    response = session(EXECUTIVE_TOKEN).get(f"{simulator_url}/{resource}/")
    assert (response.status_code, error_code(response)) == (403, 10)


@pytest.mark.parametrize("token", [MANAGER_TOKEN, RESOURCE_TOKEN])
def test_only_administrators_read_default_worktypes_and_modules(simulator_url: str, token: str) -> None:
    for resource in ("worktype", "module"):
        response = session(token).get(f"{simulator_url}/{resource}/")
        assert (response.status_code, error_code(response)) == (403, 10)
    assert session(ADMIN_TOKEN).get(f"{simulator_url}/worktype/").status_code == 200


def test_executive_does_not_see_who_did_the_work(simulator_url: str, dataset: Dataset) -> None:
    rows = all_time(session(EXECUTIVE_TOKEN), simulator_url)
    assert rows
    assert not {"personid", "person", "firstname", "lastname", "description"} & set(rows[0])
    assert "hourlyrate" in rows[0]


def test_resource_sees_no_rates_and_only_its_projects(simulator_url: str, dataset: Dataset) -> None:
    person_id = dataset.tokens[RESOURCE_TOKEN]
    own_projects = {p for p, team in dataset.project_members.items() if person_id in team}
    rows = all_time(session(RESOURCE_TOKEN), simulator_url)
    assert ids_of(rows) == expected_ids(dataset, lambda e: e["projectid"] in own_projects)
    assert len(rows) < len(dataset.time)
    assert "hourlyrate" not in rows[0]
    projects = session(RESOURCE_TOKEN).get(f"{simulator_url}/project/", params={"limit": "100"}).json()["project"]
    assert {int(p["id"]) for p in projects} == own_projects


def test_manager_sees_only_its_projects_time(simulator_url: str, dataset: Dataset) -> None:
    person_id = dataset.tokens[MANAGER_TOKEN]
    own_projects = {p for p, team in dataset.project_members.items() if person_id in team}
    rows = all_time(session(MANAGER_TOKEN), simulator_url, billable="t")
    assert ids_of(rows) == expected_ids(dataset, lambda e: e["projectid"] in own_projects and e["billable"])
    assert "hourlyrate" in rows[0]


# -- reference collections and /me/ --------------------------------------------------------------


def test_me_is_a_one_element_array_of_the_caller(simulator_url: str, dataset: Dataset) -> None:
    body = session(MANAGER_TOKEN).get(f"{simulator_url}/me/").json()
    assert body["listcount"] == "1"
    (me,) = body["me"]
    assert me["id"] == body["personid"] == str(dataset.tokens[MANAGER_TOKEN])
    assert (me["group"], me["groupid"]) == ("Manager", "2")
    assert me["timezone"]


@pytest.mark.parametrize(
    ("resource", "records"),
    [
        ("client", "clients"),
        ("project", "projects"),
        ("person", "people"),
        ("worktype", "worktypes"),
        ("module", "modules"),
        ("projectworktype", "project_worktypes"),
        ("projectmodule", "project_modules"),
        ("task", "tasks"),
        ("milestone", "milestones"),
    ],
)
def test_reference_collections_page_completely(
    api: tuple[requests.Session, str], dataset: Dataset, resource: str, records: str
) -> None:
    client, url = api
    first = client.get(f"{url}/{resource}/").json()
    assert first["listcount"] == str(len(getattr(dataset, records)))
    assert len(first[resource]) == min(10, len(getattr(dataset, records)))
    everything = client.get(f"{url}/{resource}/", params={"limit": "1000"}).json()[resource]
    assert sorted(int(r["id"]) for r in everything) == sorted(r["id"] for r in getattr(dataset, records))


def test_projects_default_to_name_order_and_filter_by_client(
    api: tuple[requests.Session, str], dataset: Dataset
) -> None:
    client, url = api
    names = [p["name"] for p in client.get(f"{url}/project/", params={"limit": "100"}).json()["project"]]
    assert names == sorted(names, key=str.casefold)
    no_client = client.get(f"{url}/project/", params={"clientid": "-1", "limit": "100"}).json()["project"]
    assert {int(p["id"]) for p in no_client} == {p["id"] for p in dataset.projects if p["clientid"] is None}
    worktypes = client.get(f"{url}/projectworktype/", params={"projectid": "30001"}).json()["projectworktype"]
    assert {r["projectid"] for r in worktypes} == {"30001"}
    assert client.get(f"{url}/project/", params={"nosuch": "1"}).status_code == 400


# -- limits --------------------------------------------------------------------------------------


def test_per_minute_limit_is_a_sliding_window(started: list[IntervalsSimulator], dataset: Dataset) -> None:
    # Given a limit of 5 a minute and a clock we move
    clock = FakeClock(datetime(2026, 5, 8, 12, 0, 0))
    simulator = IntervalsSimulator(dataset, per_minute_limit=5, clock=clock.epoch)
    url = start(started, simulator)
    client = session()
    # When 5 requests are made within the minute, then a sixth
    for _ in range(5):
        assert client.get(f"{url}/me/").status_code == 200
        clock.advance(10)
    too_fast = client.get(f"{url}/me/")
    # Then the sixth is refused with HTTP 400 code 12, and not counted against the day
    assert (too_fast.status_code, error_code(too_fast)) == (400, 12)
    assert "Retry-After" not in too_fast.headers
    assert simulator.requests_counted == 5
    # And once the first request is 60 s old, one more request fits
    clock.advance(10)
    assert client.get(f"{url}/me/").status_code == 200
    assert client.get(f"{url}/me/").status_code == 400


def test_rate_limit_reply_can_be_reshaped(started: list[IntervalsSimulator], dataset: Dataset) -> None:
    # Given a simulator told to answer "too fast" like a 429 with Retry-After, in case the real API does
    simulator = IntervalsSimulator(dataset, per_minute_limit=1)
    simulator.rate_limit_status[12] = 429
    simulator.rate_limit_headers["Retry-After"] = "7"
    url = start(started, simulator)
    client = session()
    client.get(f"{url}/me/")
    # When the limit is passed
    response = client.get(f"{url}/me/")
    # Then the reply uses that status and header, still with code 12
    assert (response.status_code, error_code(response), response.headers["Retry-After"]) == (429, 12, "7")


def test_daily_quota_and_quota_resource(started: list[IntervalsSimulator], dataset: Dataset) -> None:
    # Given a daily quota of 5 of which others have used 2
    clock = FakeClock(datetime(2026, 5, 8, 23, 0, 0))
    simulator = IntervalsSimulator(dataset, daily_quota=5, clock=clock.epoch)
    url = start(started, simulator)
    simulator.quota_used = 2
    client = session()
    # When 3 requests are made, /quota/ is read, and a fourth request is made
    for _ in range(3):
        assert client.get(f"{url}/time/").status_code == 200
    quota = client.get(f"{url}/quota/").json()["quota"]
    refused = client.get(f"{url}/time/")
    # Then /quota/ was not counted and reports the day spent; the fourth is HTTP 400 code 11
    assert quota == {"quota": "5", "used": "5", "next_reset": "2026-05-09 00:00:00", "exceeded": "t"}
    assert (refused.status_code, error_code(refused)) == (400, 11)
    assert simulator.requests_counted == 3
    assert [r.counted for r in simulator.request_log] == [True, True, True, False, False]
    # And after midnight GMT the allowance is back
    clock.advance(3600)
    assert client.get(f"{url}/time/").status_code == 200
    assert client.get(f"{url}/quota/").json()["quota"]["used"] == "1"


def test_refused_requests_that_reach_the_account_are_counted(simulator: IntervalsSimulator) -> None:
    session().get(f"{simulator.url}/time/", params={"nosuch": "1"})
    assert simulator.requests_counted == 1
    assert simulator.request_log[-1].api_code == 17


# -- faults --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "code"), [(500, 1), (500, 19), (502, 20), (503, 4), (429, None)])
def test_status_faults(simulator: IntervalsSimulator, status: int, code: int | None) -> None:
    # Given a fault on the next two /time/ requests
    simulator.inject(Fault("status", status=status, api_code=code, times=2))
    client = session()
    # When /me/ and then /time/ three times are requested
    assert client.get(f"{simulator.url}/me/").status_code == 200
    replies = [client.get(f"{simulator.url}/time/") for _ in range(3)]
    # Then the fault hits /time/ twice, with or without an API code, then the API answers again
    assert [r.status_code for r in replies] == [status, status, 200]
    body = replies[0].json()
    assert (int(body["error"]["code"]) if "error" in body else None) == code
    assert [r.fault for r in simulator.request_log] == [None, "status", "status", None]


def test_reset_fault_closes_without_a_reply(simulator: IntervalsSimulator) -> None:
    simulator.inject(Fault("reset"))
    client = session()
    with pytest.raises(requests.ConnectionError):
        client.get(f"{simulator.url}/time/")
    assert client.get(f"{simulator.url}/time/").status_code == 200
    assert simulator.request_log[0].status == 0


def test_truncated_body_is_detected(simulator: IntervalsSimulator) -> None:
    simulator.inject(Fault("truncate"))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        session().get(f"{simulator.url}/time/", params={"limit": "100"})


def test_cut_json_is_framed_but_unparseable(simulator: IntervalsSimulator) -> None:
    simulator.inject(Fault("truncate", truncate_mode="cut_json"))
    response = session().get(f"{simulator.url}/time/", params={"limit": "100"})
    assert response.status_code == 200
    with pytest.raises(requests.exceptions.JSONDecodeError):
        response.json()


def test_non_json_fault_is_an_html_502(simulator: IntervalsSimulator) -> None:
    simulator.inject(Fault("non_json", path="/"))
    response = session().get(f"{simulator.url}/project/")
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")


def test_latency_fault_delays_a_normal_reply(simulator: IntervalsSimulator) -> None:
    simulator.inject(Fault("latency", delay=0.3))
    began = time.monotonic()
    response = session().get(f"{simulator.url}/time/")
    assert response.status_code == 200
    assert time.monotonic() - began >= 0.3
    simulator.inject(Fault("latency", delay=0.5))
    with pytest.raises(requests.Timeout):
        session().get(f"{simulator.url}/time/", timeout=0.1)


# -- writes and edits while paging ---------------------------------------------------------------


def test_create_update_delete_time(api: tuple[requests.Session, str], simulator: IntervalsSimulator) -> None:
    client, url = api
    new = {
        "projectid": 30001,
        "moduleid": 50001,
        "worktypeid": 40001,
        "personid": 10001,
        "date": "2026-04-01",
        "time": 1.5,
        "billable": "t",
        "description": "Added <i>by</i> test",
    }
    created = client.post(f"{url}/time/", json=new)
    assert created.status_code == 201
    entry_id = int(created.json()["time"]["id"])
    assert entry_id == max(e["id"] for e in simulator.dataset.time) + 1
    assert created.json()["time"]["time"] == "1.5"
    updated = client.put(f"{url}/time/{entry_id}/", json={"time": "2.25", "billable": "f"})
    assert updated.status_code == 202
    assert (updated.json()["time"]["time"], updated.json()["time"]["billable"]) == ("2.25", "f")
    assert client.get(f"{url}/time/", params={"date": "2026-04-01", "limit": "1000"}).json()["time"][-1]["id"] == str(
        entry_id
    )
    assert client.delete(f"{url}/time/{entry_id}/").status_code == 200
    assert client.get(f"{url}/time/{entry_id}/").status_code == 404
    # And ids only grow, as a database's would
    assert simulator.add_time_entry(date=date(2026, 4, 2), time=Decimal("1")) == entry_id + 1


def test_time_writes_are_validated(api: tuple[requests.Session, str]) -> None:
    client, url = api
    base = {"projectid": 30001, "moduleid": 50001, "worktypeid": 40001, "personid": 10001, "date": "2026-04-01"}
    too_precise = client.post(f"{url}/time/", json={**base, "time": 0.3333333, "billable": "t"})
    assert (too_precise.status_code, error_code(too_precise)) == (400, 18)
    assert too_precise.json()["error"]["message"] == "Time is too precise."
    missing = client.post(f"{url}/time/", json={**base, "time": 1})
    assert (missing.status_code, error_code(missing)) == (400, 18)
    unknown = client.post(f"{url}/time/", json={**base, "time": 1, "billable": "t", "worktypeid": 1})
    assert (unknown.status_code, error_code(unknown)) == (400, 18)
    executive = session(EXECUTIVE_TOKEN).post(f"{url}/time/", json={**base, "time": 1, "billable": "t"})
    assert (executive.status_code, error_code(executive)) == (403, 10)


def test_entries_added_while_a_client_pages_show_in_listcount(simulator: IntervalsSimulator) -> None:
    # Given a test hook that adds an entry before the second page and deletes one before the third
    pages: list[dict[str, str]] = []

    def edit(sim: IntervalsSimulator, params: dict[str, str]) -> None:
        pages.append(params)
        if len(pages) == 2:
            sim.add_time_entry(date=date(2026, 1, 1), time=Decimal("0.25"))
        if len(pages) == 3:
            sim.delete_time_entry(1_000_001)

    simulator.on_time_page(edit)
    client = session()
    # When three pages are read
    counts = [
        client.get(f"{simulator.url}/time/", params={"limit": "100", "offset": str(o)}).json()["listcount"]
        for o in (0, 100, 200)
    ]
    # Then listcount follows the edits, and the hook saw each page's parameters
    assert counts == ["2000", "2001", "2000"]
    assert pages[1] == {"limit": "100", "offset": "100"}


# -- performance and determinism -----------------------------------------------------------------


def test_dataset_is_deterministic_and_realistic() -> None:
    first, second = build_dataset(300, seed=3), build_dataset(300, seed=3)
    assert first == second
    assert build_dataset(300, seed=4).time != first.time
    assert 25 <= len(first.people) <= 35
    assert any(not p["active"] for p in first.people)
    assert any(c["name"][0] in "=-" for c in first.clients)
    assert any(p["clientid"] is None for p in first.projects)
    assert all(e["date"].weekday() < 5 and (e["time"] * 4) % 1 == 0 for e in first.time)
    assert sum(e["billable"] for e in first.time) > len(first.time) / 2
    assert any("<" in e["description"] for e in first.time)


def test_no_simulator_errors_in_a_busy_test(api: tuple[requests.Session, str], simulator: IntervalsSimulator) -> None:
    client, url = api
    for path in ("/time/", "/me/", "/quota/", "/client/", "/task/", "/milestone/", "/group/", "/timer/"):
        assert client.get(f"{url}{path}").status_code == 200, path
    assert simulator.internal_errors == []
