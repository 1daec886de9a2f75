"""The Reports API's routes: Resource Management's rows and totals endpoints, and their OpenAPI document.

One `APIGatewayHttpResolver` serves the deployed Lambda (API Gateway v2 events) and the local `timereports serve`
(which turns each HTTP request into such an event), so the two cannot drift. Authentication happens in front of it:
API Gateway's IAM (or JWT) authoriser when deployed, the local server's API key check locally.

Every error is `{"message": ...}`: 400 for a request the model refuses (naming the field and the allowed values),
404 for an unknown report or path, 422 for a query that needs more Intervals requests than the invocation has time
for, 429 with Retry-After when the account's daily quota is spent, 503 when Intervals cannot answer. Anything else
is a 500 with a fixed message: no traceback, token or internal path reaches a client; the log has the details.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import math
import re
from collections.abc import Callable
from datetime import datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError, ServiceError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse, OpenAPIResponseHeader

from timereports.clock import utc_now
from timereports.errors import (
    ConfigurationError,
    DefinitionError,
    IntervalsError,
    PaceExceedsDeadlineError,
    QuotaExhaustedError,
    RunTooLongError,
    TimereportsError,
    UnknownReportError,
    one_line,
)
from timereports.logic.ports import RemainingTime
from timereports.logic.reports_api import ReportAnswer, ReportsApiService
from timereports.models.reports_api import (
    ErrorAnswer,
    ReportsQuery,
    RowsAnswer,
    TotalsAnswer,
    describe_request_errors,
    load_request_body,
)
from timereports.render.report_json import json_cell, json_dates, json_rows, json_totals

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.models import SecurityScheme

API_PREFIX = "/api/v1"
OPENAPI_PATH = f"{API_PREFIX}/openapi.json"
ROUTES = (
    f"POST {API_PREFIX}/reports/rows",
    f"POST {API_PREFIX}/reports/totals",
    f"GET {API_PREFIX}/reports/{{report_id}}/rows",
    f"GET {API_PREFIX}/reports/{{report_id}}/totals",
    f"GET {OPENAPI_PATH}",
)
API_TITLE = "timereports Reports API"
API_VERSION = "1.0.0"
# When Intervals gave no hint of its own: long enough for a transient fault to pass.
UNAVAILABLE_RETRY_SECONDS = 60
# What a Lambda may answer is 6 MB (6,291,456 bytes) in all: the body's share, the status and headers left room.
ANSWER_LIMIT_BYTES = 6_000_000
# A retryable failure of ours (the mirror's publish lost to other syncs again and again): seconds to try again after.
CONFLICT_RETRY_SECONDS = 5

logger = logging.getLogger(__name__)

_ERROR_BODY: dict[str, Any] = {"application/json": {"model": ErrorAnswer}}
# Sent with every 429 and 503 (error_response's retry_after): when a retry can succeed.
_RETRY_AFTER: dict[str, OpenAPIResponseHeader] = {
    "Retry-After": {
        "description": "Whole seconds (at least 1) to wait before asking again",
        "schema": {"type": "integer", "minimum": 1},
    }
}
_ERRORS: dict[int, OpenAPIResponse] = {
    400: {"description": "Invalid parameters", "content": _ERROR_BODY},
    415: {"description": "The body is not application/json", "content": _ERROR_BODY},
    422: {
        "description": "The query needs more Intervals requests than the API can make in its time limit",
        "content": _ERROR_BODY,
    },
    429: {
        "description": "The account's daily Intervals quota is spent, or the minute's requests to Intervals are: "
        "try again after Retry-After seconds",
        "headers": _RETRY_AFTER,
        "content": _ERROR_BODY,
    },
    500: {"description": "The service failed; its operator finds why in its log", "content": _ERROR_BODY},
    503: {
        "description": "Intervals is unavailable, or the data kept changing: try again after Retry-After seconds",
        "headers": _RETRY_AFTER,
        "content": _ERROR_BODY,
    },
}
_TOO_LARGE: dict[int, OpenAPIResponse] = {
    413: {"description": "The rows would be larger than an answer can carry", "content": _ERROR_BODY},
}
_REPORT_ERRORS: dict[int, OpenAPIResponse] = {
    404: {"description": "No such report in the catalogue", "content": _ERROR_BODY},
    **{status: _ERRORS[status] for status in (422, 429, 500, 503)},
}
_QUERY_BODY = Body(
    description="Resource Management's report parameters; every one is optional and takes RM's default.",
    examples=[
        {
            "view": "time_fees_hours",
            "time_frame": "this_week",
            "group_by": ["project_id", "user_id"],
            "filters": {"client": {"operation": "inclusion", "values": ["Mango Inc."]}},
            "today": "2026-11-18",
            "calc_incurred_using": "confirmed-unconfirmed",
        }
    ],
)
# No pattern: an id the catalogue does not have, however written, is its 404 naming the ids it has.
ReportId = Annotated[str, Path(description="a report id of the catalogue (reports/*.yaml)")]


def build_resolver(
    service: Callable[[], ReportsApiService], *, clock: Callable[[], datetime] = utc_now
) -> APIGatewayHttpResolver:
    """The Reports API over `service()` (called per request, so that a composition root can build it lazily)."""
    # Powertools reads the body with `json_body_deserializer`; ours refuses a key given twice (DefinitionError: a 400).
    app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=load_request_body)

    @app.post(
        f"{API_PREFIX}/reports/rows",
        summary="Report rows",
        description="One row per group of `group_by`, with the view's metrics.",
        responses={
            200: {"description": "The rows", "content": {"application/json": {"model": RowsAnswer}}},
            **_ERRORS,
            **_TOO_LARGE,
        },
        tags=["reports"],
    )
    def post_rows(query: Annotated[ReportsQuery | None, _QUERY_BODY] = None) -> Response[str]:
        return sized_answer(app, rows_answer(service().answer(query or ReportsQuery(), _deadline(app))))

    @app.post(
        f"{API_PREFIX}/reports/totals",
        summary="Report totals",
        description="Each metric of the view, summed over every row.",
        responses={
            200: {"description": "The totals", "content": {"application/json": {"model": TotalsAnswer}}},
            **_ERRORS,
        },
        tags=["reports"],
    )
    def post_totals(query: Annotated[ReportsQuery | None, _QUERY_BODY] = None) -> dict[str, Any]:
        return totals_answer(service().answer(query or ReportsQuery(), _deadline(app)))

    @app.get(
        f"{API_PREFIX}/reports/<report_id>/rows",
        summary="A catalogue report's rows as of today",
        responses={
            200: {"description": "The rows", "content": {"application/json": {"model": RowsAnswer}}},
            **_REPORT_ERRORS,
            **_TOO_LARGE,
        },
        tags=["catalogue"],
    )
    def get_report_rows(report_id: ReportId) -> Response[str]:
        return sized_answer(app, rows_answer(service().answer_report(report_id, _deadline(app))))

    @app.get(
        f"{API_PREFIX}/reports/<report_id>/totals",
        summary="A catalogue report's totals as of today",
        responses={
            200: {"description": "The totals", "content": {"application/json": {"model": TotalsAnswer}}},
            **_REPORT_ERRORS,
        },
        tags=["catalogue"],
    )
    def get_report_totals(report_id: ReportId) -> dict[str, Any]:
        return totals_answer(service().answer_report(report_id, _deadline(app)))

    @app.get(OPENAPI_PATH, include_in_schema=False)
    def openapi_document() -> Response[str]:
        return Response(HTTPStatus.OK, "application/json", openapi_json(app))

    _register_error_handlers(app, clock)
    app.use(middlewares=[_no_query_parameters])
    return app


def _no_query_parameters(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """A 400 for a query string: no route reads one, and answering as if it had been read would mislead."""
    names = sorted(app.current_event.query_string_parameters or {})
    if names:
        return error_response(
            400,
            f"query parameters are not read ({', '.join(names)}): a catalogue report's routes take none (its "
            f"definition decides), and a query's parameters go in the JSON body of POST {API_PREFIX}/reports/rows "
            "or /totals",
        )
    return next_middleware(app)


def allowed_methods(path: str) -> list[str]:
    """The methods ROUTES serve at `path` (a report id in the place of `{report_id}`), none when no route has it."""
    methods = []
    for route in ROUTES:
        method, pattern = route.split(" ", 1)
        if re.fullmatch(re.escape(pattern).replace(re.escape("{report_id}"), "[^/]+"), path):
            methods.append(method)
    return methods


def openapi_json(app: APIGatewayHttpResolver) -> str:
    """The API's OpenAPI 3 document (generated from the routes and the pydantic models)."""
    return str(
        app.get_openapi_json_schema(
            title=API_TITLE,
            version=API_VERSION,
            description="Resource Management's Reports API (rows and totals) over Intervals time entries.",
            security_schemes=security_schemes(),
            # Either one: the deployment's authoriser decides which (IAM by default, or JWT), locally the API key.
            security=[{"sigv4": []}, {"bearer": []}],
        )
    )


