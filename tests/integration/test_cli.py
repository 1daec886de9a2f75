"""The `timereports` command, run as a person runs it: a subprocess, local AWS (moto) and the simulator.

Every failure is one line on stderr with its exit code, no traceback, and nothing half-sent.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from timereports_dev.dataset import ADMIN_TOKEN

from timereports.dal.dispatch_state import DynamoDBReportStates
from timereports.logic.ports import ReportState

ROOT = Path(__file__).resolve().parents[2]
WEEKLY = ROOT / "reports" / "weekly-hours-by-project.yaml"


def timereports(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "timereports_dev.cli", *args],
        capture_output=True,
        text=True,
        env=(os.environ | (env or {})),
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def assert_one_clean_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture
def local_env(aws: Any, simulator: Any) -> dict[str, str]:
    """moto (the session's server, so several processes share it) and the simulator, as a person would export them."""
    return {
        "AWS_ENDPOINT_URL": aws.endpoint,
        "STATE_TABLE": aws.settings.state_table,
        "REPORTS_BUCKET": aws.settings.reports_bucket,
        "SENDER_EMAIL": aws.settings.sender_email,
        "INTERVALS_API_TOKEN": ADMIN_TOKEN,
    }


def test_resume_unpauses_a_paused_report_and_forgets_its_failures(local_env: dict[str, str], aws: Any) -> None:
    # Given a report paused after three failed runs in a row (as the run side leaves it)
    states = DynamoDBReportStates(aws.settings.state_table, aws.dynamodb)
    for _ in range(3):
        states.record_failure("weekly-hours-by-project")
    states.pause("weekly-hours-by-project", "3 failed runs in a row; last: Intervals refused the token")
    # When the operator resumes it
    result = timereports("resume", "weekly-hours-by-project", env=local_env)
    # Then it says what it resumed from, and the report is running again with no failures counted
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("resumed weekly-hours-by-project (was paused: 3 failed runs in a row")
    assert states.get("weekly-hours-by-project") == ReportState()
    # And resuming a report with nothing to resume (a typo) says so and writes nothing
    again = timereports("resume", "weekly-hours-by-projekt", env=local_env)
    assert again.returncode == 0
    assert "nothing to resume" in again.stderr
    item = aws.dynamodb.get_item(
        TableName=aws.settings.state_table, Key={"pk": {"S": "report#weekly-hours-by-projekt"}, "sk": {"S": "state"}}
    )
    assert "Item" not in item


def test_validate_accepts_the_catalogue() -> None:
    result = timereports("validate", "reports/")
    assert result.returncode == 0, result.stderr
    assert "weekly-hours-by-project" in result.stdout


def test_validate_names_the_field_and_allowed_values(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad\ntitle: Bad\nview: utilization\ngroup_by: [project_id]\n", encoding="utf-8")

    result = timereports("validate", str(bad))

    assert result.returncode == 2
    line = assert_one_clean_line(result)
    assert "view" in line
    assert "time_fees_hours" in line


@pytest.mark.parametrize("today", ["9999-12-01", "0001-01-02"])
def test_a_today_outside_the_supported_dates_is_one_line_exit_2(today: str) -> None:
    result = timereports("run", "reports/weekly-hours-by-project.yaml", "--today", today, "--local")
    assert result.returncode == 2
    assert "is outside the supported dates, 2000-01-01 to 2099-12-31" in assert_one_clean_line(result)


def test_run_writes_csv_email_and_summary(local_env: dict[str, str], simulator: Any, tmp_path: Path) -> None:
    result = timereports(
        "run", str(WEEKLY), "--today", "2026-11-23", "--local", "--api-url", simulator.url, "--out", str(tmp_path),
        env=local_env,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "run.json").read_text())
    assert summary["status"] == "delivered"
    assert (summary["period_from"], summary["period_to"]) == ("2026-11-16", "2026-11-22")
    assert summary["api_requests"] >= 1
    assert summary["quota_limit"] == 6000
    csv_bytes = (tmp_path / "weekly-hours-by-project.csv").read_bytes()
    assert csv_bytes.startswith(b"\xef\xbb\xbf")
    assert b"TOTAL" in csv_bytes
    assert (tmp_path / "weekly-hours-by-project.eml").read_bytes().startswith(b"")
    assert summary["s3_key"].endswith(".csv")


def test_same_scheduled_run_delivers_once_unless_forced(
    local_env: dict[str, str], simulator: Any, aws: Any, tmp_path: Path
) -> None:
    args = ["run", str(WEEKLY), "--today", "2026-11-23", "--local", "--api-url", simulator.url]
    args += ["--scheduled-at", "2026-11-23T06:00:00Z", "--out", str(tmp_path)]

    first = timereports(*args, env=local_env)
    second = timereports(*args, env=local_env)
    forced = timereports(*args, "--force", env=local_env)

    assert [first.returncode, second.returncode, forced.returncode] == [0, 0, 0], second.stderr
    assert json.loads(second.stdout)["status"] == "already_delivered"
    assert len(aws.sent_emails()) == 2


def test_bad_token_is_one_line_exit_3_and_no_email(
    local_env: dict[str, str], simulator: Any, aws: Any, tmp_path: Path
) -> None:
    result = timereports(
        "run", str(WEEKLY), "--today", "2026-11-23", "--local", "--api-url", simulator.url, "--out", str(tmp_path),
        env=local_env | {"INTERVALS_API_TOKEN": "Revoked0000"},
    )  # fmt: skip

    assert result.returncode == 3
    line = assert_one_clean_line(result)
    assert "Revoked0000" not in line
    assert not (tmp_path / "weekly-hours-by-project.eml").exists()
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "failed"
    assert aws.sent_emails() == []


def test_unreachable_api_is_one_line_exit_5(local_env: dict[str, str], tmp_path: Path) -> None:
    result = timereports(
        "run", str(WEEKLY), "--today", "2026-11-23", "--local", "--api-url", "http://127.0.0.1:9",
        "--out", str(tmp_path),
        env=local_env | {"INTERVALS_MAX_RETRY_SECONDS": "2"},
    )  # fmt: skip

    assert result.returncode == 5
    assert_one_clean_line(result)
    assert not (tmp_path / "weekly-hours-by-project.eml").exists()


def test_spent_quota_is_one_line_exit_4_naming_the_reset(
    local_env: dict[str, str], simulator: Any, tmp_path: Path
) -> None:
    # Given an account whose whole allowance (the API's 6,000, learned from /quota/) is kept in reserve
    result = timereports(
        "run", str(WEEKLY), "--today", "2026-11-23", "--local", "--api-url", simulator.url, "--out", str(tmp_path),
        env=local_env | {"INTERVALS_QUOTA_RESERVE": "6000"},
    )  # fmt: skip

    assert result.returncode == 4
    line = assert_one_clean_line(result)
    assert "quota" in line.lower()
    assert "00:00" in line
    assert simulator.requests_counted == 0


def test_revisions_prints_one_line_per_revision_and_writes_its_email(
    local_env: dict[str, str], simulator: Any, tmp_path: Path
) -> None:
    # Given the weekly catalogue report delivered as its scheduled Monday run
    catalogue = tmp_path / "reports"
    catalogue.mkdir()
    (catalogue / WEEKLY.name).write_bytes(WEEKLY.read_bytes())
    delivered = timereports(
        "run", str(WEEKLY), "--today", "2026-11-23", "--scheduled-at", "2026-11-23T06:00:00Z",
        "--local", "--api-url", simulator.url, "--out", str(tmp_path / "run"), env=local_env,
    )  # fmt: skip
    assert delivered.returncode == 0, delivered.stderr
    # When an entry of that week is deleted and the check runs a day later (as of the delivery's own clock)
    week = [entry for entry in simulator.time_entries() if "2026-11-16" <= entry["date"].isoformat() <= "2026-11-22"]
    simulator.delete_time_entry(week[0]["id"])
    delivered_at = json.loads((tmp_path / "run" / "run.json").read_text())["finished_at"]
    at = (datetime.fromisoformat(delivered_at) + timedelta(days=1)).isoformat()
    result = timereports(
        "revisions", "--at", at, "--catalogue", str(catalogue), "--local", "--api-url", simulator.url,
        "--out", str(tmp_path / "revisions"), env=local_env,
    )  # fmt: skip
    # Then it printed one JSON line with the contract's fields, and left the revision's .eml
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    revision = json.loads(line)
    assert set(revision) == {"report_id", "scheduled_at", "from", "to", "changed_rows", "hours_before", "hours_after"}
    assert (revision["report_id"], revision["from"], revision["to"]) == (WEEKLY.stem, "2026-11-16", "2026-11-22")
    assert revision["changed_rows"] >= 1
    (eml,) = (tmp_path / "revisions").glob("*.eml")
    assert b"Subject: Revised: " in eml.read_bytes()
    # And run again, it sends nothing more
    again = timereports(
        "revisions", "--at", at, "--catalogue", str(catalogue), "--local", "--api-url", simulator.url, env=local_env
    )
    assert (again.returncode, again.stdout) == (0, "")


# --- a person's mistakes are one line naming what is wrong, exit 2 (never "internal error") --------------------------

# Root reads any folder whatever its mode: without these capabilities it is refused like anyone else.
WITHOUT_READ_OVERRIDE = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", "--"]


def _as_a_user_refused_by_modes() -> list[str]:
    """The prefix that makes the command subject to file modes (none when not root), or skip where none can."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: no way to be refused a read")
    probe = subprocess.run([*WITHOUT_READ_OVERRIDE, "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"setpriv cannot drop the read override here: {probe.stderr.decode().strip()}")
    return WITHOUT_READ_OVERRIDE


@pytest.mark.parametrize(
    ("option", "value", "why"), [("--entries", "-5", "-5 is below 0"), ("--seed", "x", "invalid int value")]
)
def test_the_simulator_refuses_an_impossible_option_exit_2_naming_it(option: str, value: str, why: str) -> None:
    # Given a negative number of entries (or a seed that is no number) / Then nothing is served: one line names it
    result = timereports("simulator", "--port", "0", option, value)
    assert result.returncode == 2, result.stderr
    assert f"argument {option}: " in result.stderr
    assert why in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("inside", [False, True], ids=["the-folder", "a-file-in-it"])
def test_validate_an_unreadable_folder_is_one_line_exit_2(tmp_path: Path, inside: bool) -> None:
    # Given a folder of definitions that cannot be read (mode 000), as a user the mode refuses
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "weekly.yaml").write_bytes(WEEKLY.read_bytes())
    locked.chmod(0)
    target = locked / "weekly.yaml" if inside else locked
    try:
        result = subprocess.run(
            [*_as_a_user_refused_by_modes(), sys.executable, "-m", "timereports_dev.cli", "validate", str(target)],
            capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
        )  # fmt: skip
    finally:
        locked.chmod(0o700)
    # Then it names the path and the OS's reason
    assert result.returncode == 2, result.stderr
    line = assert_one_clean_line(result)
    assert str(target) in line
    assert "Permission denied" in line
    assert "internal error" not in line


def test_run_with_an_out_that_is_a_file_is_one_line_exit_2_and_sends_nothing(
    local_env: dict[str, str], simulator: Any, aws: Any, tmp_path: Path
) -> None:
    a_file = tmp_path / "passwd"
    a_file.write_text("root:x:0:0::/root:/bin/sh\n", encoding="utf-8")
    for out, reason in [(a_file, "Not a directory"), (a_file / "under", "Not a directory"), (Path("/proc/nope"), "")]:
        result = timereports(
            "run", str(WEEKLY), "--today", "2026-11-23", "--local", "--api-url", simulator.url, "--out", str(out),
            env=local_env,
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        line = assert_one_clean_line(result)
        assert f"--out {out}: cannot write the run's files there: {reason}" in line
    assert a_file.read_text(encoding="utf-8") == "root:x:0:0::/root:/bin/sh\n"
    assert aws.sent_emails() == []


def test_pull_to_a_directory_is_one_line_exit_2(local_env: dict[str, str], simulator: Any, tmp_path: Path) -> None:
    result = timereports(
        "pull", "--from", "2026-11-16", "--to", "2026-11-22", "--local", "--api-url", simulator.url,
        "--out", str(tmp_path), env=local_env,
    )  # fmt: skip

    assert result.returncode == 2, result.stderr
    assert f"--out {tmp_path}: cannot write the entries there: Is a directory" in assert_one_clean_line(result)
    assert simulator.requests_counted == 0


@pytest.mark.parametrize("command", ["serve", "simulator"])
@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_a_port_outside_0_to_65535_is_refused_at_parsing(command: str, port: str) -> None:
    result = timereports(command, "--port", port, env={"TIMEREPORTS_API_KEY": "k" * 32})

    assert result.returncode == 2
    assert f"argument --port: '{port}' is not a port (0 to 65535" in assert_one_clean_line(result)


@pytest.mark.parametrize("command", ["serve", "simulator"])
def test_a_port_in_use_is_one_line_naming_it(command: str, local_env: dict[str, str], simulator: Any) -> None:
    # Given a port something else listens on
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        extra = ["--api-url", simulator.url] if command == "serve" else ["--entries", "10"]
        result = timereports(command, "--port", str(port), *extra, env=local_env | {"TIMEREPORTS_API_KEY": "k" * 32})
    assert result.returncode == 2, result.stderr
    line = assert_one_clean_line(result)
    assert line == f"timereports: --port {port}: cannot listen on 127.0.0.1:{port}: Address already in use"


def test_history_limit_below_one_is_refused_at_parsing(local_env: dict[str, str]) -> None:
    result = timereports("history", "weekly-hours-by-project", "--limit", "0", env=local_env)

    assert result.returncode == 2
    assert "argument --limit: '0' is not a whole number of 1 or more" in assert_one_clean_line(result)


def test_validate_an_empty_folder_is_exit_2_naming_it(tmp_path: Path) -> None:
    result = timereports("validate", str(tmp_path))

    assert result.returncode == 2
    assert (result.stdout, assert_one_clean_line(result)) == (
        "",
        f"{tmp_path}: no report definitions in it (no .yaml, .yml, .json files)",
    )


def test_dispatch_over_an_empty_catalogue_is_exit_2_naming_it(local_env: dict[str, str], tmp_path: Path) -> None:
    # An empty catalogue can never enqueue a run: a tick over it is a wrong --catalogue, not a quiet success
    result = timereports("dispatch", "--at", "2026-11-23T06:05:00Z", "--catalogue", str(tmp_path), env=local_env)

    assert result.returncode == 2
    line = assert_one_clean_line(result)
    assert line == f"timereports: {tmp_path}: no report definitions in it (no .yaml, .yml, .json files)"
    assert result.stdout == ""


def test_history_of_a_report_without_runs_says_so_exit_0(local_env: dict[str, str]) -> None:
    result = timereports("history", "nope-report", env=local_env)

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert assert_one_clean_line(result) == "timereports: no runs are recorded for report 'nope-report'"


@pytest.mark.parametrize("url", ["notaurl", "ftp://intervals.example", "http://", "http://host:99999", "//host"])
def test_an_api_url_that_is_not_http_with_a_host_is_refused_at_parsing(url: str, local_env: dict[str, str]) -> None:
    result = timereports("run", str(WEEKLY), "--today", "2026-11-23", "--local", "--api-url", url, env=local_env)

    assert result.returncode == 2
    line = assert_one_clean_line(result)
    assert f"argument --api-url: '{url}' is not an http:// or https:// URL with a host" in line


def test_serve_refuses_a_catalogue_dir_that_does_not_exist(local_env: dict[str, str], simulator: Any) -> None:
    result = timereports(
        "serve", "--api-url", simulator.url, "--port", "0",
        env=local_env | {"TIMEREPORTS_API_KEY": "k" * 32, "CATALOGUE_DIR": "/nope"},
    )  # fmt: skip

    assert result.returncode == 2
    assert assert_one_clean_line(result) == "timereports: CATALOGUE_DIR: /nope: not a directory of report definitions"


def test_a_split_slice_naming_no_record_is_one_line_exit_2_and_sends_nothing(
    local_env: dict[str, str], simulator: Any, tmp_path: Path
) -> None:
    # Given a definition split by client, one slice a client the account does not have
    spec = tmp_path / "split.yaml"
    spec.write_text(
        "id: split\ntitle: Split\nview: time_fees_hours\ntime_frame: last_week\ngroup_by: [project_id]\n"
        'delivery:\n  to: [ops@example.com]\n  split: {by: client, to: {"Nonexistent": [a@example.com]}}\n',
        encoding="utf-8",
    )
    # When it is run / Then one line names the slice, exit 2, and no email or file was written
    result = timereports(
        "run", str(spec), "--today", "2026-11-23", "--api-url", simulator.url, "--out", str(tmp_path / "out"),
        env=local_env,
    )  # fmt: skip
    assert result.returncode == 2
    assert assert_one_clean_line(result) == (
        "timereports: delivery.split.to['Nonexistent']: 'Nonexistent' names no client of the account"
    )
    assert not list((tmp_path / "out").glob("*.eml"))


@pytest.mark.parametrize("at", ["9999-12-31T23:00:00-05:00", "1999-12-31T23:00:00Z"])
def test_an_instant_outside_the_supported_dates_is_one_line_exit_2(at: str) -> None:
    result = timereports("dispatch", "--at", at, "--local")
    assert result.returncode == 2
    assert "is outside the supported dates, 2000-01-01 to 2099-12-31" in assert_one_clean_line(result)


def test_a_tick_ahead_of_the_clock_is_one_line_exit_2() -> None:
    # A tick in the future would send runs early, over periods not ended, and leave the real ticks nothing to do
    result = timereports("dispatch", "--at", "2099-01-05T06:05:00Z", "--local")
    assert result.returncode == 2
    assert "at: 2099-01-05T06:05:00+00:00 is ahead of the clock" in assert_one_clean_line(result)


def test_validate_refuses_a_key_given_twice_in_one_line_exit_2(tmp_path: Path) -> None:
    # Given the weekly definition with a second `to:` in its delivery
    text = WEEKLY.read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("  cc: []", "  to: [a@example.com]"), encoding="utf-8")
    # When it is validated / Then it is one line naming the file, the line and the key, and exit 2
    result = timereports("validate", str(bad))
    assert result.returncode == 2
    line = assert_one_clean_line(result)
    lines = [number for number, text in enumerate(bad.read_text(encoding="utf-8").splitlines(), 1) if "  to:" in text]
    assert line == f"{bad}: line {lines[1]}: delivery.to appears twice (first on line {lines[0]}); keep one of them"
