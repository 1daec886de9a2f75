"""A cold start without the garbage collector: each functions/*/app.py imports this module before anything else.

A cold start allocates some 130,000 objects (modules, classes, pydantic's validators, botocore's service models), and
all of them live as long as the container; CPython's collector nonetheless traverses them again and again while they
pile up, 6% to 13% of a handler's start (`make bench`). In a Lambda container (AWS_LAMBDA_FUNCTION_NAME is set)
the collector is therefore off from this import until the handler's use case is built (`@ends_cold_start` on the
handler's builders, and on the handler itself for an invocation that builds nothing, such as an invalid event).
Then every object so far is moved out of all later collections (gc.freeze), so that a full collection during a long
run no longer traverses them either, and the collector is turned back on. The few hundred unreachable objects the
imports leave are frozen with the rest (kilobytes) rather than found by a full collection (20 to 40 ms here).
Outside Lambda (the tests, the command line) the collector is left alone.
"""

from __future__ import annotations

import gc
import os

# Whether this container's start is still under way: only ever in Lambda, which sets the function's name.
_starting = "AWS_LAMBDA_FUNCTION_NAME" in os.environ

if _starting:
    gc.disable()

# After the collector is off, like everything else the start imports (typing alone is a collection or two).
from collections.abc import Callable  # noqa: E402
from functools import wraps  # noqa: E402
from typing import ParamSpec, TypeVar  # noqa: E402

P = ParamSpec("P")
T = TypeVar("T")


def end_cold_start() -> None:
    """The start is over: freeze what it allocated and collect again from here on (once; later calls do nothing)."""
    global _starting
    if _starting:
        _starting = False
        gc.freeze()
        gc.enable()


def ends_cold_start(builder: Callable[P, T]) -> Callable[P, T]:
    """A handler's builder after which the start is over, whether the build succeeds or fails (a missing setting:
    the container then keeps collecting garbage while it answers with the error)."""

    @wraps(builder)
    def build(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return builder(*args, **kwargs)
        finally:
            end_cold_start()

    return build
