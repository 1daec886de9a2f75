"""The doctor's catalogue check: which addresses are samples left in place (reserved domains never receive mail)."""

from __future__ import annotations

import pytest
from timereports_dev.doctor import addresses_of, reserved_domain

from timereports.models.catalogue import parse_definition


@pytest.mark.parametrize(
    ("address", "reserved"),
    [
        ("ops@example.com", True),
        ("Ops@Mail.Example.ORG", True),
        ("someone@example.net.", True),
        ("qa@build.test", True),
        ("x@host.invalid", True),
        ("x@example", True),
        ("finance@yourcompany.com", False),
        ("a@notexample.com", False),
        ("a@example.com.au", False),
        ("a@example.company.com", False),
    ],
)
def test_reserved_example_domains_are_told_from_real_ones(address: str, reserved: bool) -> None:
    assert reserved_domain(address) is reserved


def test_every_address_a_definition_sends_to_is_checked() -> None:
    # Given a split report with cc, bcc, slices and an owner
    definition = parse_definition(
        {
            "id": "split",
            "title": "Split",
            "view": "time_fees_hours",
            "time_frame": "last_week",
            "group_by": ["client"],
            "schedule": {"cron": "0 7 * * 1"},
            "delivery": {
                "to": ["a@yourcompany.com"],
                "cc": ["b@yourcompany.com"],
                "bcc": ["c@example.com"],
                "owner": "owner@example.org",
                "split": {"by": "client", "to": {"Acme": ["d@acme.test"], "Beta": "e@beta.com"}},
            },
        }
    )
    # Then each of them is among its addresses
    assert addresses_of(definition) == {
        "a@yourcompany.com",
        "b@yourcompany.com",
        "c@example.com",
        "owner@example.org",
        "d@acme.test",
        "e@beta.com",
    }
