"""dispatch Lambda: one dispatcher tick per EventBridge Scheduler invocation.

A thin adapter: validate the schedule payload against its model, tick the dispatcher built once per container, log
one line per run enqueued, publish a metric and shape the reply. Errors raise, so that the Scheduler's retry policy
(and then its dead-letter queue) applies; a failed tick has put back what it did not send.
"""

from __future__ import annotations

# First: the garbage collector waits until this handler is built (bootstrap/cold_start.py says why).
from timereports.bootstrap.cold_start import ends_cold_start

# isort: split

from datetime import UTC
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from timereports.bootstrap.dispatch import build_dispatcher
from timereports.clock import utc_now
from timereports.config import get_settings
from timereports.logic.dispatch import Dispatcher
from timereports.models.events import DispatchEvent
from timereports.tracing import traced

logger = Logger()
# Explicit: the same namespace and service dimension (RunsFailedAlarm names both) wherever the module is imported.
metrics = Metrics(namespace="Timereports", service="timereports")


@lru_cache(maxsize=1)
@ends_cold_start
def dispatcher() -> Dispatcher:
    """The dispatcher of this container: the catalogue ships with the deployment, so it is read once."""
    return build_dispatcher(get_settings(), logger=logger)


@ends_cold_start  # also when an invocation builds nothing (an invalid event)
@logger.inject_lambda_context(clear_state=True)
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Tick as of the payload's `at` (a replay, a test) or now; reply with the runs enqueued."""
    tick = DispatchEvent.model_validate(event)
    at = tick.at or utc_now()
    ticker = dispatcher()
    runs = [ticker.describe(message) for message in ticker.tick(at)]
    for run in runs:
        logger.info("run enqueued", **run)
    metrics.add_metric(name="RunsEnqueued", unit=MetricUnit.Count, value=len(runs))
    return {"enqueued": len(runs), "at": at.astimezone(UTC).isoformat(), "runs": runs}
