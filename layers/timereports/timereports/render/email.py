"""The report as email messages ready for SES v2 `SendEmail` with raw content.

Why it is built this way:
- Stakeholders read it on a phone: an HTML summary with inline CSS only (Gmail and Outlook drop `<style>` in
  places), font sizes of 14 px and more, a table that fits 375 px or scrolls; and a plain-text part with the
  same facts for clients that show no HTML.
- The full data travels as the CSV: attached, gzipped when too big, or as a link when even that is too big,
  because many receiving servers refuse messages over 10 MB and SES refuses raw messages over 40 MB.
- SES accepts at most 50 recipients per message, so recipients are split into several complete messages;
  Bcc recipients appear only in the envelope (`OutgoingEmail.destinations`), never in a header.
- Names, titles and addresses come from users: CR/LF is refused (no header injection), headers are written by
  the `email` package's SMTP policy (encoded words for accents), and every value in the HTML is escaped.
- An empty period never produces an empty attachment: it gets a short notice instead.
"""

from __future__ import annotations

import gzip
import hashlib
import html
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from math import ceil

from timereports.errors import DefinitionError
from timereports.models.report import ReportTable
from timereports.models.run_record import ATTACHMENT_MODES, AttachmentMode
from timereports.models.vocabulary import AttachMode
from timereports.render.addressing import (
    MAX_RECIPIENTS_PER_MESSAGE,
    POLICY,
    Addressing,
    RecipientBatch,
    refuse_line_breaks,
    render_subject,
    sender_address,
    split_recipients,
)
from timereports.render.email_body import (
    SUMMARY_ROW_LIMIT,
    CsvLink,
    attachment_filename,
    fitting_rows_per_section,
    footer_html,
    footer_text,
    page_html,
    render_html,
    render_text,
    title_html,
    workbook_filename,
)
from timereports.render.email_sections import HTML_BUDGET_BYTES
from timereports.render.facts import fact_lines, period_phrase
from timereports.render.xlsx import XLSX_CONTENT_TYPE

SES_MAX_MESSAGE_BYTES = 40 * 1024 * 1024  # SES v2 raw message limit, after encoding
DEFAULT_MESSAGE_LIMIT_BYTES = 10 * 1024 * 1024  # what many receiving servers accept


@dataclass(frozen=True)
class OutgoingEmail:
    """One message and the envelope addresses SES must deliver it to (Bcc included, which no header shows)."""

    message: EmailMessage
    destinations: tuple[str, ...]
    recipients: RecipientBatch = field(repr=False, default_factory=RecipientBatch)

    def as_bytes(self) -> bytes:
        """The raw message, CRLF line ends, as SES `Content.Raw.Data` and a `.eml` file take it."""
        return self.message.as_bytes(policy=POLICY)


# --- sizes and attachment modes ---------------------------------------------------------------------------------


def base64_size(raw_size: int) -> int:
    """Bytes a payload takes in a message once base64-encoded in 76-character lines with CRLF."""
    characters = 4 * ceil(raw_size / 3)
    return characters + 2 * ceil(characters / 76)


def quoted_printable_bound(raw_size: int) -> int:
    """The most bytes a body takes in quoted-printable: every byte as `=XX`, a soft line break every 75 characters."""
    characters = 3 * raw_size
    return characters + 3 * ceil(characters / 75)


# Room kept for headers and both bodies when deciding whether an attachment fits: each part at most the HTML's budget
# (the text part shows the same rows with less markup) in quoted-printable at its worst (a report of CJK names is
# mostly bytes QP writes as three), and the headers of a batch of 50 long recipients. A summary at its budget
# measured 96 KB (a unit test keeps it under this).
MESSAGE_ALLOWANCE_BYTES = 2 * quoted_printable_bound(HTML_BUDGET_BYTES) + 16 * 1024


def choose_attachment_mode(
    csv_size: int,
    limit_bytes: int = DEFAULT_MESSAGE_LIMIT_BYTES,
    preference: AttachMode = "attachment",
    *,
    gzipped_size: int | None = None,
) -> AttachmentMode:
    """Pick how the CSV travels so that the whole message stays under `limit_bytes` (capped at SES's 40 MB).

    The plain attachment when its base64 form fits (preference `auto` or `attachment`), else the gzipped one when
    `gzipped_size` (`len(gzip_csv(csv))`) is given and fits, else a link. A preference of `link` is always honoured.
    """
    mode = "attachment" if preference == "auto" else _attachment_mode(preference)
    if mode == "link":
        return "link"
    budget = min(limit_bytes, SES_MAX_MESSAGE_BYTES) - MESSAGE_ALLOWANCE_BYTES
    if mode == "attachment" and base64_size(csv_size) <= budget:
        return "attachment"
    if gzipped_size is not None and base64_size(gzipped_size) <= budget:
        return "gzip"
    return "link"


