"""`timereports doctor` and `--stack`, run as an operator runs them: a subprocess against moto and the simulator.

The doctor reads local AWS when AWS_ENDPOINT_URL is set and no stack is named, else the stack's outputs; either way
each part gets one line, ✓ or ✗ with its fix, and the exit code says whether anything needs attention.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from timereports_dev.dataset import ADMIN_TOKEN, MANAGER_TOKEN
from timereports_dev.local_aws import LOCAL_DEFAULTS
from timereports_dev.stack import read_stack

from tests.fixtures.aws import TEST_REGION, TEST_SETTINGS, LocalAws, reset_moto
from timereports.config import Settings
from timereports.dal.dispatch_state import DynamoDBReportStates
from timereports.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]
DOCTOR_FAILED = 8
SECRET_NAME = "timereports/intervals-token"


def timereports(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Only what the test names: a developer's STATE_TABLE or token must not leak into the run.
    base = {name: value for name, value in os.environ.items() if not name.startswith(("INTERVALS_", "STATE_", "SES_"))}
    return subprocess.run(
        [sys.executable, "-m", "timereports_dev.cli", *args],
        capture_output=True,
        text=True,
        env=base | env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def lines_by_part(stdout: str) -> dict[str, str]:
    """The doctor's lines, by the part each names (the words after the mark, before the column of details)."""
    parts = {}
    for line in stdout.splitlines():
        mark, rest = line.split(" ", 1)
        parts[rest[:21].strip()] = f"{mark} {rest[21:].strip()}"
    return parts


@pytest.fixture
def names(moto_endpoint: str) -> dict[str, str]:
    """The environment naming the test's resources in local AWS (which may or may not exist yet)."""
    return {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "STATE_TABLE": TEST_SETTINGS["state_table"],
        "REPORTS_BUCKET": TEST_SETTINGS["reports_bucket"],
        "SENDER_EMAIL": TEST_SETTINGS["sender_email"],
    }


def test_doctor_on_an_empty_account_names_the_table_the_bucket_and_the_sender(
    moto_endpoint: str, names: dict[str, str], simulator: Any
) -> None:
    # Given an account where nothing was created yet
    reset_moto(moto_endpoint)
    # When the doctor checks it
    result = timereports("doctor", "--api-url", simulator.url, env=names | {"INTERVALS_API_TOKEN": ADMIN_TOKEN})
    # Then it fails, naming each missing part on stderr in one line, without a traceback
    assert result.returncode == DOCTOR_FAILED, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    (summary,) = result.stderr.strip().splitlines()
    for part in ("state table", "reports bucket", "SES sender identity", "run queues"):
        assert part in summary
    # And each part has its line: ✗ with the fix for the missing ones
    parts = lines_by_part(result.stdout)
    assert parts["state table"].startswith("✗ test-timereports-state: missing -> ")
    assert parts["reports bucket"].startswith("✗ test-timereports-reports: missing")
    assert parts["SES sender identity"].startswith("✗ reports@example.com: not an SES identity")
    assert "create-email-identity --email-identity example.com" in parts["SES sender identity"]
    # And the token is not tried while the ledger it reserves requests in is missing (no quota spent unledgered)
    assert parts["Intervals token"].startswith("- INTERVALS_API_TOKEN; not checked")
    assert simulator.request_log == []


