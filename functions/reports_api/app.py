"""reports_api Lambda: the Reports API (rows and totals) behind an API Gateway HTTP API.

A thin adapter: the routes, validation, error answers and OpenAPI document are the layer's resolver
(`timereports.api.resolver`, the same one `timereports serve` runs locally); this module gives it the service the
composition root builds once per warm container, Powertools logging, and tracing when the deployment asks for it.
API Gateway has already authenticated the caller (IAM SigV4, or the JWT authoriser) before an event gets here.
"""

from __future__ import annotations

# First: the garbage collector waits until this handler is built (bootstrap/cold_start.py says why).
from timereports.bootstrap.cold_start import ends_cold_start

# isort: split
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from timereports.api.resolver import build_resolver
from timereports.bootstrap.api import build_reports_api_service
from timereports.config import get_settings
from timereports.logic.reports_api import ReportsApiService
from timereports.tracing import traced

logger = Logger()


@lru_cache(maxsize=1)
@ends_cold_start
def reports_service() -> ReportsApiService:
    """This container's service; a missing deployed setting fails the first request (a 500 naming nothing secret)."""
    return build_reports_api_service(get_settings())


app = build_resolver(reports_service)


@ends_cold_start  # also when an invocation builds nothing (an invalid event)
@logger.inject_lambda_context(clear_state=True, correlation_id_path="requestContext.requestId")
@traced
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One HTTP API request (payload format 2.0) in, one HTTP response out."""
    return app.resolve(event, context)
