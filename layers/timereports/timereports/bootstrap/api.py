"""The reports_api handler's use case: rows and totals over the catalogue and the accounts' time sources."""

from __future__ import annotations

from timereports.bootstrap.sources import ANSWER_MARGIN_SECONDS, account_sources
from timereports.config import Settings
from timereports.logic.reports_api import ReportsApiService
from timereports.models.catalogue import Catalogue


def build_reports_api_service(
    settings: Settings, *, api_url: str | None = None, token: str | None = None
) -> ReportsApiService:
    """What the Reports API answers from: the catalogue, and per answer the account's time source over its ledger
    (built per answer: its request count and pacing belong to that answer's pulls), keeping only the time to render
    the answer after its last page."""
    sources = account_sources(settings, api_url=api_url, token=token, margin_seconds=ANSWER_MARGIN_SECONDS)
    return ReportsApiService(catalogue=Catalogue(settings.catalogue_dir), sources=sources)
