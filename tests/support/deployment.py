"""What a test does after changing the deployed environment: the handlers build their settings and services once per
warm container, so a test that changes a variable starts a new "container"."""

from __future__ import annotations

from timereports.config import get_settings


def redeploy() -> None:
    """Forget the settings and every handler's container-lifetime objects (as a new deployment would)."""
    from functions.dispatch import app as dispatch_app
    from functions.email_feedback import app as email_feedback_app
    from functions.reports_api import app as reports_api_app
    from functions.run_report import app as run_report_app

    get_settings.cache_clear()
    run_report_app.run_service.cache_clear()
    run_report_app.retry_queue.cache_clear()
    dispatch_app.dispatcher.cache_clear()
    reports_api_app.reports_service.cache_clear()
    email_feedback_app.feedback_log.cache_clear()
