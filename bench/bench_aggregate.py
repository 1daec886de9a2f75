"""Benchmark: the streaming report engine against pandas on the same million time entries.

Run with `.venv/bin/python -m bench.bench_aggregate [N]`. The entries come from a generator, so the input
itself never sits in memory: what tracemalloc reports is what the engine (or pandas) keeps. pandas has to
build a DataFrame from the same entries before it can group them, so that construction is counted; it
sums floats (its natural choice), while the engine sums exact Decimals.
"""

from __future__ import annotations

import gc
import random
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from timereports.engine.aggregate import aggregate
from timereports.models.definition import ReportDefinition
from timereports.models.intervals import ReferenceData
from timereports.models.report import Period

PERIOD = Period(date(2026, 1, 1), date(2026, 12, 31))
PROJECTS = 200
PEOPLE = 150
SEED = 20261123


@dataclass(slots=True)
class SyntheticEntry:
    """What the engine reads of a `TimeEntry`, without pydantic's validation (the API client pays that)."""

    id: int
    date: date
    time: Decimal
    billable: bool
    personid: int
    projectid: int
    moduleid: int
    taskid: int | None
    worktypeid: int
    clientid: int | None
    person: str
    project: str
    module: str
    worktype: str
    task: str
    client: str
    hourlyrate: Decimal | None

    @property
    def person_name(self) -> str:
        return self.person


def synthetic_entries(count: int, seed: int = SEED) -> Iterator[tuple[SyntheticEntry, bool | None]]:
    """`count` plausible entries (quarter hours, 200 projects, 150 people), made one at a time."""
    draw = random.Random(seed).random
    hours = [Decimal(quarter) / 4 for quarter in range(1, 33)]
    rates = [None, Decimal("85.00"), Decimal("120.50"), Decimal("95.25"), Decimal("150")]
    days = [PERIOD.start + timedelta(days=offset) for offset in range(PERIOD.days)]
    people = [f"Person {index}" for index in range(PEOPLE)]
    projects = [f"Project {index}" for index in range(PROJECTS)]
    clients = [f"Client {index}" if index else "No client" for index in range(40)]
    for entry_id in range(count):
        project = int(draw() * PROJECTS)
        person = int(draw() * PEOPLE)
        client = project % 40
        yield (
            SyntheticEntry(
                entry_id,
                days[entry_id % 365],
                hours[int(draw() * 32)],
                draw() < 0.7,
                person + 1,
                project + 1,
                project % 7 + 1,
                None,
                person % 5 + 1,
                client or None,
                people[person],
                projects[project],
                "Development",
                "Engineering",
                "",
                clients[client],
                rates[project % 5],
            ),
            None,
        )


def benchmark_definition() -> ReportDefinition:
    return ReportDefinition.model_validate(
        {
            "id": "bench",
            "title": "Benchmark",
            "view": "time_fees_hours_and_amounts",
            "time_frame": {"from": PERIOD.start.isoformat(), "to": PERIOD.end.isoformat()},
            "group_by": ["project_id", "user_id"],
        }
    )


def run_engine(count: int) -> int:
    """Aggregate `count` generated entries; the number of rows."""
    table = aggregate(synthetic_entries(count), benchmark_definition(), ReferenceData(), PERIOD)
    return len(table.rows)


def run_pandas(count: int) -> int:
    """The same group-by in pandas, from the same generated entries (DataFrame construction included).

    pandas gets its leanest reasonable input: one tuple of plain numbers and names per entry (floats, since
    that is what pandas sums fast), the billable share and amounts computed vectorised.
    """
    # Deferred: only this benchmark's yardstick uses pandas (a development dependency).
    import pandas as pd

    first_day, last_day = PERIOD.start, PERIOD.end
    records = (
        (
            entry.projectid,
            entry.project,
            entry.personid,
            entry.person_name,
            float(entry.time),
            entry.billable,
            float(entry.hourlyrate) if entry.hourlyrate else 0.0,
        )
        for entry, _approval in synthetic_entries(count)
        if first_day <= entry.date <= last_day
    )
    frame = pd.DataFrame.from_records(
        records, columns=["project_id", "project_name", "user_id", "user_name", "hours", "billable", "rate"]
    )
    frame["billable_hours"] = frame["hours"].where(frame["billable"], 0.0)
    frame["amount"] = frame["billable_hours"] * frame["rate"]
    grouped = frame.groupby(["project_id", "user_id"], sort=True).agg(
        project_name=("project_name", "first"),
        user_name=("user_name", "first"),
        incurred_hours=("hours", "sum"),
        billable_hours=("billable_hours", "sum"),
        entries=("hours", "size"),
        incurred_amount=("amount", "sum"),
    )
    grouped["nonbillable_hours"] = grouped["incurred_hours"] - grouped["billable_hours"]
    return len(grouped)


def run_generator_only(count: int) -> int:
    """Just producing the entries: the floor under both contenders."""
    produced = 0
    for _ in synthetic_entries(count):
        produced += 1
    return produced


def measure(label: str, work: Callable[[int], Any], count: int) -> tuple[float, int]:
    """Wall time of one untraced run, then peak traced memory of a second run."""
    gc.collect()
    started = time.perf_counter()
    result = work(count)
    elapsed = time.perf_counter() - started
    gc.collect()
    tracemalloc.start()
    work(count)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{label:<34} {count:>10,} entries  {elapsed:7.2f} s  peak {peak / 2**20:8.2f} MiB  -> {result:,}")
    return elapsed, peak


def main(count: int = 1_000_000) -> None:
    """Print time and peak memory of the engine and of pandas on `count` entries, and the engine at a tenth."""
    print(f"group_by [project_id, user_id], view time_fees_hours_and_amounts, {PROJECTS * PEOPLE:,} possible groups")
    measure("generating entries only", run_generator_only, count)
    _, small_peak = measure("engine (streaming, Decimal)", run_engine, count // 10)
    engine_time, engine_peak = measure("engine (streaming, Decimal)", run_engine, count)
    pandas_time, pandas_peak = measure("pandas (DataFrame + groupby, float)", run_pandas, count)
    print(
        f"engine vs pandas: {pandas_time / engine_time:.2f}x the speed, "
        f"{pandas_peak / max(engine_peak, 1):.1f}x less peak memory; "
        f"engine peak at {count // 10:,} vs {count:,} entries: "
        f"{small_peak / 2**20:.2f} vs {engine_peak / 2**20:.2f} MiB"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