def gzip_csv(csv_bytes: bytes) -> bytes:
    """The CSV gzipped reproducibly (no timestamp in the header), so the same report gives the same bytes."""
    return gzip.compress(csv_bytes, compresslevel=9, mtime=0)


def message_size(message: EmailMessage | OutgoingEmail) -> int:
    """Size in bytes of the raw message as SES counts it against its limit."""
    if isinstance(message, OutgoingEmail):
        return len(message.as_bytes())
    return len(message.as_bytes(policy=POLICY))


# --- messages ----------------------------------------------------------------------------------------------------


def build_messages(
    table: ReportTable,
    csv_bytes: bytes,
    *,
    sender: str,
    addressing: Addressing,
    mode: str = "attachment",
    link: CsvLink | str | None = None,
    link_expires_in: int | None = None,
    workbook_link: str | None = None,
    sent_at: datetime,
    summary_rows: int = SUMMARY_ROW_LIMIT,
    max_recipients: int = MAX_RECIPIENTS_PER_MESSAGE,
    xlsx: bytes | None = None,
) -> list[OutgoingEmail]:
    """The report's messages: one per batch of at most `max_recipients`, each complete with summary and CSV.

    `xlsx` (the workbook, when the report has that format) is attached beside the CSV, and in link mode linked
    like the CSV (`workbook_link`, or the CsvLink's `workbook_url`).

    `mode` says how the CSV travels: `attachment`, `gzip`, or `link`, which needs `link` (a CsvLink, or a URL
    with `link_expires_in` seconds from `sent_at`). An empty table gives the short "no time logged" notice
    instead, never an empty attachment. `sent_at` (timezone-aware: the caller's clock) fills Date and Message-ID.
    """
    if table.is_empty:
        return build_empty_notice(
            table,
            sender=sender,
            addressing=addressing,
            sent_at=sent_at,
            max_recipients=max_recipients,
        )
    attachment_mode = _attachment_mode(mode)
    moment = _sent_at(sent_at)
    if isinstance(link, str):
        expires_at = moment + timedelta(seconds=link_expires_in) if link_expires_in is not None else None
        link = CsvLink(url=link, expires_at=expires_at, workbook_url=workbook_link)
    elif workbook_link is not None:
        raise ValueError("workbook_link goes with a link given as a URL; a CsvLink carries its own workbook_url")
    if attachment_mode == "link":
        if link is None:
            raise ValueError("link mode needs the CSV's link")
        _check_link(link)
    elif link is not None:
        raise ValueError(f"a link is only used in link mode, not {attachment_mode!r}")
    filename = attachment_filename(table, gzipped=attachment_mode == "gzip")
    payload = gzip_csv(csv_bytes) if attachment_mode == "gzip" else csv_bytes
    rows_per_section = fitting_rows_per_section(table, mode=attachment_mode, filename=filename, link=link)
    text = render_text(
        table,
        mode=attachment_mode,
        filename=filename,
        link=link,
        summary_rows=summary_rows,
        rows_per_section=rows_per_section,
    )
    page = render_html(
        table,
        mode=attachment_mode,
        filename=filename,
        link=link,
        summary_rows=summary_rows,
        rows_per_section=rows_per_section,
    )

    return compose_messages(
        table,
        sender=sender,
        addressing=addressing,
        subject=render_subject(addressing.subject, table),
        sent_at=moment,
        text=text,
        page=page,
        files=(attachment_mode, payload, xlsx),
        max_recipients=max_recipients,
    )


def build_empty_notice(
    table: ReportTable,
    *,
    sender: str,
    addressing: Addressing,
    sent_at: datetime,
    max_recipients: int = MAX_RECIPIENTS_PER_MESSAGE,
) -> list[OutgoingEmail]:
    """A short "No time was logged for <title> from X to Y" message, with no attachment, per recipient batch; a report
    with filters or on approved time says "No time matching this report", with the context lines that say what it
    counts (the text part as the HTML's title block does)."""
    what = "No time matching this report was logged" if table.scope else "No time was logged"
    sentence = f"{what} for {table.title} {period_phrase(table)}."
    context = "\n".join(fact_lines(table))
    text = f"{table.title}\n{context}\n\n{sentence}\n\n{footer_text(table)}\n"
    inner = (
        title_html(table)
        + f'<p style="margin:0 0 16px;font-size:16px;">{html.escape(sentence)}</p>'
        + footer_html(table)
    )
    page = page_html(table, inner, preheader=sentence)
    return compose_messages(
        table,
        sender=sender,
        addressing=addressing,
        subject=render_subject(addressing.subject, table),
        sent_at=_sent_at(sent_at),
        text=text,
        page=page,
        max_recipients=max_recipients,
    )


