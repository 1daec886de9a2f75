"""A key given twice is refused end to end: by the reports_api Lambda (a 400 naming it, before any Intervals request)
and by `timereports validate` (one line, exit 2), instead of the last one silently winning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_cli import WEEKLY, assert_one_clean_line, timereports
from tests.integration.test_reports_api import deployed, invoke, with_body
from tests.support.events import load_event


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('{"view": "time_fees_hours", "view": "budgets_hours"}', "view"),
        (
            '{"filters": {"client": {"operation": "inclusion", "values": ["Mango Inc."]},'
            ' "client": {"operation": "exclusion", "values": ["Mango Inc."]}}}',
            "client",
        ),
    ],
    ids=["view", "filter"],
)
# `deployed` is test_reports_api's fixture, imported: pytest finds it by name in this module.
@pytest.mark.usefixtures(deployed.__name__)
def test_a_body_with_a_key_given_twice_is_a_400_naming_it(simulator: Any, body: str, key: str) -> None:
    # Given a rows request whose body has a key twice
    event = with_body(load_event("reports_api_rows.json"), body)
    # When the handler answers it
    status, _, answer = invoke(event)
    # Then it is refused with one message naming the key, before any Intervals request
    assert status == 400, answer
    assert answer == {"message": f"body: {key} appears twice in one object; send each parameter once"}
    assert simulator.request_log == []


def test_validate_refuses_a_key_given_twice_in_one_line_exit_2(tmp_path: Path) -> None:
    # Given the weekly definition with a second `to:` in its delivery
    text = WEEKLY.read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("  cc: []", "  to: [a@example.com]"), encoding="utf-8")
    # When it is validated / Then it is one line naming the file, the line and the key, and exit 2
    result = timereports("validate", str(bad))
    assert result.returncode == 2
    line = assert_one_clean_line(result)
    lines = [number for number, text in enumerate(bad.read_text(encoding="utf-8").splitlines(), 1) if "  to:" in text]
    assert line == f"{bad}: line {lines[1]}: delivery.to appears twice (first on line {lines[0]}); keep one of them"
