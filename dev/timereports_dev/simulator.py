"""A local Intervals REST API, so that the client, the demo and the tests never need the real one.

It speaks HTTP/1.1 on 127.0.0.1 with the real API's habits as far as they are known (see the digest of the API in
the project's shared notes, `intervals-api.md`): Basic auth with the token as user name, collection envelopes with
`listcount`, ids and numbers as strings, "t"/"f" booleans, HTML-escaped names, a default page of 10,
the /time/ filters, the error codes and their HTTP statuses, the user levels, the per-minute and daily
limits, and /quota/. Tests add faults (5xx, resets, truncated or non-JSON bodies, latency) and edit
time entries while a client pages. It uses the standard library's HTTP server, the client's table of the documented
error codes (`timereports.intervals.errors`, so the two cannot disagree) and the seeded data set (`dataset.py`).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import bisect
import contextlib
import copy
import dataclasses
import html
import json
import math
import socket
import struct
import threading
import time as time_module
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from timereports.intervals.errors import API_ERROR_MEANINGS
from timereports_dev.checks import listen_error
from timereports_dev.dataset import (
    ADMIN_TOKEN,
    ADMINISTRATOR,
    AGENCY_YEAR_ENTRIES,
    DEFAULT_SEED,
    EXECUTIVE,
    EXECUTIVE_TOKEN,
    GROUPS,
    INACTIVE_TOKEN,
    MANAGER,
    MANAGER_TOKEN,
    RESOURCE,
    RESOURCE_TOKEN,
    Dataset,
    TimeEntryBuilder,
    build_dataset,
)

# The documented meaning of each code (errors.php); one table serves the client and the simulator.
ERROR_MESSAGES = API_ERROR_MEANINGS
ERROR_STATUS: dict[int, int] = {
    1: 500, 2: 401, 3: 401, 4: 503, 5: 418, 6: 402, 7: 401, 8: 401, 9: 401, 10: 403,
    11: 400, 12: 400, 13: 400, 14: 404, 15: 400, 16: 400, 17: 400, 18: 400, 19: 500, 20: 502,
}  # fmt: skip

# How each field is encoded on the wire.
_ID, _NUMBER, _BOOL, _NAME, _TEXT, _DATE, _DATETIME = "id", "number", "bool", "name", "text", "date", "datetime"

TIME_FIELDS: dict[str, str] = {
    "id": _ID, "projectid": _ID, "moduleid": _ID, "taskid": _ID, "worktypeid": _ID, "personid": _ID,
    "date": _DATE, "time": _NUMBER, "description": _TEXT, "billable": _BOOL, "datemodified": _DATETIME,
    "dateiso": _DATE, "module": _NAME, "project": _NAME, "worktype": _NAME, "tasklocalid": _ID, "task": _NAME,
    "firstname": _NAME, "lastname": _NAME, "active": _BOOL, "person": _NAME, "clientid": _ID, "client": _NAME,
    "clientactive": _BOOL, "statusid": _ID, "hourlyrate": _NUMBER,
}  # fmt: skip
PERSON_FIELDS: dict[str, str] = {
    "id": _ID, "localid": _ID, "clientid": _ID, "title": _NAME, "firstname": _NAME, "lastname": _NAME,
    "primaryaccount": _TEXT, "notes": _TEXT, "allprojects": _BOOL, "private": _BOOL, "tips": _BOOL,
    "username": _NAME, "email": _TEXT, "groupid": _ID, "group": _NAME, "client": _NAME, "active": _BOOL,
    "numlogins": _ID, "lastlogin": _DATETIME, "timezone": _TEXT, "timezone_offset": _TEXT,
}  # fmt: skip
_FIELDS: dict[str, dict[str, str]] = {
    "time": TIME_FIELDS,
    "person": PERSON_FIELDS,
    "me": PERSON_FIELDS,
    "client": {
        "id": _ID, "localid": _ID, "name": _NAME, "description": _TEXT, "datecreated": _DATE, "website": _TEXT,
        "active": _BOOL,
    },
    "project": {
        "id": _ID, "localid": _ID, "name": _NAME, "description": _TEXT, "clientid": _ID, "client": _NAME,
        "datestart": _DATE, "dateend": _DATE, "billable": _BOOL, "active": _BOOL, "managerid": _ID,
    },
    "worktype": {"id": _ID, "name": _NAME, "defaulthourlyrate": _NUMBER, "active": _BOOL},
    "module": {"id": _ID, "name": _NAME, "description": _TEXT, "active": _BOOL},
    "projectworktype": {
        "id": _ID, "projectid": _ID, "worktypeid": _ID, "worktype": _NAME, "hourlyrate": _NUMBER,
        "esttime": _NUMBER, "active": _BOOL,
    },
    "projectmodule": {
        "id": _ID, "projectid": _ID, "moduleid": _ID, "module": _NAME, "description": _TEXT, "active": _BOOL,
    },
    "task": {
        "id": _ID, "localid": _ID, "title": _NAME, "projectid": _ID, "project": _NAME, "clientid": _ID,
        "client": _NAME, "moduleid": _ID, "module": _NAME, "milestoneid": _ID, "statusid": _ID, "status": _NAME,
        "assigneeid": _TEXT, "datemodified": _DATETIME,
    },
    "milestone": {
        "id": _ID, "localid": _ID, "title": _NAME, "projectid": _ID, "project": _NAME, "clientid": _ID,
        "client": _NAME, "due": _DATE, "complete": _BOOL,
    },
    "timer": {"id": _ID, "personid": _ID, "name": _NAME, "time": _NUMBER, "starttime": _DATETIME},
    "group": {"id": _ID, "name": _NAME},
}  # fmt: skip

_PAGING = {"offset", "limit"}
TIME_FILTERS = {
    "activeonly", "moduleid", "taskid", "worktypeid", "personid", "clientid", "projectid", "milestoneid", "date",
    "datebegin", "dateend", "datemodifiedbegin", "datemodifiedend", "billable", "approved", "sortfield", "sortdir",
} | _PAGING  # fmt: skip
# Filters each reference collection accepts (from the resource pages). The simulator applies those that
# name a field of the record (CSV of values); the others (search, name patterns, ...) are accepted and ignored.
_REFERENCE_FILTERS: dict[str, set[str]] = {
    "person": {
        "localid", "username", "email", "firstname", "lastname", "excludegroupids", "projectid", "clientid",
        "projectclientid", "search", "active", "groupid", "allprojects", "restricttasks",
    },
    "project": {
        "localid", "clientid", "managerid", "labelid", "name", "datestart", "datestartbegin", "datestartend",
        "dateend", "dateendbegin", "dateendend", "search", "active", "billable", "personid", "sortfield", "sortdir",
    },
    "client": {"localid", "active", "search", "projectsonly", "sortfield", "sortdir"},
    "worktype": {"active", "search"},
    "module": {"active", "search"},
    "projectworktype": {"projectid", "active", "personid"},
    "projectmodule": {"projectid", "active", "personid"},
    "task": {
        "localid", "projectid", "clientid", "moduleid", "milestoneid", "statusid", "assigneeid", "datemodifiedbegin",
        "datemodifiedend", "excludeclosed", "search", "sortfield", "sortdir", "title", "priorityid", "ownerid",
    },
    "milestone": {
        "localid", "search", "clientid", "projectid", "ownerid", "complete", "dateduebegin", "datedueend", "title",
        "sortfield", "sortdir",
    },
    "timer": {"personid"},
    "group": set(),
    "me": set(),
}  # fmt: skip
# Who may GET each collection (the resource pages' "Group Access"); the others get 403, code 10.
_ACCESS: dict[str, set[int]] = {
    "time": {ADMINISTRATOR, MANAGER, RESOURCE, EXECUTIVE},
    "me": {ADMINISTRATOR, MANAGER, RESOURCE, EXECUTIVE},
    "quota": {ADMINISTRATOR, MANAGER, RESOURCE, EXECUTIVE},
    "project": {ADMINISTRATOR, MANAGER, RESOURCE, EXECUTIVE},
    "client": {ADMINISTRATOR, MANAGER, RESOURCE, EXECUTIVE},
    "projectworktype": {ADMINISTRATOR, MANAGER, RESOURCE, EXECUTIVE},
    "projectmodule": {ADMINISTRATOR, MANAGER, RESOURCE, EXECUTIVE},
    "task": {ADMINISTRATOR, MANAGER, RESOURCE, EXECUTIVE},
    "group": {ADMINISTRATOR, MANAGER, RESOURCE, EXECUTIVE},
    "person": {ADMINISTRATOR, MANAGER, RESOURCE},
    "milestone": {ADMINISTRATOR, MANAGER, RESOURCE},
    "timer": {ADMINISTRATOR, MANAGER, RESOURCE},
    "worktype": {ADMINISTRATOR},
    "module": {ADMINISTRATOR},
}
# The API hides who did the work from Executives and money from Resources [inferred from the user levels].
DEFAULT_HIDDEN_FIELDS: dict[int, frozenset[str]] = {
    EXECUTIVE: frozenset({"personid", "description", "firstname", "lastname", "person"}),
    RESOURCE: frozenset({"hourlyrate"}),
}
_DEFAULT_ORDER: dict[str, Callable[[dict[str, Any]], Any]] = {
    "project": lambda r: (r["name"].casefold(), r["id"]),
    "client": lambda r: (r["name"].casefold(), r["id"]),
    "person": lambda r: (r["lastname"].casefold(), r["firstname"].casefold(), r["id"]),
}
_TRUE, _FALSE = {"t", "true", "1", "y", "yes"}, {"f", "false", "0", "n", "no"}
_SETTABLE_TIME_FIELDS = {
    "projectid", "moduleid", "taskid", "worktypeid", "personid", "date", "time", "description", "billable",
    "datemodified",
}  # fmt: skip
_TIME_SORT_FIELDS = {"id", "t.date", "datemodified"}
# The data set's reference lists, by the resource that serves each (copied before a test renames a record).
_RESOURCE_LISTS = {
    "person": "people", "client": "clients", "project": "projects", "worktype": "worktypes", "module": "modules",
    "projectworktype": "project_worktypes", "projectmodule": "project_modules", "task": "tasks",
    "milestone": "milestones",
}  # fmt: skip
_REFERENCE_LISTS = tuple(_RESOURCE_LISTS.values())
_RESET_HOUR = datetime.min.time()


class ApiError(Exception):
    """An API error reply: the HTTP status follows from the API code, as on the errors page."""

    def __init__(self, code: int, message: str | None = None, verbose: list[str] | None = None) -> None:
        super().__init__(message or ERROR_MESSAGES[code])
        self.code = code
        self.status = ERROR_STATUS[code]
        self.message = message or ERROR_MESSAGES[code]
        self.verbose = verbose or []
        self.counted = False


@dataclass
class Fault:
    """A failure to serve instead of (or around) the normal reply, for the next `times` matching requests.

    kind: "status" (reply `status` with an error body carrying `api_code`, or none when None),
    "reset" (close the connection without a reply), "truncate" (a Content-Length larger than the body
    sent, or with `truncate_mode="cut_json"` a well-framed body cut in the middle of the JSON),
    "latency" (wait `delay` seconds, then reply normally), "non_json" (a 502 HTML error page).
    `delay` also applies before the other kinds.
    """

    kind: Literal["status", "reset", "truncate", "latency", "non_json"]
    path: str = "/time/"
    times: int = 1
    status: int = 503
    api_code: int | None = 20
    delay: float = 0.0
    truncate_mode: Literal["short_body", "cut_json"] = "short_body"


@dataclass(frozen=True)
class RequestRecord:
    """One request as the simulator saw it; `status` 0 means no reply was sent (a reset)."""

    method: str
    path: str
    params: dict[str, str]
    status: int
    api_code: int | None
    counted: bool
    fault: str | None = None


@dataclass
class _Caller:
    person: dict[str, Any]
    projects: frozenset[int] | None  # None = every project (Administrator)

    @property
    def id(self) -> int:
        return int(self.person["id"])

    @property
    def group(self) -> int:
        return int(self.person["groupid"])


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    api_code: int | None = None
    counted: bool = False
    fault: str | None = None
    truncate_mode: str = "short_body"
    extra_headers: dict[str, str] = field(default_factory=dict)


class IntervalsSimulator:
    """The Intervals API over one data set, served on a local port.

    Thread-safe: the HTTP server handles each connection in its own daemon thread, and a test may
    edit entries (`add_time_entry`, `delete_time_entry`, `on_time_page`) while a client pages.

    Order of checks for a request: a queued fault; the token (401, not counted); the per-minute window
    of the client IP (code 12; refused requests do not enter the window); the daily quota (code 11,
    skipped for /quota/); then the resource. Every admitted request except /quota/ is counted, also
    when it is then refused (13-18, 10), as it reached the account. Faulted requests ("status",
    "reset", "non_json") are not counted; a truncated reply is.
    Settable after construction: `quota_used`, `hidden_fields` (per group id), `rate_limit_status`
    and `rate_limit_headers` (for codes 11/12), `numbers_as_strings`.
    """

    def __init__(
        self,
        dataset: Dataset,
        *,
        daily_quota: int = 6000,
        per_minute_limit: int = 100,
        numbers_as_strings: bool = True,
        max_page_size: int | None = None,
        clock: Callable[[], float] = time_module.time,
        filter_zone: str = "UTC",
        latency: float = 0.0,
    ) -> None:
        self.dataset = dataset
        # The zone the datemodifiedbegin/end filters are read in (the API does not say; `datemodified` comes back in
        # UTC): tests set an account zone far from UTC to prove a sync's overlap covers it.
        self.filter_zone = ZoneInfo(filter_zone)
        # Seconds added to every reply (a distant API, for benchmarks); faults add their own delay on top.
        self.latency = latency
        self.daily_quota = daily_quota
        self.per_minute_limit = per_minute_limit
        self.numbers_as_strings = numbers_as_strings
        self.max_page_size = max_page_size
        self.clock = clock
        self.hidden_fields: dict[int, frozenset[str]] = dict(DEFAULT_HIDDEN_FIELDS)
        # The errors page says 400 for codes 11 and 12 and no rate headers are documented; tests can change both.
        self.rate_limit_status: dict[int, int] = {11: 400, 12: 400}
        self.rate_limit_headers: dict[str, str] = {}
        self.request_log: list[RequestRecord] = []
        self.internal_errors: list[str] = []  # tracebacks of simulator bugs, answered as 500 code 1
        self.requests_counted = 0
        self.quota_used = 0
        self.url = ""
        self._lock = threading.RLock()
        self._faults: list[Fault] = []
        self._page_callbacks: list[Callable[[IntervalsSimulator, dict[str, str]], None]] = []
        self._recent: dict[str, deque[float]] = {}
        self._quota_day: date | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._builder = TimeEntryBuilder(dataset)
        self._owns_dataset = False
        self._entries: dict[int, dict[str, Any]] = {entry["id"]: entry for entry in dataset.time}
        self._next_id = max(self._entries, default=1_000_000) + 1
        self._version = 0
        self._filter_cache: dict[tuple[Any, ...], list[int]] = {}
        self._date_index: list[tuple[date, int]] | None = None
        self._sort_orders: dict[str, list[int]] = {}
        self._encoded: dict[tuple[int, bool], dict[str, Any]] = {}  # wire form of /time/ rows, per numbers mode
        self._tokens = dict(dataset.tokens)
        self._people = {p["id"]: p for p in dataset.people}
        self._projects = {p["id"]: p for p in dataset.projects}
        self._records: dict[str, list[dict[str, Any]]] = {
            "person": dataset.people,
            "client": dataset.clients,
            "project": dataset.projects,
            "worktype": dataset.worktypes,
            "module": dataset.modules,
            "projectworktype": dataset.project_worktypes,
            "projectmodule": dataset.project_modules,
            "task": dataset.tasks,
            "milestone": dataset.milestones,
            "timer": [],
            "group": [{"id": group_id, "name": name} for group_id, name in GROUPS.items()],
        }

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a background thread; returns the base URL (port 0 picks a free port)."""
        self._warm_indexes()
        handler = type("Handler", (_Handler,), {"simulator": self})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        bound_host, bound_port = self._server.server_address[:2]
        host_text = bound_host.decode() if isinstance(bound_host, bytes) else bound_host
        self.url = f"http://{host_text}:{bound_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="intervals-simulator", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving and drop open keep-alive connections, so that no client talks to a stopped server."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> IntervalsSimulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- test controls -----------------------------------------------------------------------------

    def inject(self, fault: Fault) -> None:
        """Queue a fault; it hits the next `fault.times` requests whose path starts with `fault.path`."""
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        """Drop the faults still queued: the API answers normally again."""
        with self._lock:
            self._faults.clear()

    def on_time_page(self, callback: Callable[[IntervalsSimulator, dict[str, str]], None]) -> None:
        """Call `callback(simulator, params)` before each GET /time/ collection page is computed."""
        with self._lock:
            self._page_callbacks.append(callback)

    def add_time_entry(self, **fields: Any) -> int:
        """Add an entry (API field names, typed values) with a new id above every id so far.

        Fields left out are taken from the first seeded entry, so that a test names only what matters.
        """
        with self._lock:
            template = self.dataset.time[0] if self.dataset.time else {}
            settable = {name: template[name] for name in _SETTABLE_TIME_FIELDS if name in template}
            if "taskid" not in fields and ("projectid" in fields or "moduleid" in fields):
                settable["taskid"] = None
            settable.update(fields)
            if "datemodified" not in fields:
                settable["datemodified"] = self._now().replace(tzinfo=None, microsecond=0)
            entry_id = self._next_id
            entry = self._builder.build(entry_id, **settable)
            self._entries[entry_id] = entry
            self._next_id += 1
            self._changed()
            return entry_id

    def update_time_entry(self, entry_id: int, **fields: Any) -> None:
        """Edit an entry as a PUT would (settable API fields, typed values; a date move too): `datemodified` is now."""
        with self._lock:
            existing = self._entries[entry_id]
            current = {name: existing[name] for name in _SETTABLE_TIME_FIELDS}
            if "taskid" not in fields and ("projectid" in fields or "moduleid" in fields):
                current["taskid"] = None
            current.update(fields)
            if "datemodified" not in fields:
                current["datemodified"] = self._now().replace(tzinfo=None, microsecond=0)
            self._entries[entry_id] = self._builder.build(entry_id, **current)
            self._changed()

    def set_week_approved(self, person_id: int, monday: date, approved: bool = True) -> int:
        """Approve (or reopen) a person's timesheet week: its entries' approval changes, their `datemodified` does
        not (as on the real API, where approving need not touch the entries). Returns the entries affected."""
        with self._lock:
            self._own_dataset()
            week = (person_id, monday)
            if approved:
                self.dataset.approved_weeks.add(week)
            else:
                self.dataset.approved_weeks.discard(week)
            affected = 0
            for entry_id, entry in list(self._entries.items()):
                if entry["personid"] == person_id and monday <= entry["date"] < monday + timedelta(days=7):
                    self._entries[entry_id] = {**entry, "approved": approved}
                    affected += 1
            self._changed()
            return affected

    def rename(self, resource: Literal["project", "client", "person", "task"], record_id: int, name: str) -> None:
        """Rename a reference record; the names on its entries follow, their `datemodified` does not change."""
        with self._lock:
            self._own_dataset()
            records = {record["id"]: record for record in self._records[resource]}
            record = records[record_id]
            if resource == "person":
                record["firstname"], _, record["lastname"] = name.partition(" ")
            elif resource == "task":
                record["title"] = name
            else:
                record["name"] = name
            self._builder = TimeEntryBuilder(self.dataset)
            for entry_id, entry in list(self._entries.items()):
                current = {field_name: entry[field_name] for field_name in _SETTABLE_TIME_FIELDS}
                rebuilt = self._builder.build(entry_id, **current)
                rebuilt["approved"] = entry["approved"]
                self._entries[entry_id] = rebuilt
            self._changed()

    def _own_dataset(self) -> None:
        """Copy the reference records and approvals before the first edit of them: the data set may be shared."""
        if self._owns_dataset:
            return
        self.dataset = dataclasses.replace(
            self.dataset,
            **{name: copy.deepcopy(getattr(self.dataset, name)) for name in _REFERENCE_LISTS},
            approved_weeks=set(self.dataset.approved_weeks),
        )
        self._owns_dataset = True
        self._people = {p["id"]: p for p in self.dataset.people}
        self._projects = {p["id"]: p for p in self.dataset.projects}
        for resource, name in _RESOURCE_LISTS.items():
            self._records[resource] = getattr(self.dataset, name)
        self._builder = TimeEntryBuilder(self.dataset)

    def delete_time_entry(self, entry_id: int) -> None:
        """Remove an entry; KeyError when there is none with that id."""
        with self._lock:
            del self._entries[entry_id]
            self._changed()

    def time_entries(self) -> list[dict[str, Any]]:
        """The current entries (typed, id order): what an independent check of a report compares with."""
        with self._lock:
            return list(self._entries.values())

    # -- request handling --------------------------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _changed(self) -> None:
        self._version += 1
        self._filter_cache.clear()
        self._date_index = None
        self._sort_orders.clear()
        self._encoded.clear()

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if path.startswith(fault.path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def handle(self, method: str, raw_path: str, headers: Any, body: bytes, client_ip: str) -> _Reply | None:
        """Serve one request; None means: close the connection without a reply."""
        split = urlsplit(raw_path)
        path = split.path if split.path.endswith("/") else split.path + "/"
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        fault = self._take_fault(path)
        if self.latency > 0:
            time_module.sleep(self.latency)
        if fault is not None and fault.delay > 0:
            time_module.sleep(fault.delay)
        if fault is not None and fault.kind in {"status", "reset", "non_json"}:
            reply = self._fault_reply(fault)
            self._log(method, path, params, reply)
            return None if fault.kind == "reset" else reply
        caller: _Caller | None = None
        try:
            caller = self._authenticate(headers.get("Authorization"))
            reply = self._admit_and_dispatch(method, path, params, body, caller, client_ip)
        except ApiError as error:
            reply = self._error_reply(error, caller)
            reply.counted = error.counted
        except Exception as exc:  # a simulator bug: answer like the API's general error, and keep it for the tests
            with self._lock:
                self.internal_errors.append(traceback.format_exc())
            reply = self._error_reply(ApiError(1, f"Simulator error: {type(exc).__name__}"), caller)
        if fault is not None and fault.kind == "truncate":
            reply.fault = "truncate"
            reply.truncate_mode = fault.truncate_mode
        self._log(method, path, params, reply)
        return reply

    def _log(self, method: str, path: str, params: dict[str, str], reply: _Reply) -> None:
        record = RequestRecord(method, path, params, reply.status, reply.api_code, reply.counted, reply.fault)
        with self._lock:
            self.request_log.append(record)

    def _authenticate(self, header: str | None) -> _Caller:
        if not header or not header.lower().startswith("basic "):
            raise ApiError(9)
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ApiError(9) from exc
        token = decoded.split(":", 1)[0]
        person_id = self._tokens.get(token)
        if person_id is None:
            raise ApiError(9)
        person = self._people[person_id]
        if not person["active"]:
            raise ApiError(8)
        if person["groupid"] == ADMINISTRATOR:
            return _Caller(person, None)
        members = self.dataset.project_members
        return _Caller(person, frozenset(p for p, team in members.items() if person_id in team))

    def _admit_and_dispatch(
        self, method: str, path: str, params: dict[str, str], body: bytes, caller: _Caller, client_ip: str
    ) -> _Reply:
        parts = [part for part in path.split("/") if part]
        resource = parts[0].lower() if parts else ""
        with self._lock:
            self._admit_per_minute(client_ip)
            if resource != "quota":
                self._admit_daily()
        if resource == "quota":
            return self._quota(method, parts, caller)
        try:
            reply = self._dispatch(method, resource, parts[1:], params, body, caller)
        except ApiError as error:
            error.counted = True  # the request was admitted: it costs quota even when refused
            raise
        reply.counted = True
        return reply

    def _admit_per_minute(self, client_ip: str) -> None:
        now = self.clock()
        recent = self._recent.setdefault(client_ip, deque())
        while recent and recent[0] <= now - 60:
            recent.popleft()
        if len(recent) >= self.per_minute_limit:
            raise ApiError(12)
        recent.append(now)

    def _roll_quota_day(self) -> None:
        today = self._now().date()
        if self._quota_day != today:
            if self._quota_day is not None:
                self.quota_used = 0
            self._quota_day = today

    def _admit_daily(self) -> None:
        self._roll_quota_day()
        if self.quota_used >= self.daily_quota:
            raise ApiError(11)
        self.quota_used += 1
        self.requests_counted += 1

    def _quota(self, method: str, parts: list[str], caller: _Caller) -> _Reply:
        if method != "GET" or len(parts) > 1:
            raise ApiError(16)
        with self._lock:
            self._roll_quota_day()
            used = self.quota_used
        next_reset = datetime.combine(self._now().date() + timedelta(days=1), _RESET_HOUR)
        payload = {
            "quota": self._number(self.daily_quota),
            "used": self._number(used),
            "next_reset": next_reset.strftime("%Y-%m-%d %H:%M:%S"),
            "exceeded": "t" if used >= self.daily_quota else "f",
        }
        return self._ok(caller, {"quota": payload})

    def _dispatch(
        self, method: str, resource: str, rest: list[str], params: dict[str, str], body: bytes, caller: _Caller
    ) -> _Reply:
        if resource not in _FIELDS:
            raise ApiError(13, f"Resource type '{resource}' does not exist")
        if len(rest) > 1:
            raise ApiError(13, "Resource type does not exist")
        member_id = self._parse_member_id(rest[0]) if rest else None
        if resource == "time" and method in {"POST", "PUT", "DELETE"}:
            return self._write_time(method, member_id, body, caller)
        if method != "GET":
            raise ApiError(16, f"HTTP method {method} not available for {resource}")
        if caller.group not in _ACCESS[resource]:
            raise ApiError(10)
        if resource == "me":
            if member_id is not None:
                raise ApiError(16)
            self._check_params(params, set(), resource)
            return self._ok(caller, {"listcount": self._number(1), "me": [self._encode("me", caller.person, caller)]})
        if member_id is not None:
            return self._member(resource, member_id, params, caller)
        if resource == "time":
            return self._time_collection(params, caller)
        return self._reference_collection(resource, params, caller)

    @staticmethod
    def _parse_member_id(text: str) -> int:
        if not text.isdigit():
            raise ApiError(14, f"Resource requested does not exist: '{text}'")
        return int(text)

    def _member(self, resource: str, member_id: int, params: dict[str, str], caller: _Caller) -> _Reply:
        if params:
            raise ApiError(17, verbose=[f"Parameter '{name}' not recognized" for name in params])
        record: dict[str, Any] | None
        if resource == "time":
            with self._lock:
                record = self._entries.get(member_id)
            visible = record is not None and self._visible_time(record, caller)
        else:
            record = next((r for r in self._records[resource] if r["id"] == member_id), None)
            visible = record is not None and record in self._visible_records(resource, caller)
        if record is None or not visible:
            raise ApiError(14, f"{resource} {member_id} does not exist")
        return self._ok(caller, {resource: self._encode(resource, record, caller)})

    # -- /time/ ------------------------------------------------------------------------------------

    def _visible_time(self, entry: dict[str, Any], caller: _Caller) -> bool:
        return caller.projects is None or entry["projectid"] in caller.projects

    def _time_collection(self, params: dict[str, str], caller: _Caller) -> _Reply:
        with self._lock:
            callbacks = list(self._page_callbacks)
        for callback in callbacks:
            callback(self, dict(params))
        self._check_params(params, TIME_FILTERS, "time")
        offset, limit = self._paging(params)
        key = (
            tuple(sorted((k, v) for k, v in params.items() if k not in _PAGING)),
            caller.projects,
        )
        with self._lock:
            ids = self._filter_cache.get(key)
            if ids is None:
                ids = self._filter_time(params, caller)
                if len(self._filter_cache) > 64:
                    self._filter_cache.clear()
                self._filter_cache[key] = ids
            page = [self._entries[entry_id] for entry_id in ids[offset : offset + limit]]
        rows = [self._encode_time(entry, caller) for entry in page]
        return self._ok(caller, {"listcount": self._number(len(ids)), "time": rows})

    def _sort_order(self, sortfield: str) -> list[int]:
        order = self._sort_orders.get(sortfield)
        if order is None:
            if sortfield == "t.date":
                order = [entry_id for _, entry_id in self._ensure_date_index()]
            else:
                order = [e["id"] for e in sorted(self._entries.values(), key=lambda e: (e[sortfield], e["id"]))]
            self._sort_orders[sortfield] = order
        return order

    def _ensure_date_index(self) -> list[tuple[date, int]]:
        if self._date_index is None:
            self._date_index = sorted((entry["date"], entry_id) for entry_id, entry in self._entries.items())
        return self._date_index

    def _warm_indexes(self) -> None:
        """Build the sorted orders up front, so that the first page of a big account is as fast as the rest."""
        with self._lock:
            self._sort_order("t.date")
            self._sort_order("datemodified")

    def _date_slice(self, first: date | None, last: date | None) -> list[dict[str, Any]]:
        index = self._ensure_date_index()
        low = bisect.bisect_left(index, (first, 0)) if first else 0
        high = bisect.bisect_right(index, (last, float("inf"))) if last else len(index)
        entries = self._entries
        return [entries[entry_id] for _, entry_id in index[low:high]]

    def _filter_time(self, params: dict[str, str], caller: _Caller) -> list[int]:
        """The ids matching the filters, in the requested order (cached per filter set and data version)."""
        first = self._param_date(params, "datebegin") if "datebegin" in params else None
        last = self._param_date(params, "dateend") if "dateend" in params else None
        if "date" in params:
            day = self._param_date(params, "date")
            first = max(first, day) if first else day
            last = min(last, day) if last else day
        # Each filter is a set of accepted values of one field; comprehensions without lambdas keep a
        # scan of 100,000 entries in the tens of milliseconds.
        memberships: list[tuple[str, set[Any]]] = []
        if caller.projects is not None:
            memberships.append(("projectid", set(caller.projects)))
        for name in ("personid", "projectid", "worktypeid", "moduleid", "taskid", "clientid", "milestoneid"):
            if name in params:
                wanted: set[Any] = set(self._param_ids(params, name))
                if name in {"clientid", "milestoneid"} and -1 in wanted:
                    wanted.add(None)
                memberships.append((name, wanted))
        for name in ("billable", "approved"):
            if name in params:
                memberships.append((name, {self._param_bool(params, name)}))
        active_only = "activeonly" in params and self._param_bool(params, "activeonly")
        modified_from = modified_to = None
        if "datemodifiedbegin" in params:
            modified_from = self._to_utc(self._param_datetime(params, "datemodifiedbegin", end_of_day=False))
        if "datemodifiedend" in params:
            modified_to = self._to_utc(self._param_datetime(params, "datemodifiedend", end_of_day=True))
        sortfield = params.get("sortfield", "id")
        if sortfield not in _TIME_SORT_FIELDS:
            allowed = ", ".join(sorted(_TIME_SORT_FIELDS))
            raise ApiError(18, "Invalid sortfield", [f"sortfield must be one of: {allowed}"])
        sortdir = params.get("sortdir", "ASC").upper()
        if sortdir not in {"ASC", "DESC"}:
            raise ApiError(18, "Invalid sortdir", ["sortdir must be ASC or DESC"])
        if first and last and first > last:
            return []
        candidates = self._date_slice(first, last) if first or last else list(self._entries.values())
        for name, wanted in memberships:
            candidates = [e for e in candidates if e[name] in wanted]
        if active_only:
            active_projects = {p["id"] for p in self.dataset.projects if p["active"]}
            candidates = [e for e in candidates if e["active"] and e["projectid"] in active_projects]
        if modified_from is not None:
            candidates = [e for e in candidates if e["datemodified"] >= modified_from]
        if modified_to is not None:
            candidates = [e for e in candidates if e["datemodified"] <= modified_to]
        if sortfield == "id":
            ids = sorted(e["id"] for e in candidates)
        else:
            # Walk a presorted order of every entry, so that a big result is not sorted again for each filter set.
            matched = {e["id"] for e in candidates}
            ids = [entry_id for entry_id in self._sort_order(sortfield) if entry_id in matched]
        if sortdir == "DESC":
            ids.reverse()
        return ids

    def _write_time(self, method: str, member_id: int | None, body: bytes, caller: _Caller) -> _Reply:
        if caller.group == EXECUTIVE:
            raise ApiError(10)
        if method == "DELETE":
            if member_id is None:
                raise ApiError(16, "DELETE needs a time id")
            with self._lock:
                entry = self._entries.get(member_id)
                if entry is None or not self._visible_time(entry, caller):
                    raise ApiError(14, f"time {member_id} does not exist")
                self._check_own_time(entry["personid"], caller)
                del self._entries[member_id]
                self._changed()
            return self._ok(caller, {})
        fields = self._parse_time_body(body)
        with self._lock:
            if member_id is None:
                required = ("billable", "date", "personid", "time", "worktypeid")
                missing = [name for name in required if name not in fields]
                if missing:
                    raise ApiError(18, "Missing required fields", [f"{name} is required" for name in missing])
                current: dict[str, Any] = {}
            else:
                existing = self._entries.get(member_id)
                if existing is None or not self._visible_time(existing, caller):
                    raise ApiError(14, f"time {member_id} does not exist")
                current = {name: existing[name] for name in _SETTABLE_TIME_FIELDS}
                if "taskid" not in fields and ("projectid" in fields or "moduleid" in fields):
                    current["taskid"] = None
            current.update(fields)
            current["datemodified"] = self._now().replace(tzinfo=None, microsecond=0)
            self._check_own_time(current["personid"], caller)
            entry_id = member_id if member_id is not None else self._next_id
            try:
                entry = self._builder.build(entry_id, **current)
            except KeyError as exc:
                raise ApiError(18, "A referenced record could not be found", [str(exc)]) from exc
            if caller.projects is not None and entry["projectid"] not in caller.projects:
                raise ApiError(10)
            self._entries[entry_id] = entry
            if member_id is None:
                self._next_id += 1
            self._changed()
        status = 201 if member_id is None else 202
        payload = {"time": self._encode("time", entry, caller)}
        return self._ok(caller, payload, status=status)

    @staticmethod
    def _check_own_time(person_id: int, caller: _Caller) -> None:
        if caller.group == RESOURCE and person_id != caller.id:
            raise ApiError(10, "Resources may only edit their own time")

    def _parse_time_body(self, body: bytes) -> dict[str, Any]:
        try:
            data = json.loads(body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiError(18, "The request body is not valid JSON") from exc
        if not isinstance(data, dict):
            raise ApiError(18, "The request body must be a JSON object")
        unknown = set(data) - _SETTABLE_TIME_FIELDS
        if unknown:
            raise ApiError(17, verbose=[f"Field '{name}' not recognized" for name in sorted(unknown)])
        fields: dict[str, Any] = {}
        as_text = {name: "" if value is None else str(value) for name, value in data.items()}
        for name in ("projectid", "moduleid", "taskid", "worktypeid", "personid"):
            if name in data:
                fields[name] = None if as_text[name] in {"", "0"} else self._param_int(as_text, name)
        if "date" in data:
            fields["date"] = self._param_date(as_text, "date")
        if "billable" in data:
            value = data["billable"]
            fields["billable"] = value if isinstance(value, bool) else self._param_bool(as_text, "billable")
        if "description" in data:
            fields["description"] = as_text["description"]
        if "time" in data:
            try:
                hours = Decimal(as_text["time"])
            except InvalidOperation as exc:
                raise ApiError(18, "Invalid time", ["time must be a decimal number of hours"]) from exc
            if not hours.is_finite() or hours <= 0:
                raise ApiError(18, "Invalid time", ["time must be a positive number of hours"])
            if hours != hours.quantize(Decimal("0.01")):
                raise ApiError(18, "Time is too precise.", ["time has more than two decimals"])
            fields["time"] = Decimal(format(hours.normalize(), "f"))
        return fields

    # -- reference collections ---------------------------------------------------------------------

    def _visible_records(self, resource: str, caller: _Caller) -> list[dict[str, Any]]:
        records = self._records[resource]
        if resource == "timer":
            return [r for r in records if caller.group == ADMINISTRATOR or r["personid"] == caller.id]
        if caller.projects is None:
            return records
        projects = caller.projects
        if resource == "project":
            return [r for r in records if r["id"] in projects]
        if resource in {"projectworktype", "projectmodule", "task", "milestone"}:
            rows = [r for r in records if r["projectid"] in projects]
            if resource == "projectworktype" and caller.group == RESOURCE:
                rows = [r for r in rows if r["active"]]  # the API applies `active` to Resource users
            return rows
        if resource == "client":
            clients = {self._projects[p]["clientid"] for p in projects}
            return [r for r in records if r["id"] in clients]
        if resource == "person":
            members = self.dataset.project_members
            colleagues = {person for project in projects for person in members[project]} | {caller.id}
            return [r for r in records if r["id"] in colleagues]
        return records

    def _reference_collection(self, resource: str, params: dict[str, str], caller: _Caller) -> _Reply:
        allowed = _REFERENCE_FILTERS[resource] | _PAGING
        self._check_params(params, allowed, resource)
        offset, limit = self._paging(params)
        rows = self._visible_records(resource, caller)
        fields = _FIELDS[resource]
        for name, value in params.items():
            if name in _PAGING or name not in fields or name in {"sortfield", "sortdir"}:
                continue
            rows = self._filter_by_field(rows, name, value, fields[name])
        if resource == "person" and "projectid" in params:
            members = self.dataset.project_members
            wanted = set(self._param_ids(params, "projectid"))
            team = {person for project in wanted for person in members.get(project, set())}
            rows = [r for r in rows if r["id"] in team]
        if resource in _DEFAULT_ORDER:
            rows = sorted(rows, key=_DEFAULT_ORDER[resource])
        if "sortfield" in params and params["sortfield"] in fields:
            rows = sorted(rows, key=lambda r: (r[params["sortfield"]] is None, str(r[params["sortfield"]])))
        if params.get("sortdir", "ASC").upper() == "DESC":
            rows = list(reversed(rows))
        page = rows[offset : offset + limit]
        return self._ok(
            caller, {"listcount": self._number(len(rows)), resource: [self._encode(resource, r, caller) for r in page]}
        )

    def _filter_by_field(self, rows: list[dict[str, Any]], name: str, value: str, kind: str) -> list[dict[str, Any]]:
        if kind == _BOOL:
            flag = self._param_bool({name: value}, name)
            return [r for r in rows if bool(r[name]) is flag]
        if kind == _ID:
            wanted: set[int | None] = set(self._param_ids({name: value}, name))
            if -1 in wanted:
                wanted.add(None)
            return [r for r in rows if r[name] in wanted]
        return [r for r in rows if str(r[name]).casefold() == value.casefold()]

    # -- parameters --------------------------------------------------------------------------------

    @staticmethod
    def _check_params(params: dict[str, str], allowed: set[str], resource: str) -> None:
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise ApiError(
                17,
                f"Parameter not recognized: {', '.join(unknown)}",
                [f"'{name}' is not a filter of {resource}" for name in unknown],
            )

    def _paging(self, params: dict[str, str]) -> tuple[int, int]:
        offset = self._param_int(params, "offset") if "offset" in params else 0
        limit = self._param_int(params, "limit") if "limit" in params else 10
        if offset < 0 or limit < 0:
            raise ApiError(18, "offset and limit must not be negative")
        if self.max_page_size is not None and limit > self.max_page_size:
            raise ApiError(1, "General (unknown) error", ["may be requesting too many data"])
        return offset, limit

    @staticmethod
    def _param_int(params: dict[str, str], name: str) -> int:
        text = params[name].strip()
        try:
            return int(text)
        except ValueError as exc:
            raise ApiError(18, f"Invalid value for {name}", [f"{name} must be an integer, got '{text}'"]) from exc

    @staticmethod
    def _param_ids(params: dict[str, str], name: str) -> list[int]:
        ids = []
        for item in params[name].split(","):
            try:
                ids.append(int(item.strip()))
            except ValueError as exc:
                raise ApiError(
                    18, f"Invalid value for {name}", [f"{name} must be integers in CSV, got '{params[name]}'"]
                ) from exc
        return ids

    @staticmethod
    def _param_bool(params: dict[str, str], name: str) -> bool:
        text = params[name].strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ApiError(18, f"Invalid value for {name}", [f"{name} must be 't' or 'f', got '{params[name]}'"])

    @staticmethod
    def _param_date(params: dict[str, str], name: str) -> date:
        try:
            return date.fromisoformat(params[name].strip())
        except ValueError as exc:
            verbose = [f"{name} must be YYYY-MM-DD, got '{params[name]}'"]
            raise ApiError(18, f"Invalid value for {name}", verbose) from exc

    def _to_utc(self, local: datetime) -> datetime:
        """A filter's wall-clock time read in `filter_zone`, as the naive UTC that `datemodified` is kept in."""
        return local.replace(tzinfo=self.filter_zone).astimezone(UTC).replace(tzinfo=None)

    @staticmethod
    def _param_datetime(params: dict[str, str], name: str, *, end_of_day: bool) -> datetime:
        text = params[name].strip()
        try:
            if len(text) == 10:
                day = date.fromisoformat(text)
                return datetime.combine(day, datetime.max.time() if end_of_day else datetime.min.time())
            return datetime.fromisoformat(text).replace(tzinfo=None)
        except ValueError as exc:
            raise ApiError(
                18, f"Invalid value for {name}", [f"{name} must be YYYY-MM-DD[ HH:MM:SS], got '{text}'"]
            ) from exc

    # -- encoding ----------------------------------------------------------------------------------

    def _number(self, value: int | Decimal) -> str | int | float:
        if self.numbers_as_strings:
            return _decimal_text(value) if isinstance(value, Decimal) else str(value)
        return float(value) if isinstance(value, Decimal) else value

    def _encode_time(self, entry: dict[str, Any], caller: _Caller) -> dict[str, Any]:
        key = (entry["id"], self.numbers_as_strings)
        row = self._encoded.get(key)
        if row is None:
            row = _encode_time_row(entry, self.numbers_as_strings)
            self._encoded[key] = row
        hidden = self.hidden_fields.get(caller.group)
        if hidden:
            return {name: value for name, value in row.items() if name not in hidden}
        return row

    def _encode(self, resource: str, record: dict[str, Any], caller: _Caller | None) -> dict[str, Any]:
        hidden: frozenset[str] = frozenset()
        if caller is not None and resource in {"time", "projectworktype"}:
            hidden = self.hidden_fields.get(caller.group, frozenset())
        as_strings = self.numbers_as_strings
        out: dict[str, Any] = {}
        for name, kind in _FIELDS[resource].items():
            if name in hidden:
                continue
            value = record.get(name)
            if value is None:
                out[name] = None
            elif kind == _ID:
                out[name] = str(value) if as_strings else value
            elif kind == _NUMBER:
                out[name] = _decimal_text(value) if as_strings else float(value)
            elif kind == _BOOL:
                out[name] = "t" if value else "f"
            elif kind == _NAME:
                out[name] = html.escape(str(value))
            elif kind == _DATE:
                out[name] = value.isoformat()
            elif kind == _DATETIME:
                out[name] = value.strftime("%Y-%m-%d %H:%M:%S")
            else:
                out[name] = value
        return out

    def _envelope(self, caller: _Caller | None, status: int) -> dict[str, Any]:
        return {
            "personid": None if caller is None else self._number(caller.id),
            "status": HTTPStatus(status).phrase,
            "code": self._number(status),
        }

    def _ok(self, caller: _Caller, payload: dict[str, Any], *, status: int = 200) -> _Reply:
        document = self._envelope(caller, status)
        if status == 200:
            document["status"] = "OK"
        document.update(payload)
        return _Reply(status, _json_bytes(document))

    def _error_reply(self, error: ApiError, caller: _Caller | None) -> _Reply:
        status = self.rate_limit_status.get(error.code, error.status)
        document = self._envelope(caller, status)
        document["error"] = {"code": self._number(error.code), "message": error.message, "verbose": error.verbose}
        headers = dict(self.rate_limit_headers) if error.code in self.rate_limit_status else {}
        return _Reply(status, _json_bytes(document), api_code=error.code, extra_headers=headers)

    def _fault_reply(self, fault: Fault) -> _Reply:
        if fault.kind == "reset":
            return _Reply(0, b"", fault="reset")
        if fault.kind == "non_json":
            page = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
            return _Reply(502, page, content_type="text/html", fault="non_json")
        document = self._envelope(None, fault.status)
        if fault.api_code is not None:
            message = ERROR_MESSAGES.get(fault.api_code, "Error")
            document["error"] = {"code": self._number(fault.api_code), "message": message, "verbose": []}
        return _Reply(fault.status, _json_bytes(document), api_code=fault.api_code, fault="status")


def _encode_time_row(e: dict[str, Any], as_strings: bool) -> dict[str, Any]:
    """One /time/ row on the wire: the same result as the generic encoder over TIME_FIELDS, written out
    field by field because a 1000-row page must be served in a few milliseconds."""
    number: Callable[[Any], Any] = (lambda v: None if v is None else str(v)) if as_strings else (lambda v: v)
    decimal: Callable[[Decimal], Any] = _decimal_text if as_strings else float
    escape = html.escape
    day = e["date"].isoformat()
    return {
        "id": number(e["id"]),
        "projectid": number(e["projectid"]),
        "moduleid": number(e["moduleid"]),
        "taskid": number(e["taskid"]),
        "worktypeid": number(e["worktypeid"]),
        "personid": number(e["personid"]),
        "date": day,
        "time": decimal(e["time"]),
        "description": e["description"],
        "billable": "t" if e["billable"] else "f",
        "datemodified": e["datemodified"].strftime("%Y-%m-%d %H:%M:%S"),
        "dateiso": day,
        "module": escape(e["module"]),
        "project": escape(e["project"]),
        "worktype": escape(e["worktype"]),
        "tasklocalid": number(e["tasklocalid"]),
        "task": escape(e["task"]),
        "firstname": escape(e["firstname"]),
        "lastname": escape(e["lastname"]),
        "active": "t" if e["active"] else "f",
        "person": escape(e["person"]),
        "clientid": number(e["clientid"]),
        "client": escape(e["client"]),
        "clientactive": "t" if e["clientactive"] else "f",
        "statusid": number(e["statusid"]),
        "hourlyrate": decimal(e["hourlyrate"]),
    }


def _decimal_text(value: int | Decimal) -> str:
    """Decimals as the API writes them: "0.25", "1", "95.00" keeps its scale unless it is a whole time."""
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def _json_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive adapter between http.server and IntervalsSimulator.handle."""

    simulator: IntervalsSimulator
    protocol_version = "HTTP/1.1"
    server_version = "IntervalsSimulator/1.0"
    timeout = 30  # an idle keep-alive connection does not hold a thread forever
    disable_nagle_algorithm = True  # headers and body go out in two writes: without this, 40 ms per reply

    def setup(self) -> None:
        super().setup()
        with self.simulator._lock:
            self.simulator._connections.add(self.connection)

    def finish(self) -> None:
        with self.simulator._lock:
            self.simulator._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is `simulator.request_log`."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        reply = self.simulator.handle(self.command, self.path, self.headers, body, self.client_address[0])
        if reply is None:
            # Reset: close with SO_LINGER 0 so that the client sees a connection reset, not a clean end.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        payload = reply.body
        declared = len(payload)
        if reply.fault == "truncate":
            # Half the body; either the header still promises all of it, or it is framed right but cut JSON.
            payload = payload[: max(1, len(payload) // 2)]
            if reply.truncate_mode == "cut_json":
                declared = len(payload)
            self.close_connection = True
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(declared))
        for name, value in reply.extra_headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _serve


def _at_least(minimum: int, kind: type[int] | type[float]) -> Callable[[str], float]:
    """An argparse type: a number of `kind` no smaller than `minimum` (argparse names the option when it refuses)."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text} is below {minimum}")
        return value

    return parse


def main(argv: list[str] | None = None) -> int:
    """`timereports simulator`: serve a seeded account until Ctrl-C, for the demo and manual checks."""
    parser = argparse.ArgumentParser(prog="timereports simulator", description="Serve the local Intervals API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--entries", type=_at_least(0, int), default=AGENCY_YEAR_ENTRIES)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--latency", type=_at_least(0, float), default=0.0, help="seconds added to every reply")
    parser.add_argument(
        "--per-minute-limit", type=_at_least(1, int), default=100, help="requests a minute per client IP"
    )
    args = parser.parse_args(argv)
    simulator = IntervalsSimulator(
        build_dataset(args.entries, seed=args.seed), latency=args.latency, per_minute_limit=args.per_minute_limit
    )
    try:
        url = simulator.start(args.host, args.port)
    except OSError as exc:  # the port is in use (or privileged): the person's to change, one line from the CLI
        raise listen_error(args.host, args.port, exc) from exc
    print(f"Intervals simulator at {url} ({args.entries} time entries, seed {args.seed})", flush=True)
    for role, token in (
        ("Administrator", ADMIN_TOKEN),
        ("Manager", MANAGER_TOKEN),
        ("Resource", RESOURCE_TOKEN),
        ("Executive", EXECUTIVE_TOKEN),
        ("inactive user", INACTIVE_TOKEN),
    ):
        print(f"  {role:<14} token {token}", flush=True)
    never = threading.Event()
    try:
        while not never.wait(0.5):  # a timed wait, so that Ctrl-C is seen promptly on every platform
            pass
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
