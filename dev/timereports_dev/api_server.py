"""`timereports serve`: the Reports API's resolver over HTTP on 127.0.0.1, as API Gateway would drive it.

Each request becomes an API Gateway HTTP API (payload format 2.0) event and goes through the very resolver the
reports_api Lambda runs, so local answers, errors and the OpenAPI document are the deployed ones. What API Gateway's
IAM authoriser does when deployed, an API key does here: `Authorization: Bearer $TIMEREPORTS_API_KEY`, compared in
constant time, checked before any event is built; the header never reaches the resolver.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, urlsplit

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from timereports.errors import ConfigurationError, one_line

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

LOCAL_HOST = "127.0.0.1"
API_KEY_VARIABLE = "TIMEREPORTS_API_KEY"
# Short keys are guessable; a generated one (`python -c "import secrets; print(secrets.token_urlsafe())"`) is 43.
MIN_API_KEY_LENGTH = 16
# A request body larger than this is refused unread (a report query is a few hundred bytes).
MAX_BODY_BYTES = 64 * 1024

logger = logging.getLogger(__name__)


def check_api_key(key: str | None) -> str:
    """The key the server will demand, or a ConfigurationError: the API never serves without one."""
    if key is None or not key.strip():
        raise ConfigurationError(
            f"{API_KEY_VARIABLE}: not set; the Reports API needs a key its clients send as 'Authorization: Bearer "
            '<key>\' (generate one: python -c "import secrets; print(secrets.token_urlsafe())")'
        )
    key = key.strip()
    if len(key) < MIN_API_KEY_LENGTH:
        raise ConfigurationError(f"{API_KEY_VARIABLE}: at least {MIN_API_KEY_LENGTH} characters, got {len(key)}")
    return key


class _LocalContext:
    """What Powertools reads of a Lambda context, for one local request."""

    function_name = "timereports-serve"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:timereports-serve"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 30_000  # API Gateway's HTTP API integration timeout


def http_api_event(
    method: str, target: str, headers: Mapping[str, str], body: bytes, *, source_ip: str, host: str
) -> dict[str, Any]:
    """An API Gateway HTTP API v2 event for one request, as the deployed function receives it."""
    parts = urlsplit(target)
    now = datetime.now(UTC)
    lowered = {name.lower(): value for name, value in headers.items() if name.lower() != "authorization"}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path,
        "rawQueryString": parts.query,
        "headers": lowered,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": method,
                "path": parts.path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if parts.query:
        # Decoded, as API Gateway hands them over (a repeated name keeps its last value here).
        event["queryStringParameters"] = dict(parse_qsl(parts.query, keep_blank_values=True))
    if body:
        event["body"] = body.decode("utf-8", errors="replace")
    return event


class _QuietServer(ThreadingHTTPServer):
    """A request that failed outside the answer (a connection reset while reading) is one log line, not a traceback
    on the operator's terminal."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        failure = sys.exc_info()[1]
        logger.warning("a request from %s failed: %s", client_address[0], one_line(failure) if failure else "unknown")


class ReportsApiServer:
    """A threaded HTTP server on 127.0.0.1 that authenticates each request and hands it to `resolver`."""

    def __init__(self, resolver: APIGatewayHttpResolver, api_key: str, *, port: int = 0) -> None:
        self._resolver = resolver
        self._key = check_api_key(api_key).encode("utf-8")
        self._server = _QuietServer((LOCAL_HOST, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        # Powertools' resolver keeps the current event on itself: one request at a time through it.
        self._resolve_lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        """Serve in a daemon thread; returns the base URL."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="reports-api", daemon=True)
        self._thread.start()
        return self.url

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ReportsApiServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def authorised(self, header: str | None) -> bool:
        """Whether an Authorization header carries the key (compared in constant time)."""
        scheme, _, credentials = (header or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(credentials.strip().encode("utf-8"), self._key)

    def respond(self, event: dict[str, Any]) -> dict[str, Any]:
        with self._resolve_lock:
            # The attributes Powertools reads of a LambdaContext, without the runtime's class.
            reply: dict[str, Any] = self._resolver.resolve(event, cast("LambdaContext", _LocalContext()))
            return reply

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "timereports-serve"
            sys_version = ""
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def do_PUT(self) -> None:
                self._serve()

            def do_DELETE(self) -> None:
                self._serve()

            def do_PATCH(self) -> None:
                self._serve()

            def do_HEAD(self) -> None:
                self._serve()

            def do_OPTIONS(self) -> None:
                self._serve()

            def log_message(self, format: str, *args: Any) -> None:
                logger.info("%s %s", self.address_string(), format % args)

            def _serve(self) -> None:
                try:
                    self._answer()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                    logger.info("%s %s: the client closed the connection before the answer", self.command, self.path)

            def _answer(self) -> None:
                started = time.monotonic()
                if self.headers.get("Transfer-Encoding"):
                    # A chunked body is not read here (API Gateway hands the function whole bodies): refused, not
                    # silently dropped and answered as if it were empty.
                    self._send(411, {"message": "send the body with a Content-Length, not chunked"}, close=True)
                    return
                declared = (self.headers.get("Content-Length") or "0").strip()
                if not declared.isdigit():
                    problem = f"Content-Length: {declared[:40]!r} is not a number of bytes"
                    self._send(400, {"message": problem}, close=True)
                    return
                length = int(declared)
                if length > MAX_BODY_BYTES:
                    self._send(413, {"message": f"body: at most {MAX_BODY_BYTES} bytes"}, close=True)
                    return
                body = self.rfile.read(length) if length else b""
                if not server.authorised(self.headers.get("Authorization")):
                    self._send(
                        401,
                        {"message": "missing or wrong API key: send 'Authorization: Bearer <TIMEREPORTS_API_KEY>'"},
                        extra={"WWW-Authenticate": 'Bearer realm="timereports"'},
                    )
                    return
                event = http_api_event(
                    self.command,
                    self.path,
                    dict(self.headers.items()),
                    body,
                    source_ip=self.client_address[0],
                    host=self.headers.get("Host", LOCAL_HOST),
                )
                reply = server.respond(event)
                payload = reply.get("body") or ""
                self.send_response(int(reply["statusCode"]))
                for name, value in (reply.get("headers") or {}).items():
                    self.send_header(name, str(value))
                # As API Gateway does: a base64-encoded body (a gzipped answer) goes out as its bytes.
                data = base64.b64decode(payload) if reply.get("isBase64Encoded") else payload.encode("utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                logger.info(
                    "%s %s -> %s in %.0f ms",
                    self.command,
                    self.path,
                    reply["statusCode"],
                    (time.monotonic() - started) * 1000,
                )

            def _send(
                self, status: int, document: dict[str, Any], *, extra: dict[str, str] | None = None, close: bool = False
            ) -> None:
                data = json.dumps(document).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                if close:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(data)

        return Handler
