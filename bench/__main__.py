"""Run every benchmark in turn; each prints its own figures."""

from __future__ import annotations

import importlib
import platform
import sys
import time

BENCHMARKS = [
    "bench.bench_startup",
    "bench.bench_aggregate",
    "bench.bench_render",
    "bench.bench_pull",
    "bench.bench_end_to_end",
    "bench.bench_mirror",
]


def main() -> int:
    machine = f"Python {platform.python_version()} on {platform.machine()}"
    print(f"# timereports benchmarks — {machine}, {time.strftime('%Y-%m-%d')}")
    for name in sys.argv[1:] or BENCHMARKS:
        print(f"\n## {name}", flush=True)
        importlib.import_module(name).main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
