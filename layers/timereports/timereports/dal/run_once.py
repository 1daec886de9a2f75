"""Exactly-once delivery of a run: Powertools Idempotency on the DynamoDB state table, keyed by report id and
scheduled time (the `RunOnce` port).

The key prefix and partition value are fixed (not derived from the Lambda's name) so that the CLI, a direct invoke
and the queue-fed function all agree on what "this run" is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.idempotency.serialization.custom_dict import CustomDictSerializer

from timereports.errors import RunInProgressError
from timereports.logic.ports import RemainingTime
from timereports.models.run_record import RunOutcome, RunRecord

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# A run's identity is remembered this long: a deferred or re-driven message for the same run days later still
# finds it delivered.
RUN_IDEMPOTENCY_SECONDS = 35 * 24 * 3600
# Outside Lambda (the CLI), a run still claimed this long after it started is presumed dead: the run_report function's
# timeout in template.yaml.
LOCAL_RUN_CLAIM_SECONDS = 900


class _LocalRunDeadline:
    """What Powertools Idempotency reads of a Lambda context, for a process that has none."""

    def get_remaining_time_in_millis(self) -> int:
        return LOCAL_RUN_CLAIM_SECONDS * 1000


class IdempotentRuns:
    """`RunOnce` on Powertools Idempotency: the first call for a run key delivers, later ones get its outcome."""

    def __init__(self, table_name: str, client: Any, deadline: RemainingTime | None = None) -> None:
        self._persistence = DynamoDBPersistenceLayer(
            table_name=table_name,
            key_attr="pk",
            sort_key_attr="sk",
            static_pk_value="idempotency#run_report",
            expiry_attr="expires_at",
            boto3_client=client,
        )
        self._config = IdempotencyConfig(expires_after_seconds=RUN_IDEMPOTENCY_SECONDS)
        # The claim of a run in progress must lapse if its process dies mid-run (a Lambda timeout, a killed CLI), or
        # the run could not be delivered for RUN_IDEMPOTENCY_SECONDS, whoever asked. Powertools bounds it by the
        # Lambda's remaining time; outside Lambda, by the longest a run_report invocation may take.
        # Powertools reads only get_remaining_time_in_millis() of the context it is given.
        context = deadline if deadline is not None else _LocalRunDeadline()
        self._config.register_lambda_context(cast("LambdaContext", context))
        self._serializer = CustomDictSerializer(
            to_dict=lambda outcome: outcome.record.model_dump(mode="json"),
            from_dict=lambda data: RunOutcome(record=RunRecord.model_validate(data)),
        )

    def __call__(self, deliver: Callable[[], RunOutcome], run_key: dict[str, str]) -> RunOutcome:
        @idempotent_function(
            data_keyword_argument="run_key",
            persistence_store=self._persistence,
            config=self._config,
            output_serializer=self._serializer,
            key_prefix="timereports.run",
        )
        def deliver_once(*, run_key: dict[str, str]) -> RunOutcome:
            return deliver()

        try:
            outcome: RunOutcome = deliver_once(run_key=run_key)
        except IdempotencyAlreadyInProgressError:
            raise RunInProgressError(
                f"run {run_key['report_id']} scheduled at {run_key['scheduled_at']} is being delivered right now"
            ) from None
        return outcome
