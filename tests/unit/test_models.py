"""Typed API records: the API's encodings are accepted, and an odd reply becomes a clear IntervalsError."""

from __future__ import annotations

from decimal import Decimal

import pytest

from timereports.errors import IntervalsError
from timereports.models.intervals import TimeEntry, parse_record


def test_strings_numbers_booleans_and_entities_are_decoded() -> None:
    entry = parse_record(
        TimeEntry,
        {"id": "5", "date": "2026-01-02", "time": 1.25, "billable": "t", "project": "R&amp;D", "clientid": None},
        "time",
    )
    assert (entry.id, entry.time, entry.billable, entry.project, entry.clientid) == (
        5,
        Decimal("1.25"),
        True,
        "R&D",
        None,
    )


def test_a_record_no_model_accepts_names_the_record_and_field() -> None:
    with pytest.raises(IntervalsError, match=r"/time/ record 5, time: "):
        parse_record(TimeEntry, {"id": "5", "date": "2026-01-02", "time": "", "billable": "t"}, "time")


@pytest.mark.parametrize(
    ("field", "value"), [("time", "1e25"), ("time", "-100001"), ("hourlyrate", "1e20"), ("hourlyrate", "-2e9")]
)
def test_hours_or_a_rate_beyond_any_real_entry_is_an_unexpected_reply_naming_the_record(field: str, value: str) -> None:
    # Given an entry whose hours or rate no account has (sums and cent amounts of it would overflow Decimal's digits)
    row = {"id": "5", "date": "2026-01-02", "time": "1", "hourlyrate": "90", field: value}
    # Then the reply is refused naming the record and the field, before anything is summed
    with pytest.raises(IntervalsError, match=rf"^unexpected reply from Intervals: /time/ record 5, {field}: Input "):
        parse_record(TimeEntry, row, "time")


def test_a_name_from_intervals_is_one_line_without_direction_controls() -> None:
    # Given names that would fake lines of the email's text part, or reverse the figures printed after them
    entry = TimeEntry.model_validate(
        {
            "id": 1,
            "date": "2026-11-16",
            "time": "1",
            "client": "Mango Inc.\n\nTotals\r\n  Pay to IBAN XX00\x1c",
            "person": "Grace\u202e Hopper\u2066",
            "description": "<p>Call\u202e notes</p><p>Line two</p>",
        }
    )
    # Then each name is one line, and no text keeps a control that reorders what follows it
    assert entry.client == "Mango Inc.  Totals    Pay to IBAN XX00 "
    assert entry.person == "Grace Hopper"
    # while a description keeps its lines (the entry view shows them), without the controls
    assert entry.description == "Call notes\nLine two"
