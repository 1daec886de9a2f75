"""The daily revision check over the catalogue: the run history, the archive, the mailer and the revision marks in the
stack's resources. Its own module, so that a report run's start loads neither the check nor its renderer.
"""

from __future__ import annotations

from pathlib import Path

from timereports.bootstrap.aws import aws_client
from timereports.bootstrap.history import build_run_history
from timereports.bootstrap.runs import build_mailer
from timereports.bootstrap.sources import account_sources
from timereports.config import Settings
from timereports.dal.archive import S3Archive
from timereports.dal.revision_marks import DynamoDBRevisionMarks
from timereports.logic.revisions import RevisionCheck
from timereports.models.catalogue import Catalogue


def build_revision_check(
    settings: Settings,
    catalogue_dir: str | Path | None = None,
    *,
    api_url: str | None = None,
    token: str | None = None,
) -> RevisionCheck:
    """The revision check over the catalogue: history, archive, mailer and revision marks in the stack's resources."""
    return RevisionCheck(
        catalogue=Catalogue(catalogue_dir if catalogue_dir is not None else settings.catalogue_dir),
        history=build_run_history(settings),
        archive=S3Archive(settings.reports_bucket, aws_client("s3")),
        mailer=build_mailer(settings),
        marks=DynamoDBRevisionMarks(settings.state_table, aws_client("dynamodb")),
        sources=account_sources(settings, api_url=api_url, token=token),
        sender=settings.sender_email,
        attachment_limit_bytes=settings.attachment_limit_bytes,
        link_expiry_seconds=settings.link_expiry_seconds,
    )