def security_schemes() -> dict[str, SecurityScheme]:
    """How a caller authenticates, as the document states it (the deployment's authoriser decides which)."""
    # Deferred: Powertools' OpenAPI models cost ~60 ms to import and only the document needs them, not a query.
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, HTTPBearer

    return {
        "sigv4": APIKey.model_validate(
            {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "Deployed with ReportsApiAuth IAM (the default): a SigV4 signature for execute-api.",
            }
        ),
        "bearer": HTTPBearer(
            description="Deployed with ReportsApiAuth JWT: the issuer's token. Locally: TIMEREPORTS_API_KEY.",
        ),
    }


def _deadline(app: APIGatewayHttpResolver) -> RemainingTime | None:
    """The invocation's context, whose remaining time bounds the answer's pulls (None outside a Lambda)."""
    context = getattr(app, "lambda_context", None)
    return context if hasattr(context, "get_remaining_time_in_millis") else None


def sized_answer(app: APIGatewayHttpResolver, payload: dict[str, Any]) -> Response[str]:
    """A 200 of `payload` as JSON, gzipped when the caller accepts it; a 413 saying how to ask for less when it would
    not fit in what a Lambda may answer (else API Gateway gets a failed invocation, a bare 500)."""
    body = json.dumps(payload, separators=(",", ":"))
    accepts_gzip = "gzip" in app.current_event.headers.get("accept-encoding", "").lower()
    headers: dict[str, str] = {}
    if accepts_gzip:
        # Compressed once, here, and sent base64-encoded (what Powertools would do, after sizing it twice).
        body = base64.b64encode(gzip.compress(body.encode("utf-8"))).decode("ascii")
        headers["Content-Encoding"] = "gzip"
    # The reply Lambda returns is itself JSON: the body is a string in it, every quote of it escaped.
    size = len(json.dumps(body))
    if size > ANSWER_LIMIT_BYTES:
        rows = len(payload.get("rows", ()))
        return error_response(
            413,
            f"the answer ({rows} rows, {size / 1_000_000:.1f} MB) is larger than the "
            f"{ANSWER_LIMIT_BYTES / 1_000_000:.0f} MB an answer can carry; narrow the time frame or the filters, group "
            "by fewer attributes, or ask for the totals" + ("" if accepts_gzip else ", or send Accept-Encoding: gzip"),
        )
    answer = Response(HTTPStatus.OK, "application/json", body, headers=headers)
    answer.base64_encoded = accepts_gzip
    return answer


