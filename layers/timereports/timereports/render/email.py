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
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy as email_policy
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from math import ceil
from typing import Literal, get_args

from timereports.errors import DefinitionError
from timereports.models.report import Cell, ReportTable
from timereports.models.vocabulary import LINE_BREAKS, SUBJECT_PLACEHOLDERS
from timereports.render.csv import format_cell

AttachmentMode = Literal["attachment", "gzip", "link"]
ATTACHMENT_MODES: tuple[str, ...] = get_args(AttachmentMode)

MAX_RECIPIENTS_PER_MESSAGE = 50  # SES: To + Cc + Bcc of one message
SES_MAX_MESSAGE_BYTES = 40 * 1024 * 1024  # SES v2 raw message limit, after encoding
DEFAULT_MESSAGE_LIMIT_BYTES = 10 * 1024 * 1024  # what many receiving servers accept
# Room kept for headers and both bodies when deciding whether an attachment fits (a 20-row summary with 50
# recipients and long names stays well under this; the unit tests measure it).
MESSAGE_ALLOWANCE_BYTES = 64 * 1024
SUMMARY_ROW_LIMIT = 20
DEFAULT_SUBJECT_TEMPLATE = "{title}, {from} to {to}"
SUBJECT_FIELDS = SUBJECT_PLACEHOLDERS

# CRLF everywhere, 78-column folding, encoded words for non-ASCII: what SMTP and SES expect.
POLICY = email_policy.SMTP

RecipientField = Literal["To", "Cc", "Bcc"]

# Short labels keep the summary table narrow on a phone; other columns get a label made from their name.
COLUMN_LABELS: dict[str, str] = {
    "user_name": "Person",
    "project_name": "Project",
    "client_name": "Client",
    "phase_name": "Milestone",
    "worktype_name": "Work type",
    "module_name": "Module",
    "task_name": "Task",
    "date": "Date",
    "week": "Week of",
    "month": "Month",
    "billable": "Billable",
    "approval_status": "Approval",
    "incurred_hours": "Hours",
    "billable_hours": "Billable h",
    "nonbillable_hours": "Non-bill. h",
    "incurred_days": "Days",
    "billable_days": "Billable d",
    "nonbillable_days": "Non-bill. d",
    "incurred_amount": "Amount",
    "entries": "Entries",
}
# The long form, for the totals block where there is room.
TOTAL_LABELS: dict[str, str] = {
    "incurred_hours": "Hours incurred",
    "billable_hours": "Billable hours",
    "nonbillable_hours": "Non-billable hours",
    "incurred_days": "Days incurred",
    "billable_days": "Billable days",
    "nonbillable_days": "Non-billable days",
    "incurred_amount": "Amount (billable)",
    "entries": "Time entries",
}

_FONT = "-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"
_INK = "#111827"
_MUTED = "#4b5563"
_LINE = "#e5e7eb"
_ACCENT = "#1d4ed8"


@dataclass(frozen=True)
class CsvLink:
    """Where the CSV can be downloaded when it is not attached (a presigned URL), and until when."""

    url: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class RecipientBatch:
    """The recipients of one message: at most 50, each address once."""

    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()

    @property
    def destinations(self) -> tuple[str, ...]:
        """The envelope recipients (To, Cc and Bcc), as bare addresses."""
        return tuple(address.addr_spec for address in (*self.to, *self.cc, *self.bcc))


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


