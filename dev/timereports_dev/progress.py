"""Progress of `sync` and `run` on a terminal, through tqdm: the step, entries, requests, time waited on the API's
rate limit, months done of months due and the quota left. Nothing when stderr is not a terminal: the command prints
its one-line result instead, so that logs and pipes stay clean.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from tqdm import tqdm

from timereports.logic.ports import SyncProgress

REFRESH_SECONDS = 0.1


class TerminalProgress:
    """A tqdm bar over the months of a sync (or the single step of a run), updated from the mirror's callbacks."""

    def __init__(self, *, total: int | None = None, unit: str = "month", stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self._bar: Any = None
        if self.enabled:
            self._bar = tqdm(total=total, unit=unit, file=self.stream, dynamic_ncols=True, leave=True)
        self._quota_left: int | None = None
        self._shown_at = 0.0

    def __call__(self, progress: SyncProgress) -> None:
        """The mirror's progress callback."""
        if self._bar is None:
            return
        now = time.monotonic()
        if now - self._shown_at < REFRESH_SECONDS:
            return  # the callback comes per entry: redraw a few times a second, not a hundred thousand times
        self._shown_at = now
        self._bar.set_description(progress.stage, refresh=False)
        postfix = {
            "entries": progress.entries,
            "requests": progress.requests,
            "waited": f"{progress.waited_seconds:.1f}s",
        }
        if self._quota_left is not None:
            postfix["quota left"] = self._quota_left
        self._bar.set_postfix(postfix, refresh=True)

    def month_done(self, quota_left: Callable[[], int | None] | None = None) -> None:
        if self._bar is None:
            return
        if quota_left is not None:
            self._quota_left = quota_left()
        self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
