"""Reports API requests answered by the very resolver the function serves, with nothing behind it: for the tests of
what the API refuses (a refused request never reaches the service, so none is needed)."""

from __future__ import annotations

import json

from tests.support.events import load_event
from tests.support.lambda_context import FakeLambdaContext
from timereports.api.resolver import build_resolver
from timereports.logic.reports_api import ReportsApiService


def _unreachable() -> ReportsApiService:
    raise AssertionError("a request the API should refuse reached the report service")


def refusal(body: object, *, path: str = "/api/v1/reports/rows") -> str:
    """The message of the 400 the Reports API answers a POST of `body` with (a JSON text as sent, or data to send as
    JSON); fails the test if the request is accepted."""
    event = load_event("reports_api_rows.json")
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    event["headers"]["content-length"] = str(len(event["body"].encode("utf-8")))
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    reply = build_resolver(_unreachable).resolve(event, FakeLambdaContext())
    assert reply["statusCode"] == 400, reply
    message: str = json.loads(reply["body"])["message"]
    return message