def rows_answer(answer: ReportAnswer) -> dict[str, Any]:
    """RM's rows answer: every parameter (defaults filled), the resolved dates, the rows."""
    return {
        "params": _params(answer),
        "dates": json_dates(answer.today, answer.period),
        "rows": json_rows(answer.table),
    }


def totals_answer(answer: ReportAnswer) -> dict[str, Any]:
    """RM's totals answer: every parameter (defaults filled), the resolved dates, each metric's total."""
    return {
        "params": _params(answer),
        "dates": json_dates(answer.today, answer.period),
        "totals": json_totals(answer.table),
    }


def _params(answer: ReportAnswer) -> dict[str, Any]:
    params: dict[str, Any] = answer.query.model_dump(mode="json", by_alias=True)
    params["hours_per_day"] = json_cell(answer.query.hours_per_day)  # a number, not pydantic's Decimal string
    return params


# --- errors ---------------------------------------------------------------------------------------------------


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None, *, retry_after: float | None = None
) -> Response[str]:
    """`{"message": ...}` with `status`, and `Retry-After` in whole seconds (at least 1) when `retry_after` is given."""
    if retry_after is not None:
        headers = (headers or {}) | {"Retry-After": str(whole_seconds(retry_after))}
    return Response(status, "application/json", json.dumps({"message": message}), headers=headers)


def whole_seconds(seconds: float) -> int:
    """A wait as the whole seconds Retry-After takes: rounded up, and never 0 (which would say "now")."""
    return max(1, math.ceil(seconds))


