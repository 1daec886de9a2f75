"""The dispatch handler's use case: the dispatcher over the catalogue, its cursors, parked runs and the run queue."""

from __future__ import annotations

from pathlib import Path

from timereports.bootstrap.aws import aws_client
from timereports.bootstrap.scheduling import build_deferred_runs, build_report_states, build_run_queue
from timereports.config import Settings
from timereports.dal.dispatch_state import DynamoDBCursorStore
from timereports.logic.dispatch import Dispatcher
from timereports.logic.ports import DispatchLogger
from timereports.models.catalogue import load_catalogue


def build_dispatcher(
    settings: Settings, catalogue_dir: str | Path | None = None, *, logger: DispatchLogger | None = None
) -> Dispatcher:
    """The dispatcher over the catalogue (`catalogue_dir`, else CATALOGUE_DIR), with its DynamoDB stores and the
    SQS run queue. An invalid catalogue raises DefinitionError before anything is claimed or sent."""
    catalogue = load_catalogue(Path(catalogue_dir) if catalogue_dir is not None else Path(settings.catalogue_dir))
    return Dispatcher(
        catalogue,
        # The deployment's own catalogue (the function's CATALOGUE_DIR), not a folder the command line was given.
        keeps_last_tick=catalogue_dir is None,
        cursors=DynamoDBCursorStore(settings.state_table, aws_client("dynamodb")),
        queue=build_run_queue(settings),
        deferred=build_deferred_runs(settings),
        state=build_report_states(settings),
        logger=logger,
    )
