"""`make demo`: a real weekly report, end to end, with no AWS account and no Intervals account.

The embedded simulator serves a seeded year of an agency's time; moto plays S3, SES and DynamoDB;
the run goes through exactly the code the Lambda runs. The CSV, the raw email and run.json land in
`--out`.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from timereports_dev.cli import main as cli_main

DEMO_REPORT = Path("reports/weekly-hours-by-project.yaml")
DEMO_TODAY = date(2026, 11, 23)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m timereports_dev.demo")
    parser.add_argument("--out", type=Path, default=Path("out"))
    parser.add_argument("--report", type=Path, default=DEMO_REPORT)
    parser.add_argument("--today", default=DEMO_TODAY.isoformat())
    args = parser.parse_args(argv)
    code = cli_main(["run", str(args.report), "--today", args.today, "--local", "--out", str(args.out)])
    if code == 0:
        print(f"\nThe demo report is in {args.out}/:", file=sys.stderr)
        for path in sorted(args.out.iterdir()):
            if path.is_file():
                print(f"  {path}  ({path.stat().st_size:,} bytes)", file=sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
