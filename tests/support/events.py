"""The sample events in events/ (the same files `sam local invoke -e` takes), for the tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"


def load_event(name: str) -> Any:
    """One sample event, parsed."""
    return json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))
