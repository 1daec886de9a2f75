"""One attempt of an entry mirror sync: what it read and changed (`SyncWork`), and publishing it.

A publish writes the changed months under new keys, then the manifest with a conditional write on the version the
attempt read. When another sync published first, the two are merged if they can both hold (the other touched none
of this attempt's months, nor their coverage): this attempt's months laid over the newer manifest, published over
that version. Only otherwise is the attempt redone (the caller's loop), its pulls paid again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from timereports.engine.mirror import (
    DayRange,
    add_coverage,
    as_pairs,
    covered_within,
    month_range,
    ranges_of,
    uncovered,
)
from timereports.engine.mirror_format import MirroredEntry, encode_month
from timereports.logic.ports import MirrorStore
from timereports.models.mirror import MirrorManifest, MonthObject


@dataclass
class SyncWork:
    """One attempt's state: the manifest read, the months loaded (id -> entry), what changed."""

    manifest: MirrorManifest
    covered: list[DayRange]
    months: dict[str, dict[int, MirroredEntry]] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)
    # Ranges pulled from the API in this attempt: their counts are the API's already, no probe needed.
    fresh: list[DayRange] = field(default_factory=list)
    fresh_approval: list[DayRange] = field(default_factory=list)
    full_at: dict[str, datetime] = field(default_factory=dict)
    # Months loaded with their stored names (written too recently for the overlay): when their names were current.
    # Rewriting such a month keeps that time, or every edit in a busy month would keep its old names for good.
    names_at: dict[str, datetime] = field(default_factory=dict)
    cursor: datetime | None = None
    # Gaps this attempt pulled whole: kept (published) even if a later step fails.
    filled: int = 0

    def snapshot(self) -> SyncWork:
        """A copy of the state as it is, that later steps do not change (the entries themselves are immutable)."""
        return replace(
            self,
            covered=list(self.covered),
            months={month: dict(entries) for month, entries in self.months.items()},
            dirty=set(self.dirty),
            fresh=list(self.fresh),
            fresh_approval=list(self.fresh_approval),
            full_at=dict(self.full_at),
            names_at=dict(self.names_at),
        )


@dataclass(frozen=True)
class Published:
    """The version an attempt published (the manifest's own when it changed nothing) and the months it wrote."""

    version: int
    months_written: int


def publish_work(store: MirrorStore, work: SyncWork, now: datetime) -> Published | None:
    """Write the attempt's changed months and publish its manifest (merged over a newer one where both can hold);
    None when another sync's publish cannot be merged with it (its objects are deleted again)."""
    base = work.manifest
    months = dict(base.months)
    written: list[str] = []
    superseded: list[str] = []
    for month in sorted(work.dirty):
        entries = work.months.get(month, {})
        key = store.write_month(month, encode_month(month, entries.values()))
        written.append(key)
        if month in months:
            superseded.append(months[month].key)
        months[month] = MonthObject(
            key=key, count=len(entries), full_at=work.full_at.get(month), written_at=work.names_at.get(month, now)
        )
    if not written and work.cursor == base.cursor and work.covered == ranges_of(base.covered):
        return Published(base.version, 0)  # nothing changed: nothing to publish
    ours = base.model_copy(
        update={
            "cursor": work.cursor,
            "covered": as_pairs(work.covered),
            "months": months,
            "updated_at": now.astimezone(UTC),
        }
    )
    version = base.version
    if not store.publish(ours, version):
        latest = store.load_manifest()
        if not written:
            # Only the cursor moved: the newer manifest stands as it is (the next sync asks from its cursor).
            return Published(latest.version, 0)
        merged = merged_over(ours, base, latest, work.dirty)
        version = latest.version
        if merged is None or not store.publish(merged, version):
            store.delete_objects(written)
            return None
    store.delete_objects(superseded)
    return Published(version + 1, len(written))


def merged_over(
    ours: MirrorManifest, base: MirrorManifest, latest: MirrorManifest, touched: set[str]
) -> MirrorManifest | None:
    """`ours` (made from `base`) laid over `latest`, which another sync published since; None when both cannot
    hold: the other wrote one of the `touched` months or changed what of them is covered, or this one uncovered
    days (a month found gone). The cursor is the older of the two: the next sync asks for changes from there."""
    if any(latest.months.get(month) != base.months.get(month) for month in touched):
        return None
    base_covered, our_covered, latest_covered = (
        ranges_of(base.covered),
        ranges_of(ours.covered),
        ranges_of(latest.covered),
    )
    if any(uncovered(our_covered, piece) for piece in base_covered):
        return None
    if any(
        covered_within(latest_covered, month_range(month)) != covered_within(base_covered, month_range(month))
        for month in touched
    ):
        return None
    # The newer manifest's coverage, and ours only where ours is the word: the months this attempt wrote (of the
    # others it holds the older manifest's, which the newer one may have narrowed since).
    covered: list[DayRange] = latest_covered
    for month in touched:
        for piece in covered_within(our_covered, month_range(month)):
            covered = add_coverage(covered, piece)
    cursors = [cursor for cursor in (ours.cursor, latest.cursor) if cursor is not None]
    return latest.model_copy(
        update={
            "months": {**latest.months, **{month: ours.months[month] for month in touched}},
            "covered": as_pairs(covered),
            "cursor": min(cursors) if cursors else None,
            "updated_at": ours.updated_at,
        }
    )