def compose_messages(
    table: ReportTable,
    *,
    sender: str,
    addressing: Addressing,
    subject: str,
    sent_at: datetime,
    text: str,
    page: str,
    files: tuple[AttachmentMode, bytes, bytes | None] | None = None,
    max_recipients: int = MAX_RECIPIENTS_PER_MESSAGE,
) -> list[OutgoingEmail]:
    """One message per batch of at most `max_recipients`, each with the text and HTML parts and, when `files` is
    given (how the CSV travels, its payload, the workbook), the report's files as `attach_files` puts them."""
    from_address = sender_address(sender)
    outgoing = []
    for index, batch in enumerate(split_recipients(addressing.to, addressing.cc, addressing.bcc, max_recipients)):
        message = message_head(table, from_address, batch, subject, sent_at, index)
        message.set_content(text, subtype="plain", cte="quoted-printable")
        message.add_alternative(page, subtype="html", cte="quoted-printable")
        if files is not None:
            attach_files(message, table, *files)
        outgoing.append(OutgoingEmail(message=message, destinations=batch.destinations, recipients=batch))
    return outgoing


def _attachment_mode(mode: str) -> AttachmentMode:
    """`mode` as the closed set, checked at run time too: a caller outside the type checker gets a clear error."""
    for known in ATTACHMENT_MODES:
        if mode == known:
            return known
    raise DefinitionError(f"attachment mode {mode!r} is not one of {', '.join(ATTACHMENT_MODES)}")


def _check_link(link: CsvLink) -> None:
    for url in link.urls:
        refuse_line_breaks(url, "download link")
        if not url.startswith(("https://", "http://")):
            raise ValueError("a download link must be an http(s) URL")
    if link.expires_at is not None and link.expires_at.tzinfo is None:
        raise ValueError("the CSV link's expiry must be timezone-aware")


def _sent_at(sent_at: datetime) -> datetime:
    if sent_at.tzinfo is None:
        raise ValueError("sent_at must be timezone-aware")
    return sent_at


def message_head(
    table: ReportTable,
    sender: Address,
    batch: RecipientBatch,
    subject: str,
    sent_at: datetime,
    index: int,
) -> EmailMessage:
    message = EmailMessage(policy=POLICY)
    message["From"] = sender
    if batch.to:
        message["To"] = batch.to
    if batch.cc:
        message["Cc"] = batch.cc
    if not batch.to and not batch.cc:
        # A batch of Bcc recipients only: the conventional empty group rather than no To at all.
        message["To"] = "undisclosed-recipients:;"
    message["Subject"] = subject
    message["Date"] = format_datetime(sent_at.astimezone(UTC))
    message["Message-ID"] = _message_id(table, sender, batch, sent_at, index)
    # RFC 3834: an automated message; auto-responders (and Outlook's) should not answer it.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message["X-Timereports-Report"] = table.report_id
    if table.slice_slug:
        message["X-Timereports-Slice"] = table.slice_slug
    return message


def _message_id(table: ReportTable, sender: Address, batch: RecipientBatch, sent_at: datetime, index: int) -> str:
    # Derived from the run and the batch, so rebuilding the same run gives the same Message-ID.
    run = (
        table.report_id,
        table.slice_slug or "",
        table.period.start.isoformat(),
        table.period.end.isoformat(),
        sent_at.isoformat(),
    )
    seed = "|".join((*run, str(index), *batch.destinations))
    digest = hashlib.sha256(seed.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}.timereports@{sender.domain}>"


def attach_files(
    message: EmailMessage, table: ReportTable, mode: AttachmentMode, payload: bytes, xlsx: bytes | None
) -> None:
    """The report's files on a message as `mode` says: the CSV attached (UTF-8), or gzipped (`payload` is then the
    gzipped CSV), or none (a link in the body instead); the workbook beside the CSV unless they travel as a link."""
    if mode == "attachment":
        filename = attachment_filename(table)
        message.add_attachment(payload, maintype="text", subtype="csv", filename=filename, params={"charset": "utf-8"})
    elif mode == "gzip":
        filename = attachment_filename(table, gzipped=True)
        message.add_attachment(payload, maintype="application", subtype="gzip", filename=filename)
    if xlsx is not None and mode != "link":
        maintype, subtype = XLSX_CONTENT_TYPE.split("/")
        message.add_attachment(xlsx, maintype=maintype, subtype=subtype, filename=workbook_filename(table))
