"""What happens when a scheduled run fails: the owner hears about it once, and a report that keeps
failing pauses itself instead of spending quota and filling the dead-letter queue.

A run (report id + scheduled time) may fail several times (SQS retries it before dead-lettering),
but it counts as one failure and sends one notice: the first failed attempt claims the run with a
conditional write, and only that attempt counts and notifies.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from timereports.clock import utc_now
from timereports.errors import DeliveryError, TimereportsError, one_line
from timereports.logic.ports import FailureClaims, Mailer, ReportStates
from timereports.models.definition import ReportDefinition
from timereports.render.failure_notice import failure_notice

logger = logging.getLogger(__name__)


class FailurePolicy:
    """Counts failed runs per report, notifies the owner once per run, pauses after `pause_after` in a row."""

    def __init__(
        self,
        *,
        states: ReportStates,
        claims: FailureClaims,
        mailer: Mailer,
        sender: str,
        default_owner: str | None,
        pause_after: int,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._states = states
        self._claims = claims
        self._mailer = mailer
        self._sender = sender
        self._default_owner = default_owner
        self._pause_after = pause_after
        self._clock = clock

    def succeeded(self, definition: ReportDefinition) -> None:
        self._states.record_success(definition.id)

    def failed(self, definition: ReportDefinition, run_id: str, error: BaseException) -> bool:
        """Count and report the failure of run `run_id` (once per run); True when the report is now paused."""
        if not self._claims.claim(definition.id, run_id):
            return False
        reason = one_line(error)
        failures = self._states.record_failure(definition.id)
        if failures > self._pause_after and not self._states.get(definition.id).paused:
            # Resumed by hand (`paused` set to false, as the README says), its old count left: it starts again here,
            # rather than pausing again at the first failure.
            self._states.resume(definition.id)
            failures = self._states.record_failure(definition.id)
        paused = failures >= self._pause_after
        if paused:
            self._states.pause(definition.id, f"{failures} failed runs in a row; last: {reason}")
        owner = (definition.delivery.owner if definition.delivery else None) or self._default_owner
        if owner:
            message = failure_notice(
                definition,
                run_id,
                reason,
                failures,
                paused,
                sender=self._sender,
                owner=owner,
                sent_at=self._clock(),
                messages_sent=error.messages_sent if isinstance(error, DeliveryError) else 0,
            )
            try:
                self._mailer.send(message.as_bytes(), sender=self._sender, destinations=[owner])
            except TimereportsError:
                # The run's own error is what the caller must see; a notice that could not go out is only logged.
                logger.warning("could not send the failure notice", extra={"report_id": definition.id})
        return paused