def choose_attachment_mode(
    csv_size: int,
    limit_bytes: int = DEFAULT_MESSAGE_LIMIT_BYTES,
    preference: str = "attachment",
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


def attachment_filename(table: ReportTable, *, gzipped: bool = False) -> str:
    """`<report-id>_<from>_<to>.csv` (or `.csv.gz`): sorts by report and period in a download folder."""
    report_id = "".join(
        char if char.isascii() and (char.isalnum() or char in "-_") else "-" for char in table.report_id
    )
    name = f"{report_id or 'report'}_{table.period.start.isoformat()}_{table.period.end.isoformat()}.csv"
    return name + ".gz" if gzipped else name


# --- addresses and subject ---------------------------------------------------------------------------------------


def parse_address(value: str, header: str = "To") -> Address:
    """One address (`a@example.com` or `Name <a@example.com>`), refused with a DefinitionError when unsafe or invalid.

    A domain with accents is converted to its ASCII (IDNA) form; an accented local part is refused because SES
    cannot deliver it.
    """
    _refuse_line_breaks(value, f"{header} address")
    try:
        parsed = POLICY.header_factory(header, value)
        addresses = parsed.addresses
        defects = parsed.defects
    except (HeaderParseError, IndexError, ValueError) as exc:
        raise DefinitionError(f"{header} address {value!r} is not an email address") from exc
    if len(addresses) != 1 or defects or not addresses[0].username or not addresses[0].domain:
        raise DefinitionError(f"{header} address {value!r} is not exactly one email address like name@example.com")
    address = addresses[0]
    if not address.username.isascii():
        raise DefinitionError(f"{header} address {value!r} has non-ASCII characters before the @")
    domain = address.domain
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise DefinitionError(f"{header} address {value!r} has an invalid domain") from exc
    return Address(display_name=address.display_name, username=address.username, domain=domain)


# The name shown beside a bare sender address, so a stakeholder's inbox says what the message is.
SENDER_DISPLAY_NAME = "Time reports"


def sender_address(sender: str) -> Address:
    """The From address, with a display name when the configured sender is a bare address."""
    address = parse_address(sender, "From")
    if address.display_name:
        return address
    return Address(display_name=SENDER_DISPLAY_NAME, username=address.username, domain=address.domain)


def split_recipients(
    to: Sequence[str],
    cc: Sequence[str] = (),
    bcc: Sequence[str] = (),
    max_per_message: int = MAX_RECIPIENTS_PER_MESSAGE,
) -> list[RecipientBatch]:
    """Split To, Cc and Bcc into batches of at most `max_per_message`, each address once (its first field wins)."""
    if max_per_message < 1:
        raise ValueError("max_per_message must be at least 1")
    seen: set[str] = set()
    ordered: list[tuple[RecipientField, Address]] = []
    fields: tuple[tuple[RecipientField, Sequence[str]], ...] = (("To", to), ("Cc", cc), ("Bcc", bcc))
    for header, values in fields:
        if isinstance(values, str):
            raise TypeError(f"{header} must be a list of addresses, not one string")
        for value in values:
            address = parse_address(value, header)
            key = address.addr_spec.lower()
            if key not in seen:
                seen.add(key)
                ordered.append((header, address))
    if not ordered:
        raise DefinitionError("delivery needs at least one recipient in to, cc or bcc")
    batches = []
    for start in range(0, len(ordered), max_per_message):
        chunk = ordered[start : start + max_per_message]
        batches.append(
            RecipientBatch(
                to=tuple(address for header, address in chunk if header == "To"),
                cc=tuple(address for header, address in chunk if header == "Cc"),
                bcc=tuple(address for header, address in chunk if header == "Bcc"),
            )
        )
    return batches


def render_subject(template: str, table: ReportTable) -> str:
    """Fill `{title}`, `{from}`, `{to}` (ISO dates) and `{report_id}`; refuse other fields and line breaks.

    Only plain names are substituted (no attribute access or format specs): the template comes from a user.
    """
    values = {
        "title": table.title,
        "from": table.period.start.isoformat(),
        "to": table.period.end.isoformat(),
        "report_id": table.report_id,
    }
    allowed = ", ".join("{" + name + "}" for name in SUBJECT_FIELDS)
    parts: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise DefinitionError(f"subject {template!r} has an unmatched brace; use {{{{ and }}}} for braces") from exc
    for literal, name, format_spec, conversion in parsed:
        parts.append(literal)
        if name is None:
            continue
        if name not in values or format_spec or conversion:
            raise DefinitionError(f"subject field {{{name}}} is not allowed; allowed: {allowed}")
        parts.append(values[name])
    subject = "".join(parts).strip()
    _refuse_line_breaks(subject, "subject")
    if not subject:
        raise DefinitionError("subject is empty")
    return subject


def _refuse_line_breaks(value: str, what: str) -> None:
    # CR or LF in a header value would start a new header (header injection); other line separators as well.
    if LINE_BREAKS.search(value):
        raise DefinitionError(f"{what} {value!r} contains a line break, which is not allowed")


# --- messages ----------------------------------------------------------------------------------------------------


def build_messages(
    table: ReportTable,
    csv_bytes: bytes,
    *,
    sender: str,
    to: Sequence[str],
    cc: Sequence[str] = (),
    bcc: Sequence[str] = (),
    subject_template: str = DEFAULT_SUBJECT_TEMPLATE,
    mode: str = "attachment",
    link: CsvLink | str | None = None,
    link_expires_in: int | None = None,
    sent_at: datetime | None = None,
    summary_rows: int = SUMMARY_ROW_LIMIT,
    max_recipients: int = MAX_RECIPIENTS_PER_MESSAGE,
) -> list[OutgoingEmail]:
    """The report's messages: one per batch of at most `max_recipients`, each complete with summary and CSV.

    `mode` says how the CSV travels: `attachment`, `gzip`, or `link`, which needs `link` (a CsvLink, or a URL
    with `link_expires_in` seconds from `sent_at`). An empty table gives the short "no time logged" notice
    instead, never an empty attachment. `sent_at` (timezone-aware, default now) fills Date and Message-ID.
    """
    if table.is_empty:
        return build_empty_notice(
            table,
            sender=sender,
            to=to,
            cc=cc,
            bcc=bcc,
            subject_template=subject_template,
            sent_at=sent_at,
            max_recipients=max_recipients,
        )
    attachment_mode = _attachment_mode(mode)
    moment = _sent_at(sent_at)
    if isinstance(link, str):
        expires_at = moment + timedelta(seconds=link_expires_in) if link_expires_in is not None else None
        link = CsvLink(url=link, expires_at=expires_at)
    if attachment_mode == "link":
        if link is None:
            raise ValueError("link mode needs the CSV's link")
        _check_link(link)
    elif link is not None:
        raise ValueError(f"a link is only used in link mode, not {attachment_mode!r}")
    from_address = sender_address(sender)
    batches = split_recipients(to, cc, bcc, max_recipients)
    subject = render_subject(subject_template, table)

    filename = attachment_filename(table, gzipped=attachment_mode == "gzip")
    payload = gzip_csv(csv_bytes) if attachment_mode == "gzip" else csv_bytes
    text = render_text(table, mode=attachment_mode, filename=filename, link=link, summary_rows=summary_rows)
    page = render_html(table, mode=attachment_mode, filename=filename, link=link, summary_rows=summary_rows)

    outgoing = []
    for index, batch in enumerate(batches):
        message = _message_head(table, from_address, batch, subject, moment, index)
        message.set_content(text, subtype="plain", cte="quoted-printable")
        message.add_alternative(page, subtype="html", cte="quoted-printable")
        if attachment_mode == "attachment":
            message.add_attachment(
                payload, maintype="text", subtype="csv", filename=filename, params={"charset": "utf-8"}
            )
        elif attachment_mode == "gzip":
            message.add_attachment(payload, maintype="application", subtype="gzip", filename=filename)
        outgoing.append(OutgoingEmail(message=message, destinations=batch.destinations, recipients=batch))
    return outgoing


def build_empty_notice(
    table: ReportTable,
    *,
    sender: str,
    to: Sequence[str],
    cc: Sequence[str] = (),
    bcc: Sequence[str] = (),
    subject_template: str = DEFAULT_SUBJECT_TEMPLATE,
    sent_at: datetime | None = None,
    max_recipients: int = MAX_RECIPIENTS_PER_MESSAGE,
) -> list[OutgoingEmail]:
    """A short "No time was logged for <title> from X to Y" message, with no attachment, per recipient batch."""
    from_address = sender_address(sender)
    batches = split_recipients(to, cc, bcc, max_recipients)
    subject = render_subject(subject_template, table)
    moment = _sent_at(sent_at)
    sentence = f"No time was logged for {table.title} {_period_phrase(table)}."
    text = f"{table.title}\n{_period_line(table)}\n\n{sentence}\n\n{_footer_text(table)}\n"
    inner = (
        _title_html(table)
        + f'<p style="margin:0 0 16px;font-size:16px;">{html.escape(sentence)}</p>'
        + _footer_html(table)
    )
    page = _page_html(table, inner, preheader=sentence)
    outgoing = []
    for index, batch in enumerate(batches):
        message = _message_head(table, from_address, batch, subject, moment, index)
        message.set_content(text, subtype="plain", cte="quoted-printable")
        message.add_alternative(page, subtype="html", cte="quoted-printable")
        outgoing.append(OutgoingEmail(message=message, destinations=batch.destinations, recipients=batch))
    return outgoing


def _attachment_mode(mode: str) -> AttachmentMode:
    if mode == "attachment":
        return "attachment"
    if mode == "gzip":
        return "gzip"
    if mode == "link":
        return "link"
    raise DefinitionError(f"attachment mode {mode!r} is not one of {', '.join(ATTACHMENT_MODES)}")


def _check_link(link: CsvLink) -> None:
    _refuse_line_breaks(link.url, "CSV link")
    if not link.url.startswith(("https://", "http://")):
        raise ValueError("the CSV link must be an http(s) URL")
    if link.expires_at is not None and link.expires_at.tzinfo is None:
        raise ValueError("the CSV link's expiry must be timezone-aware")


def _sent_at(sent_at: datetime | None) -> datetime:
    if sent_at is None:
        return datetime.now(UTC)
    if sent_at.tzinfo is None:
        raise ValueError("sent_at must be timezone-aware")
    return sent_at


def _message_head(
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
    return message


def _message_id(table: ReportTable, sender: Address, batch: RecipientBatch, sent_at: datetime, index: int) -> str:
    # Derived from the run and the batch, so rebuilding the same run gives the same Message-ID.
    run = (table.report_id, table.period.start.isoformat(), table.period.end.isoformat(), sent_at.isoformat())
    seed = "|".join((*run, str(index), *batch.destinations))
    digest = hashlib.sha256(seed.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}.timereports@{sender.domain}>"


# --- bodies ------------------------------------------------------------------------------------------------------


# More metric columns than this do not fit a phone's width beside the group names.
PHONE_METRIC_COLUMNS = 4


def display_columns(table: ReportTable) -> list[str]:
    """The columns the summary table shows: names rather than ids when both exist, then the metrics that say
    something. On a phone a wide table scrolls out of sight, so a column whose total is zero (non-billable hours
    of a billable-only report) is left out, and so is the entry count when there are still too many; the
    totals above the table and the CSV keep every column."""
    group_columns = [column for column in table.columns if column not in table.metric_columns]
    shown = [
        column
        for column in group_columns
        if not (column.endswith("_id") and f"{column.removesuffix('_id')}_name" in group_columns)
    ]
    metrics = [column for column in table.metric_columns if table.totals.get(column) or column == "entries"]
    if len(metrics) > PHONE_METRIC_COLUMNS and "entries" in metrics:
        metrics.remove("entries")
    return shown + (metrics or list(table.metric_columns))


def column_label(column: str) -> str:
    """A short human label for a column."""
    return COLUMN_LABELS.get(column) or column.replace("_", " ").capitalize()


def _total_label(column: str) -> str:
    return TOTAL_LABELS.get(column) or column_label(column)


def _display_value(column: str, value: Cell) -> str:
    if value is None:
        return "\u2013"  # an en dash: visibly "nothing" in a table cell
    if isinstance(value, bool):
        return "yes" if value else "no"
    return format_cell(column, value)


def _period_line(table: ReportTable) -> str:
    period = table.period
    if period.days == 1:
        return f"{period.start.isoformat()} ({period.start:%A})"
    return f"{period.start.isoformat()} to {period.end.isoformat()} ({period.days} days)"


def _period_phrase(table: ReportTable) -> str:
    period = table.period
    if period.days == 1:
        return f"on {period.start.isoformat()}"
    return f"from {period.start.isoformat()} to {period.end.isoformat()}"


def _count(number: int, singular: str, plural: str) -> str:
    return f"{number:,} {singular if number == 1 else plural}"


def _facts_sentence(table: ReportTable) -> str:
    return f"{_count(len(table.rows), 'row', 'rows')} from {_count(table.entries, 'time entry', 'time entries')}."


def _more_rows_sentence(table: ReportTable, mode: AttachmentMode, filename: str, shown: int) -> str:
    total = len(table.rows)
    where = "the CSV at the link below" if mode == "link" else f"the attached CSV, {filename}"
    if shown >= total:
        return f"All {_count(total, 'row', 'rows')} are in {where}." if total != 1 else f"The row is in {where}."
    return f"Showing the first {shown} of {total:,} rows; all of them are in {where}."


def _totals_row_label(table: ReportTable, shown: int) -> str:
    """'Total', or 'Total of all N rows' when the summary shows fewer rows than the total counts."""
    return "Total" if shown >= len(table.rows) else f"Total of all {len(table.rows)} rows"


def _expiry_sentence(link: CsvLink) -> str:
    if link.expires_at is None:
        return ""
    # The link is signed with the sending function's temporary credentials, which may lapse before the time asked.
    return (
        f"The link works for a few hours, until {link.expires_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC at the latest; "
        "after that, ask the report's owner for the archived CSV."
    )


def _footer_text(table: ReportTable) -> str:
    return f"Sent automatically by timereports (report {table.report_id})."


def render_text(
    table: ReportTable,
    *,
    mode: AttachmentMode = "attachment",
    filename: str | None = None,
    link: CsvLink | None = None,
    summary_rows: int = SUMMARY_ROW_LIMIT,
) -> str:
    """The plain-text part: the same facts as the HTML part, as an aligned table."""
    filename = filename or attachment_filename(table, gzipped=mode == "gzip")
    shown_rows = table.rows[: max(summary_rows, 0)]
    lines = [table.title, _period_line(table), "", "Totals"]
    width = max((len(_total_label(column)) for column in table.metric_columns), default=0)
    for column in table.metric_columns:
        value = _display_value(column, table.totals.get(column))
        lines.append(f"  {_total_label(column).ljust(width)}  {value}")
    lines += ["", _facts_sentence(table), ""]
    columns = display_columns(table)
    header = [column_label(column) for column in columns]
    body = [[_truncate(_display_value(column, row.get(column)), 32) for column in columns] for row in shown_rows]
    totals = [
        _display_value(column, table.totals.get(column)) if column in table.metric_columns else "" for column in columns
    ]
    totals[0] = _totals_row_label(table, len(shown_rows))
    widths = [max(len(cell) for cell in cells) for cells in zip(header, *body, totals, strict=True)]
    numeric = [column in table.metric_columns for column in columns]

    def line(cells: list[str]) -> str:
        padded = [
            cell.rjust(size) if is_number else cell.ljust(size)
            for cell, size, is_number in zip(cells, widths, numeric, strict=True)
        ]
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * size for size in widths)
    lines += [line(header), rule, *(line(cells) for cells in body), rule, line(totals), ""]
    lines.append(_more_rows_sentence(table, mode, filename, len(shown_rows)))
    if mode == "link" and link is not None:
        lines += ["", f"Download the CSV: {link.url}"]
        if link.expires_at is not None:
            lines.append(_expiry_sentence(link))
    lines += ["", _footer_text(table), ""]
    return "\n".join(lines)


def _truncate(text: str, size: int) -> str:
    text = " ".join(text.split())  # a name with a line break would break the text table
    return text if len(text) <= size else text[: size - 1] + "…"


def render_html(
    table: ReportTable,
    *,
    mode: AttachmentMode = "attachment",
    filename: str | None = None,
    link: CsvLink | None = None,
    summary_rows: int = SUMMARY_ROW_LIMIT,
) -> str:
    """The HTML part: title, period, totals, the first rows as a table, and where the full CSV is."""
    filename = filename or attachment_filename(table, gzipped=mode == "gzip")
    shown_rows = table.rows[: max(summary_rows, 0)]
    esc = html.escape
    totals_rows = "".join(
        f'<tr><td style="padding:4px 12px 4px 0;color:{_MUTED};font-size:14px;">{esc(_total_label(column))}</td>'
        f'<td style="padding:4px 0;text-align:right;font-size:16px;font-weight:bold;white-space:nowrap;">'
        f"{esc(_display_value(column, table.totals.get(column)))}</td></tr>"
        for column in table.metric_columns
    )
    inner = _title_html(table)
    inner += (
        '<table role="presentation" cellpadding="0" cellspacing="0" '
        f'style="border-collapse:collapse;margin:0 0 8px;">{totals_rows}</table>'
        f'<p style="margin:0 0 16px;font-size:14px;color:{_MUTED};">{esc(_facts_sentence(table))}</p>'
    )
    if mode == "link" and link is not None:
        inner += _link_html(link)
    inner += _rows_table_html(table, shown_rows)
    inner += (
        f'<p style="margin:12px 0 16px;font-size:14px;color:{_MUTED};">'
        f"{esc(_more_rows_sentence(table, mode, filename, len(shown_rows)))}</p>"
    )
    inner += _footer_html(table)
    preheader = " · ".join(
        f"{_total_label(column)} {_display_value(column, table.totals.get(column))}"
        for column in table.metric_columns[:2]
    )
    return _page_html(table, inner, preheader=f"{_period_line(table)}: {preheader}")


def _title_html(table: ReportTable) -> str:
    return (
        f'<h1 style="margin:0 0 4px;font-size:20px;line-height:1.3;color:{_INK};">{html.escape(table.title)}</h1>'
        f'<p style="margin:0 0 16px;font-size:14px;color:{_MUTED};">{html.escape(_period_line(table))}</p>'
    )


def _link_html(link: CsvLink) -> str:
    url = html.escape(link.url, quote=True)
    return (
        '<p style="margin:0 0 16px;">'
        f'<a href="{url}" style="display:inline-block;padding:10px 16px;background:{_ACCENT};color:#ffffff;'
        'text-decoration:none;font-size:16px;font-weight:bold;border-radius:4px;">Download the CSV</a></p>'
        f'<p style="margin:0 0 16px;font-size:14px;color:{_MUTED};">{html.escape(_expiry_sentence(link))} '
        f'If the button does not work, copy this address: <span style="word-break:break-all;">{url}</span></p>'
    )


def _rows_table_html(table: ReportTable, rows: list[dict[str, Cell]]) -> str:
    # One cell holds all group levels (first level bold, the others under it) and each metric has its own
    # right-aligned column: on a 375 px screen the names get one readable column instead of several slivers.
    esc = html.escape
    columns = display_columns(table)
    group_columns = [column for column in columns if column not in table.metric_columns]
    metric_columns = [column for column in columns if column in table.metric_columns]
    cell = f"padding:6px 4px;border-bottom:1px solid {_LINE};font-size:14px;line-height:1.4;vertical-align:top;"
    group_style = cell + "text-align:left;overflow-wrap:break-word;"
    number_style = cell + "text-align:right;white-space:nowrap;"
    head_style = f"font-weight:bold;color:{_MUTED};background:#f9fafb;vertical-align:bottom;"
    # Headers may wrap ("Billable h" over two lines) so that the number columns stay as narrow as their values.
    head = f'<th style="{group_style}{head_style}">{esc(" / ".join(column_label(c) for c in group_columns))}</th>'
    head += "".join(
        f'<th style="{cell}text-align:right;{head_style}">{esc(column_label(column))}</th>' for column in metric_columns
    )
    body = []
    for row in rows:
        levels = [_breakable(_display_value(column, row.get(column))) for column in group_columns]
        group_html = f"<strong>{levels[0]}</strong>" if levels else ""
        group_html += "".join(f'<br><span style="color:{_MUTED};">{level}</span>' for level in levels[1:])
        numbers = "".join(
            f'<td style="{number_style}">{esc(_display_value(column, row.get(column)))}</td>'
            for column in metric_columns
        )
        body.append(f'\n<tr><td style="{group_style}">{group_html}</td>{numbers}</tr>')
    total_style = f"font-weight:bold;border-top:2px solid {_INK};"
    totals = "".join(
        f'<td style="{number_style}{total_style}">{esc(_display_value(column, table.totals.get(column)))}</td>'
        for column in metric_columns
    )
    return (
        # The wrapper scrolls sideways where a client allows it, when many columns do not fit a phone.
        '<div style="overflow-x:auto;-webkit-overflow-scrolling:touch;max-width:100%;">'
        '<table cellpadding="0" cellspacing="0" '
        f'style="border-collapse:collapse;width:100%;font-family:{_FONT};color:{_INK};">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}"
        f'\n<tr><td style="{group_style}{total_style}">{esc(_totals_row_label(table, len(rows)))}</td>{totals}</tr>'
        "</tbody></table></div>"
    )


def _breakable(text: str, longest: int = 12) -> str:
    """Escape `text` for HTML and let words longer than `longest` break (`<wbr>`), so one long name cannot
    widen the table past a phone's screen."""
    words = []
    for word in text.split(" "):
        pieces = [word[start : start + longest] for start in range(0, len(word), longest)] or [""]
        words.append("<wbr>".join(html.escape(piece) for piece in pieces))
    return " ".join(words)


def _footer_html(table: ReportTable) -> str:
    return (
        f'<p style="margin:16px 0 0;padding-top:12px;border-top:1px solid {_LINE};font-size:14px;color:{_MUTED};">'
        f"{html.escape(_footer_text(table))}</p>"
    )


def _page_html(table: ReportTable, inner: str, *, preheader: str) -> str:
    # Table-based outer layout and inline styles: what Outlook's Word engine and Gmail both honour.
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(table.title)}</title></head>"
        f'<body style="margin:0;padding:0;background:#f3f4f6;">'
        '<div style="display:none;max-height:0;overflow:hidden;font-size:1px;line-height:1px;color:#f3f4f6;">'
        f"{html.escape(preheader)}</div>"
        # table-layout:fixed keeps the page at the screen's width, so a wide summary scrolls inside its own box.
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        'style="border-collapse:collapse;background:#f3f4f6;table-layout:fixed;">'
        '<tr><td align="center" style="padding:8px 4px;">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        f'style="max-width:680px;border-collapse:collapse;background:#ffffff;border:1px solid {_LINE};'
        'table-layout:fixed;">'
        f'<tr><td style="padding:16px 10px;font-family:{_FONT};font-size:16px;line-height:1.5;color:{_INK};'
        'text-align:left;">'
        f"{inner}</td></tr></table></td></tr></table></body></html>"
    )