def test_doctor_passes_on_what_local_creates(names: dict[str, str], simulator: Any) -> None:
    # Given the resources a `--local` command creates
    created = timereports("history", "weekly-hours-by-project", "--local", env=names)
    assert created.returncode == 0, created.stderr
    # When the doctor checks that local AWS with an Administrator's token
    result = timereports("doctor", "--api-url", simulator.url, env=names | {"INTERVALS_API_TOKEN": ADMIN_TOKEN})
    # Then every part is ✓ (or, for what local AWS has not, skipped), and it exits 0
    assert result.returncode == 0, result.stdout + result.stderr
    parts = lines_by_part(result.stdout)
    assert set(parts) == {
        "state table",
        "reports bucket",
        "SES sender identity",
        "SES sending",
        "SES configuration set",
        "Intervals token",
        "Intervals quota today",
        "run queues",
        "schedules",
        "report catalogue",
        "paused reports",
    }
    assert all(line[0] in "✓-" for line in parts.values()), result.stdout
    assert parts["state table"] == "✓ test-timereports-state: exists, TTL on expires_at"
    assert parts["reports bucket"] == "✓ test-timereports-reports: exists, private, encrypted (AES256)"
    assert parts["SES sender identity"] == "✓ reports@example.com: verified, DKIM signing for example.com"
    assert parts["Intervals token"].startswith("✓ INTERVALS_API_TOKEN: valid, ")
    assert parts["Intervals token"].endswith("(Administrator)")
    assert parts["Intervals quota today"].startswith("✓ 1 of 6000 requests used")  # the doctor's own GET /me/
    assert parts["run queues"].startswith("✓ timereports-runs: 0 queued, dead-letter queue after 3 receives")
    assert parts["schedules"].startswith("- local AWS has none")
    assert parts["report catalogue"].startswith("- reports: local AWS sends to nobody")
    assert parts["paused reports"] == "✓ none of the 5 reports is paused"


def test_doctor_names_a_paused_report_and_how_to_resume_it(names: dict[str, str], simulator: Any, aws: Any) -> None:
    # Given local AWS, and the weekly report paused after three failed runs
    assert timereports("history", "weekly-hours-by-project", "--local", env=names).returncode == 0
    states = DynamoDBReportStates(aws.settings.state_table, aws.dynamodb)
    states.pause("weekly-hours-by-project", "3 failed runs in a row; last: Intervals refused the token")
    # When the doctor checks / Then it names the report, why it is paused and the command that resumes it; exit 8
    result = timereports("doctor", "--api-url", simulator.url, env=names | {"INTERVALS_API_TOKEN": ADMIN_TOKEN})
    assert result.returncode == 8
    line = lines_by_part(result.stdout)["paused reports"]
    assert line.startswith("✗ sending nothing: weekly-hours-by-project (3 failed runs in a row; last: Intervals")
    assert "timereports resume weekly-hours-by-project --local" in result.stdout


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("Revoked0000", "✗ INTERVALS_API_TOKEN: refused by"),
        (MANAGER_TOKEN, "✗ INTERVALS_API_TOKEN: valid, but"),
    ],
)
def test_doctor_names_a_revoked_or_too_weak_token(
    aws: LocalAws, names: dict[str, str], simulator: Any, token: str, expected: str
) -> None:
    # Given local AWS set up, and a token Intervals refuses (or a Manager's)
    # When the doctor checks
    result = timereports("doctor", "--api-url", simulator.url, env=names | {"INTERVALS_API_TOKEN": token})
    # Then only the token fails, with what to do about it
    assert result.returncode == DOCTOR_FAILED
    assert result.stderr.strip() == "timereports: doctor: 1 parts need attention: Intervals token"
    line = lines_by_part(result.stdout)["Intervals token"]
    assert line.startswith(expected)
    assert "->" in line
    assert token not in result.stdout + result.stderr  # never the token


def outputs_stack(aws: LocalAws, name: str, parameters: dict[str, str] | None = None) -> None:
    """A stack in local AWS whose outputs name the test's resources as the real stack's would, with `parameters`
    (moto cannot run the SAM transform, so the stack carries only what `--stack` reads)."""
    settings = aws.settings
    outputs = {
        "StateTableName": settings.state_table,
        "ReportsBucketName": settings.reports_bucket,
        "ReportRunQueueUrl": str(settings.report_queue_url),
        "IntervalsTokenSecretName": SECRET_NAME,
        "SenderEmail": settings.sender_email,
        "EmailConfigurationSetName": str(settings.ses_configuration_set),
        "Region": TEST_REGION,
    }
    given = parameters or {}
    template = {
        "Parameters": {key: {"Type": "String"} for key in given},
        "Resources": {"Placeholder": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    aws.client("cloudformation").create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in given.items()],
    )


