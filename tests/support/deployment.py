"""What a test does after changing the deployed environment: the handlers build their settings and services once per
warm container, so a test that changes a variable starts a new "container"."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from timereports_dev.dataset import ADMIN_TOKEN

from functions.dispatch import app as dispatch_app
from functions.email_feedback import app as email_feedback_app
from functions.reports_api import app as reports_api_app
from functions.run_report import app as run_report_app
from timereports.config import get_settings

CATALOGUE = Path(__file__).resolve().parents[2] / "reports"


def deploy_environment(monkeypatch: pytest.MonkeyPatch, environment: Mapping[str, str]) -> None:
    """Give the functions `environment` (each variable set for the test) and start new containers (`redeploy`)."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    redeploy()


def redeploy() -> None:
    """Forget the settings and every handler's container-lifetime objects (as a new deployment would)."""
    get_settings.cache_clear()
    run_report_app.run_service.cache_clear()
    run_report_app.sync_service.cache_clear()
    run_report_app.retry_queue.cache_clear()
    run_report_app.revision_check.cache_clear()
    dispatch_app.dispatcher.cache_clear()
    reports_api_app.reports_service.cache_clear()
    email_feedback_app.feedback_log.cache_clear()


def function_environment(aws: Any, simulator: Any, **overrides: str) -> dict[str, str]:
    """The environment template.yaml gives the functions, naming the test's moto resources and simulator."""
    return {
        "STATE_TABLE": aws.settings.state_table,
        "REPORTS_BUCKET": aws.settings.reports_bucket,
        "SENDER_EMAIL": aws.settings.sender_email,
        "REPORT_QUEUE_URL": aws.settings.report_queue_url or "",
        "INTERVALS_API_URL": simulator.url,
        "INTERVALS_API_TOKEN": ADMIN_TOKEN,
        "CATALOGUE_DIR": str(CATALOGUE),
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "timereports",
        "POWERTOOLS_METRICS_NAMESPACE": "Timereports",
        **overrides,
    }
