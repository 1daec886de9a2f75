"""Email addresses as SES delivers them: an ASCII local part, a host name after the @ (IDNA when accented).

One rule for the definitions' recipients and for the headers the renderer writes, so that what validates is what SES
takes. It replaces email-validator, whose import compiled its Unicode tables at every cold start (~15 ms, `make
bench`) to accept local parts that SES then refuses at send time.
"""

from __future__ import annotations

import re

# RFC 5322's dot-atom: atext runs joined by single dots (no leading, trailing or doubled dot).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL_PART = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
MAX_LOCAL_PART = 64
MAX_DOMAIN = 253
MAX_ADDRESS = 254  # RFC 5321's path limit, less the angle brackets
# Letters that IDNA 2003 (Python's codec) maps to other letters and IDNA 2008 keeps: straße.de would be sent to
# strasse.de, another domain. Such a domain is refused; its xn-- form is taken as written.
_IDNA_DEVIATIONS = frozenset("\u00df\u03c2\u200c\u200d")


def check_address(value: str) -> str:
    """`value` as a deliverable address (the domain lower-cased, in ASCII), or ValueError saying what is wrong.

    `Name <address>` is taken as its address, as the definitions always took it.
    """
    _, bracket, inside = value.rpartition("<")
    if bracket and inside.endswith(">"):
        value = inside[:-1].strip()
    local, at, domain = value.rpartition("@")
    if not at:
        raise ValueError("it has no @-sign")
    if not local:
        raise ValueError("there is nothing before the @-sign")
    if not local.isascii():
        raise ValueError("SES cannot deliver to non-ASCII characters before the @-sign")
    if len(local) > MAX_LOCAL_PART or not _LOCAL_PART.fullmatch(local):
        raise ValueError("the part before the @-sign has a character, a dot or a length an address cannot have")
    if not domain:
        raise ValueError("there is nothing after the @-sign")
    if _IDNA_DEVIATIONS & set(domain):
        raise ValueError("the domain has a letter whose IDNA form is ambiguous (ß, ς); write it in its xn-- form")
    try:
        # An accented domain in its IDNA (xn--) form, which is what SES takes.
        domain = (domain if domain.isascii() else domain.encode("idna").decode("ascii")).lower()
    except UnicodeError:
        raise ValueError("the part after the @-sign is not a valid domain name") from None
    labels = domain.split(".")
    if len(labels) < 2:
        raise ValueError("the part after the @-sign needs a dot (like example.com)")
    if len(domain) > MAX_DOMAIN or not all(_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
        raise ValueError("the part after the @-sign is not a valid domain name")
    address = f"{local}@{domain}"
    if len(address) > MAX_ADDRESS:
        raise ValueError(f"it is longer than the {MAX_ADDRESS} characters an address may have")
    return address
