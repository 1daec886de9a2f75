"""Settings read from the environment: a bad value is one line naming the variable (and, inside
INTERVALS_ACCOUNTS, the account and its field)."""

from __future__ import annotations

import pytest

from timereports.config import Settings
from timereports.errors import ConfigurationError

BASE = {"STATE_TABLE": "t", "REPORTS_BUCKET": "b", "SENDER_EMAIL": "reports@timereports.test"}


@pytest.mark.parametrize(
    ("accounts", "expected"),
    [
        (
            '{"acme": {"dialy_quota": 10}}',
            "INTERVALS_ACCOUNTS['acme'].dialy_quota: unknown field; allowed: api_url, api_token, token_secret, "
            "daily_quota, quota_reserve, mirror",
        ),
        ('{"acme": {"daily_quota": 0}}', "INTERVALS_ACCOUNTS['acme'].daily_quota: Input should be greater than or"),
        ('{"acme": 5}', "INTERVALS_ACCOUNTS['acme']: Input should be a valid dictionary"),
        ("{not json", "INTERVALS_ACCOUNTS: Expecting property name enclosed in double quotes"),
    ],
)
def test_a_bad_extra_account_names_the_account_and_its_field(accounts: str, expected: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_environ(BASE | {"INTERVALS_ACCOUNTS": accounts}).account("acme")
    assert str(raised.value).startswith(expected)
    assert "Value error" not in str(raised.value)
