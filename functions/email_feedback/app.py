"""email_feedback Lambda: SES bounces and complaints (SNS, from the stack's configuration set) into the run history.

A thin adapter: the SNS event's model unwraps its records into SES notices, the use case adds each notice's
recipients to the record of the run that sent the message, and one log line per notice says what became of it
(never the addresses). Errors raise, so that Lambda retries the notice and then keeps it on the dead-letter queue.
"""

from __future__ import annotations

# First: the garbage collector waits until this handler is built (bootstrap/cold_start.py says why).
from timereports.bootstrap.cold_start import ends_cold_start

# isort: split
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from timereports.bootstrap.history import build_run_history
from timereports.config import get_settings
from timereports.logic.feedback import record_feedback
from timereports.logic.ports import FeedbackLog
from timereports.models.feedback import SnsFeedbackEvent
from timereports.tracing import traced

logger = Logger()
# Explicit: the same namespace and service dimension (RunsFailedAlarm names both) wherever the module is imported.
metrics = Metrics(namespace="Timereports", service="timereports")

_METRICS = {"bounce": "EmailsBounced", "complaint": "EmailsComplained"}


@lru_cache(maxsize=1)
@ends_cold_start
def feedback_log() -> FeedbackLog:
    """The run history of this container's state table."""
    log: FeedbackLog = build_run_history(get_settings())
    return log


@ends_cold_start  # also when an invocation builds nothing (an invalid event)
@logger.inject_lambda_context(clear_state=True)
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One SNS delivery (usually one record); reply with how many notices were recorded on a run."""
    notices = SnsFeedbackEvent.model_validate(event).notices
    recorded = 0
    for notice in notices:
        outcome = record_feedback(notice, feedback_log())
        logger.info(
            "email feedback",
            event_type=notice.event_type,
            ses_message_id=notice.mail.message_id,
            recipients=outcome.recipients,
            report_id=outcome.report_id,
            recorded=outcome.recorded,
        )
        if outcome.kind is not None:
            metrics.add_metric(name=_METRICS[outcome.kind], unit=MetricUnit.Count, value=outcome.recipients)
        recorded += outcome.recorded
    return {"notices": len(notices), "recorded": recorded}
