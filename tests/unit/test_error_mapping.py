"""API error replies become typed exceptions that keep status, code, message and body; backoff stays in bounds."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from timereports.errors import (
    IntervalsAuthError,
    IntervalsError,
    IntervalsRateLimitError,
    IntervalsRequestError,
    IntervalsUnavailableError,
    QuotaExhaustedError,
)
from timereports.intervals.errors import API_ERROR_MEANINGS, backoff_delay, error_for_reply, parse_error_body

NOW = datetime(2026, 3, 10, 17, 45, tzinfo=UTC)

# (API code, HTTP status as documented on the errors page, exception type, retryable)
TABLE = [
    (1, 500, IntervalsUnavailableError, True),
    (2, 401, IntervalsAuthError, False),
    (3, 401, IntervalsAuthError, False),
    (4, 503, IntervalsAuthError, False),
    (5, 418, IntervalsAuthError, False),
    (6, 402, IntervalsAuthError, False),
    (7, 401, IntervalsAuthError, False),
    (8, 401, IntervalsAuthError, False),
    (9, 401, IntervalsAuthError, False),
    (10, 403, IntervalsAuthError, False),
    (12, 400, IntervalsRateLimitError, True),
    (13, 400, IntervalsRequestError, False),
    (14, 404, IntervalsRequestError, False),
    (15, 400, IntervalsRequestError, False),
    (16, 400, IntervalsRequestError, False),
    (17, 400, IntervalsRequestError, False),
    (18, 400, IntervalsRequestError, False),
    (19, 500, IntervalsUnavailableError, True),
    (20, 502, IntervalsUnavailableError, True),
]


def api_body(code: int, message: str, verbose: list[str] | None = None, *, as_string: bool = True) -> str:
    """The error envelope the simulator (and, as far as known, the API) sends."""
    return json.dumps(
        {
            "personid": "10001",
            "status": "Bad Request",
            "code": "400",
            "error": {"code": str(code) if as_string else code, "message": message, "verbose": verbose or []},
        }
    )


@pytest.mark.parametrize(("code", "status", "expected", "retryable"), TABLE)
def test_each_api_code_maps_to_its_type(code: int, status: int, expected: type, retryable: bool) -> None:
    # Given an error reply with the API's code and message
    body = api_body(code, API_ERROR_MEANINGS[code])
    # When it is mapped
    error = error_for_reply("GET", "/time/", status, body, now=NOW)
    # Then the type, retryability, status, code, message and body are all there
    assert type(error) is expected
    assert isinstance(error, IntervalsError)
    assert error.retryable is retryable
    assert error.status == status
    assert error.code == code
    assert API_ERROR_MEANINGS[code] in str(error)
    assert "/time/" in str(error)
    assert error.body == body  # type: ignore[attr-defined]


def test_all_twenty_codes_are_covered() -> None:
    assert sorted([row[0] for row in TABLE] + [11]) == list(range(1, 21))


def test_code_11_is_quota_exhausted_until_midnight_gmt() -> None:
    # Given the API's "daily maximum exceeded" (HTTP 400, code 11)
    error = error_for_reply("GET", "/time/", 400, api_body(11, API_ERROR_MEANINGS[11], as_string=False), now=NOW)
    # Then it is a QuotaExhaustedError that resets at the next midnight GMT
    assert isinstance(error, QuotaExhaustedError)
    assert error.resets_at == datetime(2026, 3, 11, tzinfo=UTC)
    assert "daily API requests exceeded" in str(error)


def test_verbose_details_join_the_message() -> None:
    body = api_body(17, "Parameter not recognized: statusid", ["'statusid' is not a filter of time"])
    error = error_for_reply("GET", "/time/", 400, body, now=NOW)
    assert isinstance(error, IntervalsRequestError)
    assert "statusid" in error.message
    assert "is not a filter of time" in error.message


def test_bad_token_message_says_what_to_check() -> None:
    error = error_for_reply("GET", "/me/", 401, api_body(9, API_ERROR_MEANINGS[9]), now=NOW)
    assert isinstance(error, IntervalsAuthError)
    assert "API token" in str(error)
    assert "(HTTP 401, API code 9)" in str(error)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (502, "<html><h1>502 Bad Gateway</h1></html>", IntervalsUnavailableError),
        (503, "", IntervalsUnavailableError),
        (504, "upstream timed out", IntervalsUnavailableError),
        (429, "Too Many Requests", IntervalsRateLimitError),
        (401, "", IntervalsAuthError),
        (403, "Forbidden", IntervalsAuthError),
        (404, "Not Found", IntervalsRequestError),
        (400, '{"status": "Bad Request", "code": 400}', IntervalsRequestError),
    ],
)
def test_replies_without_an_api_code_map_by_http_status(status: int, body: str, expected: type) -> None:
    # Given a reply from something in front of the API (a proxy's page), or an envelope without an error object
    error = error_for_reply("GET", "/time/", status, body, now=NOW)
    # Then the HTTP status decides, and the top-level HTTP `code` is not mistaken for an API code
    assert type(error) is expected
    assert isinstance(error, IntervalsError)
    assert error.status == status
    assert error.code is None


def test_a_huge_body_is_kept_only_in_part() -> None:
    error = error_for_reply("GET", "/time/", 502, "x" * 100_000, now=NOW)
    assert 0 < len(error.body) <= 2000  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"error": {"code": "18", "message": "Validation error"}}, (18, "Validation error")),
        ({"error": {"code": 12}}, (12, None)),
        ({"error": [{"code": 14, "message": "no such task"}]}, (14, "no such task")),
        ({"code": 9, "message": "Invalid auth"}, (9, "Invalid auth")),
        ({"code": 400, "status": "Bad Request"}, (None, None)),
        ("not a dict", (None, None)),
        (None, (None, None)),
    ],
)
def test_error_bodies_of_several_shapes_are_understood(
    payload: object, expected: tuple[int | None, str | None]
) -> None:
    assert parse_error_body(payload) == expected


def test_backoff_is_full_jitter_capped_and_exponential() -> None:
    # Given the largest random draw, the delay doubles from the base up to the cap
    assert [backoff_delay(n, base=0.5, cap=8.0, rng=lambda: 1.0) for n in range(1, 8)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
        8.0,
        8.0,
    ]
    # And the smallest draw gives no wait at all (full jitter spreads retries over [0, cap])
    assert backoff_delay(5, base=0.5, cap=8.0, rng=lambda: 0.0) == 0.0