def _register_error_handlers(app: APIGatewayHttpResolver, clock: Callable[[], datetime]) -> None:
    @app.exception_handler(RequestValidationError)
    def invalid_request(exc: RequestValidationError) -> Response[str]:
        content_type = app.current_event.headers.get("content-type", "")
        if app.current_event.body and content_type and not content_type.lower().startswith("application/json"):
            # A form or text body (curl's -d without -H) would be read field by field: say what to send instead.
            return error_response(415, f"Content-Type: {content_type!r} is not supported; send application/json")
        return error_response(400, describe_request_errors(list(exc.errors())))

    @app.exception_handler(RequestUnsupportedContentType)
    def unsupported_body(exc: RequestUnsupportedContentType) -> Response[str]:
        content_type = app.current_event.headers.get("content-type", "")
        return error_response(415, f"Content-Type: {content_type!r} is not supported; send application/json")

    @app.exception_handler(ServiceError)
    def service_error(exc: ServiceError) -> Response[str]:
        return error_response(exc.status_code, str(exc.msg))

    @app.exception_handler(UnknownReportError)
    def unknown_report(exc: UnknownReportError) -> Response[str]:
        return error_response(404, str(exc))

    @app.exception_handler(DefinitionError)
    def invalid_query(exc: DefinitionError) -> Response[str]:
        return error_response(400, str(exc))

    @app.not_found
    def no_route(exc: NotFoundError) -> Response[str]:
        allowed = allowed_methods(app.current_event.path)
        if allowed:
            # The path is one of ours, the method is not: 405 with what it takes (RFC 9110), not "no such endpoint".
            return error_response(
                405,
                f"{app.current_event.http_method} is not allowed here; use {' or '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)},
            )
        return error_response(404, f"no such endpoint; this API has: {', '.join(ROUTES)}")

    @app.exception_handler(QuotaExhaustedError)
    def quota_spent(exc: QuotaExhaustedError) -> Response[str]:
        logger.warning("reports api: quota exhausted", extra={"resets_at": exc.resets_at.isoformat()})
        return error_response(
            429,
            f"the Intervals account's daily API quota is spent; it resets at {exc.resets_at.isoformat()}",
            retry_after=(exc.resets_at - clock()).total_seconds(),
        )

    @app.exception_handler(PaceExceedsDeadlineError)
    def paced_out(exc: PaceExceedsDeadlineError) -> Response[str]:
        # The answers before this one spent the minute's requests to Intervals: say when the next one may start
        # rather than sleep past API Gateway's 29 s with the quota spent.
        return error_response(
            429,
            "too many requests to Intervals in the last minute to answer in time; try again in "
            f"{whole_seconds(exc.retry_after)} s",
            retry_after=exc.retry_after,
        )

    @app.exception_handler(RunTooLongError)
    def too_long(exc: RunTooLongError) -> Response[str]:
        # Refused before any quota was spent on the rest: more pages than the invocation has time for. Trying again
        # would not help; a narrower query would, or the period filled into the mirror ahead (a sync has 15 minutes).
        # The exception's own advice names the deployment's settings: not the caller's to change.
        return error_response(
            422,
            f"this query needs {exc.needed}; narrow its time frame, or ask the operator to fill the period into the "
            "mirror first (timereports sync)",
        )

    @app.exception_handler(IntervalsError)
    def intervals_failed(exc: IntervalsError) -> Response[str]:
        # The reason stays in the log: an Intervals reply may describe the account, and a refused token is the
        # operator's problem, not the caller's.
        logger.warning("reports api: Intervals failed", extra={"error": str(exc), "kind": type(exc).__name__})
        hint = getattr(exc, "retry_after", 0) or UNAVAILABLE_RETRY_SECONDS
        return error_response(
            503,
            "Intervals could not answer the query; try again later",
            retry_after=hint,
        )

    @app.exception_handler(TimereportsError)
    def other_failure(exc: TimereportsError) -> Response[str]:
        # What has no handler of its own: one worth retrying (other syncs of the mirror kept publishing first) is a
        # 503 to try again, anything else an internal error whose reason (and traceback) stays in the log.
        if exc.retryable:
            logger.warning("reports api: failed", extra={"error": one_line(exc), "kind": type(exc).__name__})
            return error_response(
                503,
                "the data kept changing while it was read; try again",
                retry_after=CONFLICT_RETRY_SECONDS,
            )
        logger.exception("reports api: failed", extra={"kind": type(exc).__name__})
        return error_response(500, "internal error; its operator can find it in the service's log")

    @app.exception_handler(ConfigurationError)
    def misconfigured(exc: ConfigurationError) -> Response[str]:
        logger.error("reports api: configuration error", extra={"error": str(exc), "cause": str(exc.__cause__ or "")})
        return error_response(500, "the service is not configured correctly; its operator can find why in its log")

    @app.exception_handler(Exception)
    def unexpected(exc: Exception) -> Response[str]:
        logger.exception("reports api: unexpected error")
        return error_response(500, "internal error; its operator can find it in the service's log")
