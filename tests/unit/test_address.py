"""The address rule definitions and the renderer share (models/address.py): what SES delivers, nothing else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from timereports.errors import DefinitionError
from timereports.models.address import check_address
from timereports.models.catalogue import parse_definition
from timereports.render.addressing import parse_address


@pytest.mark.parametrize(
    ("given_address", "expected"),
    [
        ("a@example.com", "a@example.com"),
        ("Ops.Team+weekly@Example.COM", "Ops.Team+weekly@example.com"),
        ("x@bücher.de", "x@xn--bcher-kva.de"),
        ("o'brien@sub.example.co.uk", "o'brien@sub.example.co.uk"),
        ("Jane Doe <Jane@Example.COM>", "Jane@example.com"),  # a named address is taken as its address
    ],
)
def test_a_deliverable_address_is_kept_with_its_domain_in_ascii_lower_case(given_address: str, expected: str) -> None:
    assert check_address(given_address) == expected


@pytest.mark.parametrize(
    ("given_address", "reason"),
    [
        ("not-an-address", "no @-sign"),
        ("@example.com", "nothing before the @-sign"),
        ("b@", "nothing after the @-sign"),
        ("jörg@example.de", "non-ASCII characters before the @-sign"),
        ("a..b@example.com", "the part before the @-sign"),
        (".a@example.com", "the part before the @-sign"),
        ("a b@example.com", "the part before the @-sign"),
        (f"{'a' * 65}@example.com", "the part before the @-sign"),
        ("a@localhost", "needs a dot"),
        ("a@-example.com", "not a valid domain name"),
        ("a@exa_mple.com", "not a valid domain name"),
        ("a@example.123", "not a valid domain name"),
        ("a@example..com", "not a valid domain name"),
        ("a@straße.de", "IDNA form is ambiguous"),  # IDNA 2003 would send it to strasse.de
        (f"{'a' * 64}@{'b' * 63}.{'c' * 63}.{'d' * 63}.com", "longer than the 254 characters"),
    ],
)
def test_an_address_ses_cannot_deliver_is_refused_saying_why(given_address: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_address(given_address)


def test_a_definition_names_the_recipient_and_the_reason() -> None:
    with pytest.raises(DefinitionError) as refused:
        parse_definition({"id": "x", "title": "X", "delivery": {"to": ["a@example.com", "jörg@example.de"]}})
    assert "delivery.to[1]: 'jörg@example.de' is not a valid email address: SES cannot deliver" in str(refused.value)


def test_the_renderer_applies_the_same_rule_to_a_named_address() -> None:
    address = parse_address("Finance <Finance@Example.COM>")
    assert (address.display_name, address.addr_spec) == ("Finance", "Finance@example.com")
    with pytest.raises(DefinitionError, match="is not a valid email address: the part after the @-sign needs a dot"):
        parse_address("Finance <finance@localhost>")


ATEXT = st.text(alphabet="abcXYZ019!#$%&'*+/=?^_`{|}~-", min_size=1, max_size=12)
LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)


@given(
    local=st.lists(ATEXT, min_size=1, max_size=3).map(".".join),
    labels=st.lists(LABEL, min_size=1, max_size=3),
    tld=st.from_regex(r"[a-z]{2,6}", fullmatch=True),
)
def test_what_the_rule_accepts_the_renderer_writes_as_one_address(local: str, labels: list[str], tld: str) -> None:
    # Given any dot-atom local part and host name
    accepted = check_address(f"{local}@{'.'.join([*labels, tld])}")
    # Then the renderer reads it back as that one address
    assert parse_address(accepted).addr_spec == accepted
