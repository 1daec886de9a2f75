"""Benchmark: rendering a big report, CSV and email, and what the size rules decide for it.

Run with `.venv/bin/python -m bench.bench_render [ROWS]` (default 50,000 rows, two group levels, hours view).
Prints the time and peak memory of `render_csv`, the CSV and gzip sizes, the attachment mode chosen for a
10 MB limit, and the time and size of the built message.
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from datetime import UTC, date, datetime
from decimal import Decimal

from timereports.models.report import Cell, Period, ReportTable
from timereports.render.addressing import Addressing
from timereports.render.csv import render_csv
from timereports.render.email import build_messages, choose_attachment_mode, gzip_csv, message_size

METRICS = ("incurred_hours", "billable_hours", "nonbillable_hours", "entries")


def big_table(row_count: int) -> ReportTable:
    """A report grouped by project and person with accented, quoted and formula-like names."""
    names = ["Zoë Ämtmann", 'Café "Olé", Lisboa', "=cmd|' /C calc'!A0", "Jean-François Lefèvre", "Ana"]
    rows: list[dict[str, Cell]] = [
        {
            "project_id": 1000 + index // 50,
            "project_name": f"Project {index // 50} — client work, phase {index % 7}",
            "user_id": index % 50,
            "user_name": names[index % len(names)],
            "incurred_hours": Decimal(index % 4000) / 100,
            "billable_hours": Decimal(index % 3000) / 100,
            "nonbillable_hours": Decimal(index % 1000) / 100,
            "entries": index % 40 + 1,
        }
        for index in range(row_count)
    ]
    totals: dict[str, Decimal | int] = {
        column: sum((Decimal(str(row[column])) for row in rows), Decimal(0)) for column in METRICS[:3]
    }
    totals["entries"] = sum(int(str(row["entries"])) for row in rows)
    return ReportTable(
        report_id="bench",
        title="Benchmark report",
        view="time_fees_hours",
        period=Period(date(2026, 1, 1), date(2026, 12, 31)),
        group_by=("project_id", "user_id"),
        columns=("project_id", "project_name", "user_id", "user_name", *METRICS),
        metric_columns=METRICS,
        rows=rows,
        totals=totals,
        entries=int(totals["entries"]),
    )


def main() -> None:
    # `python -m bench.bench_render 20000` sets the size; under `python -m bench` the arguments are module names.
    row_count = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 50_000
    table = big_table(row_count)

    started = time.perf_counter()
    csv_bytes = render_csv(table)
    csv_seconds = time.perf_counter() - started
    # Memory in a second pass: tracemalloc slows the code it watches several times over.
    tracemalloc.start()
    render_csv(table)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    started = time.perf_counter()
    gzipped = gzip_csv(csv_bytes)
    gzip_seconds = time.perf_counter() - started
    mode = choose_attachment_mode(len(csv_bytes), 10 * 1024 * 1024, "auto", gzipped_size=len(gzipped))

    started = time.perf_counter()
    [outgoing] = build_messages(
        table,
        csv_bytes,
        sender="reports@example.com",
        addressing=Addressing(to=["ops@example.com"]),
        mode=mode,
        sent_at=datetime.now(UTC),
    )
    size = message_size(outgoing)
    email_seconds = time.perf_counter() - started

    print(f"rows: {row_count:,}")
    print(
        f"render_csv: {csv_seconds * 1000:.0f} ms ({row_count / csv_seconds:,.0f} rows/s), peak {peak / 2**20:.1f} MiB"
    )
    print(
        f"csv: {len(csv_bytes) / 2**20:.2f} MiB, gzip: {len(gzipped) / 2**20:.2f} MiB in {gzip_seconds * 1000:.0f} ms"
    )
    print(f"mode for a 10 MB limit: {mode}")
    print(f"build_messages + serialise: {email_seconds * 1000:.0f} ms, message {size / 2**20:.2f} MiB")


if __name__ == "__main__":
    main()
