"""Renderers: a finished ReportTable in, bytes or email messages out. Pure: no network, no AWS, no clock reads
except an explicit default for the send time."""

from __future__ import annotations

from timereports.render.csv import format_cell, iter_csv_lines, neutralise_formula, render_csv, write_csv
from timereports.render.email import (
    ATTACHMENT_MODES,
    DEFAULT_MESSAGE_LIMIT_BYTES,
    MAX_RECIPIENTS_PER_MESSAGE,
    SES_MAX_MESSAGE_BYTES,
    AttachmentMode,
    CsvLink,
    OutgoingEmail,
    RecipientBatch,
    attachment_filename,
    build_empty_notice,
    build_messages,
    choose_attachment_mode,
    gzip_csv,
    message_size,
    split_recipients,
)

__all__ = [
    "ATTACHMENT_MODES",
    "DEFAULT_MESSAGE_LIMIT_BYTES",
    "MAX_RECIPIENTS_PER_MESSAGE",
    "SES_MAX_MESSAGE_BYTES",
    "AttachmentMode",
    "CsvLink",
    "OutgoingEmail",
    "RecipientBatch",
    "attachment_filename",
    "build_empty_notice",
    "build_messages",
    "choose_attachment_mode",
    "format_cell",
    "gzip_csv",
    "iter_csv_lines",
    "message_size",
    "neutralise_formula",
    "render_csv",
    "split_recipients",
    "write_csv",
]
