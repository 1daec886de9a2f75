"""Merging a sync's manifest over one another sync published meanwhile: when both can hold, and when not."""

from __future__ import annotations

from datetime import date, datetime

from timereports.engine.mirror import DayRange, as_pairs
from timereports.logic.mirror_publish import merged_over
from timereports.models.mirror import MirrorManifest, MonthObject

MARCH = DayRange(date(2026, 3, 1), date(2026, 3, 31))
APRIL = DayRange(date(2026, 4, 1), date(2026, 4, 30))
MAY = DayRange(date(2026, 5, 1), date(2026, 5, 31))


def manifest(version: int, months: dict[str, str], covered: list[DayRange], cursor: datetime) -> MirrorManifest:
    return MirrorManifest(
        account="default",
        version=version,
        cursor=cursor,
        covered=as_pairs(covered),
        months={month: MonthObject(key=key, count=1) for month, key in months.items()},
    )


BASE = manifest(1, {"2026-03": "m3-a"}, [MARCH], datetime(2026, 11, 1, 8))


def test_months_the_other_sync_did_not_touch_are_laid_over_its_manifest() -> None:
    # Given this sync filled April over version 1, while another filled May and published version 2
    ours = manifest(1, {"2026-03": "m3-a", "2026-04": "m4-ours"}, [MARCH, APRIL], datetime(2026, 11, 1, 9))
    latest = manifest(2, {"2026-03": "m3-a", "2026-05": "m5-theirs"}, [MARCH, MAY], datetime(2026, 11, 1, 7))
    # When merged / Then both months are there, all three months covered, from the older cursor on
    merged = merged_over(ours, BASE, latest, {"2026-04"})
    assert merged is not None
    assert {month: stored.key for month, stored in merged.months.items()} == {
        "2026-03": "m3-a",
        "2026-04": "m4-ours",
        "2026-05": "m5-theirs",
    }
    assert merged.covered == as_pairs([DayRange(MARCH.start, MAY.end)])
    assert merged.cursor == datetime(2026, 11, 1, 7)
    assert merged.version == 2


def test_a_month_both_wrote_is_not_merged() -> None:
    ours = manifest(1, {"2026-03": "m3-ours"}, [MARCH], datetime(2026, 11, 1, 9))
    latest = manifest(2, {"2026-03": "m3-theirs"}, [MARCH], datetime(2026, 11, 1, 9))
    assert merged_over(ours, BASE, latest, {"2026-03"}) is None


def test_a_month_whose_coverage_the_other_changed_is_not_merged() -> None:
    # Given this sync wrote April, while the other covered the first days of April without writing it yet
    ours = manifest(1, {"2026-03": "m3-a", "2026-04": "m4-ours"}, [MARCH, APRIL], datetime(2026, 11, 1, 9))
    first_days = DayRange(date(2026, 4, 1), date(2026, 4, 3))
    latest = manifest(2, {"2026-03": "m3-a"}, [MARCH, first_days], datetime(2026, 11, 1, 9))
    assert merged_over(ours, BASE, latest, {"2026-04"}) is None


def test_days_this_sync_uncovered_are_not_merged() -> None:
    # Given this sync found March's object gone (uncovered), while another published
    ours = manifest(1, {"2026-03": "m3-empty"}, [], datetime(2026, 11, 1, 9))
    latest = manifest(2, {"2026-03": "m3-a", "2026-05": "m5"}, [MARCH, MAY], datetime(2026, 11, 1, 9))
    assert merged_over(ours, BASE, latest, {"2026-03"}) is None


def test_coverage_the_other_sync_narrowed_in_a_month_this_one_did_not_write_stays_narrowed() -> None:
    # Given this sync filled April over version 1 (March covered), while the other found March's object expired,
    # and refilled only its first week
    first_week = DayRange(date(2026, 3, 1), date(2026, 3, 7))
    ours = manifest(1, {"2026-03": "m3-a", "2026-04": "m4-ours"}, [MARCH, APRIL], datetime(2026, 11, 1, 9))
    latest = manifest(2, {"2026-03": "m3-week"}, [first_week], datetime(2026, 11, 1, 9))
    # When merged / Then March is covered as the other left it, not as this sync read it
    merged = merged_over(ours, BASE, latest, {"2026-04"})
    assert merged is not None
    assert merged.covered == as_pairs([first_week, APRIL])
