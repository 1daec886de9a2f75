"""Who a report's messages go to and under which subject: addresses checked as SES delivers them, recipients split
into batches of at most 50 (SES's limit a message), and the subject filled from its template.

Addresses, titles and templates come from users: a line break is refused wherever it would reach a header (no header
injection), and a slice's name from Intervals is shown on one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email import policy as email_policy
from email.errors import HeaderParseError
from email.headerregistry import Address
from typing import Literal

from timereports.errors import DefinitionError
from timereports.models.address import check_address
from timereports.models.definition import Delivery
from timereports.models.report import ReportTable
from timereports.models.subject import fill_subject
from timereports.models.vocabulary import DEFAULT_SUBJECT, LINE_BREAKS

MAX_RECIPIENTS_PER_MESSAGE = 50  # SES: To + Cc + Bcc of one message
# CRLF everywhere, 78-column folding, encoded words for non-ASCII: what SMTP and SES expect.
POLICY = email_policy.SMTP

RecipientField = Literal["To", "Cc", "Bcc"]


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
class Addressing:
    """Who a report's messages go to and under which subject template (a definition's `delivery`, or a slice's)."""

    to: Sequence[str]
    cc: Sequence[str] = ()
    bcc: Sequence[str] = ()
    subject: str = DEFAULT_SUBJECT

    @classmethod
    def of(cls, delivery: Delivery) -> Addressing:
        return cls(to=list(delivery.to), cc=list(delivery.cc), bcc=list(delivery.bcc), subject=delivery.subject)


def parse_address(value: str, header: str = "To") -> Address:
    """One address (`a@example.com` or `Name <a@example.com>`), refused with a DefinitionError when unsafe or invalid.

    The address itself follows `models.address.check_address`, the definitions' rule: a domain with accents is
    converted to its ASCII (IDNA) form; an accented local part is refused because SES cannot deliver it.
    """
    refuse_line_breaks(value, f"{header} address")
    try:
        parsed = POLICY.header_factory(header, value)
        addresses = parsed.addresses
        defects = parsed.defects
    except (HeaderParseError, IndexError, ValueError) as exc:
        raise DefinitionError(f"{header} address {value!r} is not an email address") from exc
    if len(addresses) != 1 or defects or not addresses[0].username or not addresses[0].domain:
        raise DefinitionError(f"{header} address {value!r} is not exactly one email address like name@example.com")
    address = addresses[0]
    try:
        username, _, domain = check_address(address.addr_spec).rpartition("@")
    except ValueError as exc:
        raise DefinitionError(f"{header} address {value!r} is not a valid email address: {exc}") from None
    return Address(display_name=address.display_name, username=username, domain=domain)


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
    """Fill `{title}`, `{from}`, `{to}` (ISO dates), `{report_id}` and `{slice}` (a private slice's name); refuse other
    fields and line breaks. A slice's subject ends with its name when the template does not place it."""
    # A slice's name comes from Intervals (a client's or a person's), not from the definition: a line break in it is
    # data to show on one line, not a definition to refuse, nor a header to start.
    label = " ".join(LINE_BREAKS.sub(" ", table.slice_label).split()) if table.slice_label else ""
    values = {
        "title": table.title,
        "from": table.period.start.isoformat(),
        "to": table.period.end.isoformat(),
        "report_id": table.report_id,
        "slice": label,
    }
    try:
        subject = fill_subject(template, values)
    except ValueError as exc:
        raise DefinitionError(f"subject: {exc}") from None
    if label and "{slice}" not in template:
        # A slice's message says whose it is, even when the template does not ask for it.
        subject = f"{subject} \u2014 {label}"
    return subject


def refuse_line_breaks(value: str, what: str) -> None:
    """A DefinitionError when `value` (a header's, or a link's) has a line break."""
    # CR or LF in a header value would start a new header (header injection); other line separators as well.
    if LINE_BREAKS.search(value):
        raise DefinitionError(f"{what} {value!r} contains a line break, which is not allowed")
