"""Reference data (people, clients, projects, work types, modules, tasks, milestones), cached in the process.

These records change rarely (the API's own docs advise caching them), yet a report needs their names for every row.
Fetching them whole once an hour per account, and keeping them in the module-level cache of a warm Lambda or a
long-lived CLI process, means repeated reports spend their requests on time entries only. The cache key is the base
URL and a hash of the token (never the token itself), because what a token may see depends on its user's role.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from timereports.models.intervals import (
    Client,
    Me,
    Milestone,
    Person,
    Project,
    ProjectModule,
    ProjectWorktype,
    ReferenceData,
    Task,
    parse_record,
)

DEFAULT_TTL_SECONDS = 3600.0

# API resource -> the ReferenceData field it fills (and the model of one record).
REFERENCE_RESOURCES: dict[str, tuple[str, type[Any]]] = {
    "me": ("me", Me),
    "person": ("people", Person),
    "client": ("clients", Client),
    "project": ("projects", Project),
    "projectworktype": ("project_worktypes", ProjectWorktype),
    "projectmodule": ("project_modules", ProjectModule),
    "task": ("tasks", Task),
    "milestone": ("milestones", Milestone),
}
_FIELD_TO_RESOURCE = {field: resource for resource, (field, _) in REFERENCE_RESOURCES.items()}


def resolve_needs(needs: Iterable[str]) -> set[str]:
    """The API resources behind `needs`, which may name resources ("person") or ReferenceData fields ("people")."""
    resources: set[str] = set()
    for need in needs:
        name = need.strip().lower().strip("/")
        if name in REFERENCE_RESOURCES:
            resources.add(name)
        elif name in _FIELD_TO_RESOURCE:
            resources.add(_FIELD_TO_RESOURCE[name])
        else:
            allowed = ", ".join(sorted(REFERENCE_RESOURCES))
            raise ValueError(f"unknown reference data {need!r}; allowed: {allowed}")
    return resources


def cache_key(base_url: str, token: str) -> tuple[str, str]:
    """The cache key of one API user: the normalised base URL and a SHA-256 prefix of the token."""
    return base_url.rstrip("/"), hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]


class ReferenceCache:
    """Raw reference records per (base URL, token hash) and resource, each kept for `ttl_seconds`.

    Thread-safe. Records are stored as the API sent them (after JSON decoding) and shared read-only.
    """

    def __init__(self, ttl_seconds: float = DEFAULT_TTL_SECONDS, *, clock: Callable[[], float] = time.monotonic):
        if ttl_seconds < 0:
            raise ValueError(f"ttl_seconds must not be negative, got {ttl_seconds}")
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[tuple[str, str], str], tuple[float, list[dict[str, Any]]]] = {}

    def get(self, key: tuple[str, str], resource: str) -> list[dict[str, Any]] | None:
        """The cached records, or None when missing or older than the TTL."""
        with self._lock:
            entry = self._entries.get((key, resource))
            if entry is None:
                return None
            stored_at, records = entry
            if self._clock() - stored_at >= self.ttl_seconds:
                del self._entries[(key, resource)]
                return None
            return records

    def put(self, key: tuple[str, str], resource: str, records: list[dict[str, Any]]) -> None:
        """Keep `records` for the TTL."""
        with self._lock:
            self._entries[(key, resource)] = (self._clock(), records)

    def clear(self) -> None:
        """Forget everything (tests; or after an account's data was changed on purpose)."""
        with self._lock:
            self._entries.clear()


# The process-wide cache: survives between invocations of a warm Lambda and between reports of one CLI run.
DEFAULT_REFERENCE_CACHE = ReferenceCache()

# How long names a fresh look-up did not find are remembered: asked for again within it, the cache is taken.
LOOKED_FOR_SECONDS = 300.0


class LookedFor:
    """The names each API user's fresh look-ups of reference records did not find, remembered for `seconds`: a name
    misspelt in request after request (a client retrying a 400) costs one fetch in that while, not one each, while
    a name not asked for yet (a record renamed or added a moment ago) is still looked for at once. Thread-safe."""

    def __init__(self, seconds: float = LOOKED_FOR_SECONDS, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._at: dict[tuple[tuple[str, str], frozenset[str]], float] = {}

    def recently(self, key: tuple[str, str], names: frozenset[str]) -> bool:
        """Whether a fresh look-up for exactly these names was made less than `seconds` ago."""
        with self._lock:
            at = self._at.get((key, names))
            return at is not None and self._clock() - at < self.seconds

    def note(self, key: tuple[str, str], names: frozenset[str]) -> None:
        """A fresh look-up for these names was made now (older notes are forgotten)."""
        with self._lock:
            now = self._clock()
            self._at = {noted: at for noted, at in self._at.items() if now - at < self.seconds}
            self._at[(key, names)] = now

    def clear(self) -> None:
        """Forget every look-up (tests)."""
        with self._lock:
            self._at.clear()


DEFAULT_LOOKED_FOR = LookedFor()


def build_reference_data(records: Mapping[str, list[dict[str, Any]]]) -> ReferenceData:
    """Typed, id-indexed ReferenceData from raw records per resource (resources not given stay empty)."""
    fields: dict[str, Any] = {}
    for resource, rows in records.items():
        field, model = REFERENCE_RESOURCES[resource]
        if resource == "me":
            fields["me"] = parse_record(model, rows[0], resource) if rows else None
        else:
            parsed = [parse_record(model, row, resource) for row in rows]
            fields[field] = {item.id: item for item in parsed}
    return ReferenceData(**fields)
