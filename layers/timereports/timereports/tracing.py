"""X-Ray tracing for the handlers, on only when the deployment asks for it (TRACING=true, the template's `Tracing`
parameter).

Powertools Tracer imports the X-Ray SDK and patches botocore when it is built: about a third of a handler's cold
start (`make bench`). A scheduled report gains little from a trace, so tracing is off by default and, when on, the
Tracer is built on the first invocation instead of at import.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from timereports.config import get_settings

Handler = TypeVar("Handler", bound=Callable[..., Any])


def traced(handler: Handler) -> Handler:
    """`handler` under Powertools Tracer's `capture_lambda_handler` when tracing is on; as it is otherwise."""
    chosen: list[Callable[..., Any]] = []

    @functools.wraps(handler)
    def invoke(event: Any, context: Any) -> Any:
        if not chosen:
            if get_settings().tracing:
                # Deferred: the X-Ray SDK's import and botocore patching, paid only by deployments that trace.
                from aws_lambda_powertools import Tracer

                chosen.append(Tracer().capture_lambda_handler(handler))
            else:
                chosen.append(handler)
        return chosen[0](event, context)

    return invoke  # type: ignore[return-value]
