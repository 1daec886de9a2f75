"""The `pull` command's use case: raw time entries of a date range as JSON lines, through the same client and ledger
as reports (a development command: the Lambda layer does not ship it).

For audits, spreadsheets and independent checks of a report, the output keeps the API's own fields and encodings
(strings, "t"/"f", HTML-escaped names), one JSON object a line, in id order, streamed so that memory stays flat.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol, TextIO

from timereports.errors import DefinitionError
from timereports.models.intervals import TimeQuery


class RawTimeSource(Protocol):
    """What `pull` needs of the Intervals client: the API's own rows of a query, and what they cost."""

    def sync_quota(self) -> Any: ...
    def iter_time_raw(self, query: TimeQuery | None = None) -> Iterator[dict[str, Any]]: ...

    @property
    def requests_counted(self) -> int: ...


@dataclass(frozen=True)
class PullSummary:
    """What a pull wrote and what it cost."""

    start: date
    end: date
    entries: int
    requests: int
    seconds: float
    first_id: int | None = None
    last_id: int | None = None

    def __str__(self) -> str:
        return (
            f"pulled {self.entries} time entries dated {self.start.isoformat()} to {self.end.isoformat()} "
            f"with {self.requests} API requests in {self.seconds:.1f}s"
        )

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready summary (for the CLI's stderr line and for logs)."""
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "entries": self.entries,
            "api_requests": self.requests,
            "seconds": round(self.seconds, 3),
            "first_id": self.first_id,
            "last_id": self.last_id,
        }


def pull_entries(
    client: RawTimeSource, start: date, end: date, out: TextIO, query: TimeQuery | None = None
) -> PullSummary:
    """Write every time entry dated `start`..`end` (inclusive) to `out`, one JSON object a line.

    `query` adds the other /time/ filters; its dates are replaced by `start` and `end`. `requests` in the summary
    counts the quota-counted requests this pull sent, retries and repairs included.
    """
    if start > end:
        raise DefinitionError(f"from: {start.isoformat()} is after to: {end.isoformat()}")
    filters = (query or TimeQuery()).model_copy(update={"datebegin": start, "dateend": end})
    # Learn the account's real usage first (free): other API users spend the same daily allowance.
    client.sync_quota()
    requests_before = client.requests_counted
    started = time.monotonic()
    entries = 0
    first_id: int | None = None
    last_id: int | None = None
    for row in client.iter_time_raw(filters):
        out.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
        out.write("\n")
        entries += 1
        last_id = int(row["id"])
        if first_id is None:
            first_id = last_id
    out.flush()
    return PullSummary(
        start=start,
        end=end,
        entries=entries,
        requests=client.requests_counted - requests_before,
        seconds=time.monotonic() - started,
        first_id=first_id,
        last_id=last_id,
    )