def test_a_command_against_the_stack_runs_with_its_quota_pacing_accounts_and_mirror_switch(aws: LocalAws) -> None:
    # Given a stack deployed with its own quota, pacing, page size, an extra account and the mirror off
    accounts = {"acme": {"token_secret": "timereports/acme-token", "daily_quota": 12000}}
    outputs_stack(
        aws,
        "reports-tuned",
        {
            "DailyQuota": "12000",
            "QuotaReserve": "250",
            "RequestsPerMinute": "20",
            "PageSize": "500",
            "IntervalsAccounts": json.dumps(accounts),
            "MirrorEnabled": "false",
            "MirrorFullRepullDays": "3",
            "OwnerEmail": "it@yourcompany.com",
        },
    )
    # When the command line reads the stack
    stack = read_stack("reports-tuned", aws.client("cloudformation"))
    settings = stack.apply(Settings.from_environ({}, LOCAL_DEFAULTS))
    # Then its settings are the deployment's, not the local defaults
    assert (settings.intervals_daily_quota, settings.intervals_quota_reserve) == (12000, 250)
    assert (settings.intervals_requests_per_minute, settings.intervals_page_size) == (20, 500)
    assert (settings.mirror_enabled, settings.mirror_full_repull_days) == (False, 3)
    assert settings.owner_email == "it@yourcompany.com"
    assert settings.account("acme").daily_quota == 12000
    assert settings.state_table == aws.settings.state_table


def test_a_stack_parameter_the_settings_refuse_is_one_line_naming_it(aws: LocalAws) -> None:
    outputs_stack(aws, "reports-bad", {"PageSize": "1"})
    stack = read_stack("reports-bad", aws.client("cloudformation"))
    with pytest.raises(ConfigurationError, match=r"^--stack: the stack 'reports-bad' gives INTERVALS_PAGE_SIZE a bad"):
        stack.apply(Settings.from_environ({}, LOCAL_DEFAULTS))


def test_doctor_and_history_read_the_names_from_the_stack(aws: LocalAws, simulator: Any) -> None:
    # Given a stack whose outputs name the resources, and the token in its secret; the environment names nothing
    outputs_stack(aws, "reports-prod")
    aws.client("secretsmanager").create_secret(Name=SECRET_NAME, SecretString=ADMIN_TOKEN)
    env = {"AWS_ENDPOINT_URL": aws.endpoint}
    # When the doctor checks the stack
    result = timereports(
        "doctor", "--stack", "reports-prod", "--region", TEST_REGION, "--api-url", simulator.url, env=env
    )
    parts = lines_by_part(result.stdout)
    # Then it found the table, bucket, queue and sender by the stack's outputs, and the token in the secret
    assert parts["state table"].startswith("✓ test-timereports-state")
    assert parts["reports bucket"].startswith("✓ test-timereports-reports")
    assert parts["Intervals token"].startswith(f"✓ secret {SECRET_NAME}: valid")
    # And what this stack lacks (its schedules) is named, with the fix
    assert result.returncode == DOCTOR_FAILED
    assert "schedules" in result.stderr
    assert f"sam deploy --stack-name reports-prod --region {TEST_REGION}" in parts["schedules"]
    # And so are the sample reports still in the catalogue the build ships, by their example addresses
    assert "report catalogue" in result.stderr
    catalogue = parts["report catalogue"]
    assert catalogue.startswith("✗ reports: sends to example addresses")
    assert "weekly-hours-by-project to it@example.com, ops@example.com" in catalogue
    assert "replace the sample definitions in reports/ with your own" in catalogue
    # And `history` finds the same table through the stack
    history = timereports("history", "weekly-hours-by-project", "--stack", "reports-prod", env=env)
    assert (history.returncode, history.stdout) == (0, "")
    assert history.stderr == "timereports: no runs are recorded for report 'weekly-hours-by-project'\n"


def test_a_stack_that_does_not_exist_is_one_line(aws: LocalAws) -> None:
    # Given no stack of that name / When a command reads it / Then one line names the stack and region
    result = timereports(
        "history", "x", "--stack", "nope", "--region", TEST_REGION, env={"AWS_ENDPOINT_URL": aws.endpoint}
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"timereports: --stack: no stack 'nope' in region {TEST_REGION}; "
        "deploy it (README, Deploying) or pass --stack/--region"
    )
