"""The entry mirror end to end: the runner over the simulator (loopback HTTP) and moto (S3 + DynamoDB).

Given an account whose mirror covers a period, when entries are edited, deleted, inserted, moved, approved or
renamed between runs, then a run from the mirror delivers the same CSV as a fresh full pull, within the request
bounds the design promises; concurrent syncs lose nothing, and a sync killed before publishing leaves the previous
version readable and is completed by the next run.
"""

from __future__ import annotations

import math
import threading
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from timereports_dev.dataset import ADMIN_TOKEN
from timereports_dev.simulator import Fault, IntervalsSimulator

from tests.support.lambda_context import FakeLambdaContext
from timereports.bootstrap.aws import aws_client
from timereports.bootstrap.history import build_run_history
from timereports.bootstrap.runs import build_runner
from timereports.bootstrap.sources import build_client, build_ledger, build_mirror_store
from timereports.clock import utc_now
from timereports.dal.mirror_store import S3MirrorStore
from timereports.engine.mirror import DayRange, ranges_of
from timereports.engine.mirror_format import decode_month
from timereports.errors import QuotaExhaustedError, RunTooLongError
from timereports.logic.mirror import EntryMirror
from timereports.logic.mirrored_source import MirroredTimeSource, reference_names
from timereports.logic.runner import RunRequest
from timereports.models.catalogue import parse_definition
from timereports.models.definition import ReportDefinition
from timereports.models.intervals import TimeQuery
from timereports.models.mirror import MirrorManifest

PERIOD = {"from": "2026-03-01", "to": "2026-04-30"}


def definition(**changes: Any) -> ReportDefinition:
    base: dict[str, Any] = {
        "id": "mirror-check",
        "title": "Mirror check",
        "view": "time_fees_hours_and_amounts",
        "time_frame": PERIOD,
        "timezone": "UTC",
        "group_by": ["project_id", "user_id"],
    }
    return parse_definition({**base, **changes})


class Harness:
    """Runs one report from the mirror or directly and counts what each run cost the simulator's quota."""

    def __init__(self, aws: Any, simulator: IntervalsSimulator) -> None:
        self.aws = aws
        self.simulator = simulator

    def run(self, report: ReportDefinition, *, mirror: bool = True, **settings_changes: Any) -> tuple[Any, int]:
        settings = self.aws.settings.model_copy(update={"mirror_enabled": mirror, **settings_changes})
        runner = build_runner(settings, api_url=self.simulator.url, token=ADMIN_TOKEN)
        before = self.simulator.requests_counted
        outcome = runner.run(RunRequest(definition=report))
        return outcome, self.simulator.requests_counted - before

    def same_as_direct(self, report: ReportDefinition, **settings_changes: Any) -> Any:
        mirrored, _ = self.run(report, **settings_changes)
        direct, _ = self.run(report, mirror=False)
        assert mirrored.record.source == "mirror"
        assert direct.record.source == "direct"
        assert mirrored.csv == direct.csv
        return mirrored

    def store(self, account: str = "default") -> S3MirrorStore:
        return build_mirror_store(self.aws.settings, account)

    def mirror(self, store: Any) -> tuple[EntryMirror, Any]:
        account = self.aws.settings.account(api_url=self.simulator.url)
        client = build_client(self.aws.settings, account, build_ledger(self.aws.settings, account), token=ADMIN_TOKEN)
        return EntryMirror(client, store, names=lambda: reference_names(client)), client


@pytest.fixture
def harness(aws: Any, simulator: IntervalsSimulator) -> Harness:
    return Harness(aws, simulator)


def entries_between(simulator: IntervalsSimulator, start: str, end: str) -> list[dict[str, Any]]:
    return [entry for entry in simulator.time_entries() if start <= entry["date"].isoformat() <= end]


# -------------------------------------------------------------------------------------------- equality with a pull


@st.composite
def changes(draw: st.DrawFn) -> list[tuple[str, int, int]]:
    """A few edits, deletes, inserts and date moves: (kind, which entry, a number to derive values from)."""
    kinds = st.sampled_from(["edit", "delete", "insert", "move", "billable"])
    return draw(st.lists(st.tuples(kinds, st.integers(0, 10_000), st.integers(0, 60)), min_size=1, max_size=8))


def apply_changes(simulator: IntervalsSimulator, planned: list[tuple[str, int, int]]) -> None:
    start = date(2026, 3, 1)
    for kind, which, number in planned:
        # Entries just around the period too: moves into and out of it, and inserts outside it, must not confuse it.
        pool = entries_between(simulator, "2026-02-20", "2026-05-10")
        entry = pool[which % len(pool)]
        if kind == "edit":
            simulator.update_time_entry(entry["id"], time=Decimal(number % 16 + 1) / 4)
        elif kind == "billable":
            simulator.update_time_entry(entry["id"], billable=not entry["billable"])
        elif kind == "delete":
            simulator.delete_time_entry(entry["id"])
        elif kind == "insert":
            simulator.add_time_entry(
                personid=entry["personid"],
                worktypeid=entry["worktypeid"],
                projectid=entry["projectid"],
                moduleid=entry["moduleid"],
                date=start + timedelta(days=number - 5),
                time=Decimal("1.25"),
                billable=bool(number % 2),
            )
        else:
            simulator.update_time_entry(entry["id"], date=start + timedelta(days=number - 3))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rounds=st.lists(changes(), min_size=1, max_size=3))
def test_reports_from_the_mirror_equal_a_fresh_pull_after_random_changes(
    aws: Any, dataset: Any, rounds: list[list[tuple[str, int, int]]]
) -> None:
    # Given a mirror that covers the period (each example: a fresh account, so its own API pacing and mirror)
    aws.dynamodb.delete_item(
        TableName=aws.settings.state_table, Key={"pk": {"S": "mirror#default"}, "sk": {"S": "manifest"}}
    )
    with IntervalsSimulator(dataset) as simulator:
        harness = Harness(aws, simulator)
        report = definition()
        harness.same_as_direct(report)
        for planned in rounds:
            # When entries are edited, deleted, inserted and moved between runs
            apply_changes(simulator, planned)
            # Then the report from the mirror is the report of a fresh full pull
            harness.same_as_direct(report)


def test_approvals_and_renames_that_leave_datemodified_alone_reach_the_report(
    harness: Harness, simulator: IntervalsSimulator
) -> None:
    # Given an approval report (approved time only, grouped by client) whose period the mirror covers
    report = definition(calc_incurred_using="approved", group_by=["client", "approval_status"])
    harness.same_as_direct(report, mirror_reference_hours=1e-6)
    # When a week is approved and a client renamed, neither touching an entry's datemodified
    entry = entries_between(simulator, "2026-03-09", "2026-03-13")[0]
    affected = simulator.set_week_approved(entry["personid"], date(2026, 3, 9), True)
    assert affected > 0
    simulator.rename("client", entry["clientid"], "Renamed & Co")
    # Then the mirror's report still equals a fresh pull (the approved count is probed; names are refreshed)
    outcome = harness.same_as_direct(report, mirror_reference_hours=1e-6)
    assert b"Renamed & Co" in outcome.csv


@pytest.mark.parametrize("operation", ["inclusion", "exclusion"])
def test_a_filter_by_a_records_new_name_finds_its_time_while_the_mirror_still_has_the_old_one(
    harness: Harness, simulator: IntervalsSimulator, operation: str
) -> None:
    # Given the period in the mirror, then a project renamed (its entries in the mirror keep the old name for a day)
    harness.run(definition(group_by=["project_id"]))
    project = entries_between(simulator, PERIOD["from"], PERIOD["to"])[0]["projectid"]
    simulator.rename("project", project, "Website Relaunch 2027")
    # When a report filters by the new name
    filters = {"project_id": {"operation": operation, "values": ["Website Relaunch 2027"]}}
    mirrored, _ = harness.run(definition(group_by=["project_id"], filters=filters))
    # Then it keeps (or leaves out) that project's time, as a direct pull does
    direct, _ = harness.run(definition(group_by=["project_id"], filters=filters), mirror=False)
    ids = {line.split(",")[0] for line in mirrored.csv.decode("utf-8-sig").splitlines()[1:-1]}
    assert (str(project) in ids) == (operation == "inclusion")
    assert ids == {line.split(",")[0] for line in direct.csv.decode("utf-8-sig").splitlines()[1:-1]}


def test_a_rename_reaches_a_month_edited_every_day_within_the_names_age(
    harness: Harness, simulator: IntervalsSimulator
) -> None:
    # Given March in the mirror, names laid over stored months once they are 24 hours old
    start = utc_now()
    now = [start]
    _, client = harness.mirror(harness.store())
    mirror = EntryMirror(
        client,
        harness.store(),
        clock=lambda: now[0],
        names=lambda: reference_names(client),
        names_max_age=timedelta(hours=24),
    )
    march = DayRange(date(2026, 3, 1), date(2026, 3, 31))
    project = entries_between(simulator, "2026-03-01", "2026-03-31")[0]["projectid"]
    mirror.sync(march)
    # When the project is renamed (no entry's datemodified changes) and other entries of March are edited within
    # the day, so that the month is rewritten each time with the names it was loaded with
    simulator.rename("project", project, "Renamed Project")
    others = [
        entry for entry in entries_between(simulator, "2026-03-01", "2026-03-31") if entry["projectid"] != project
    ]
    for hours, entry in zip((2, 20), others, strict=False):
        now[0] = start + timedelta(hours=hours)
        simulator.update_time_entry(entry["id"], time=Decimal("2.25"))
        mirror.sync(march)
    # Then once its names are 24 hours old (the first sync's), the report's month carries the new name
    now[0] = start + timedelta(hours=25)
    names = {entry.project for entry in mirror.sync(march) if entry.projectid == project}
    assert names == {"Renamed Project"}


def test_the_changes_are_paged_by_id_whatever_order_the_api_gives_edits_of_one_second(
    harness: Harness, simulator: IntervalsSimulator
) -> None:
    # Given a covered period, and a bulk edit: many entries given the same datemodified second
    report = definition()
    harness.run(report)
    for entry in entries_between(simulator, "2026-03-02", "2026-03-06"):
        simulator.update_time_entry(entry["id"], time=Decimal("0.75"))
    simulator.request_log.clear()
    # When the next run syncs the changes
    outcome = harness.same_as_direct(report)
    # Then it asked for them in id order (documented, unique), not by datemodified, whose ties the API leaves unordered
    changes = [record for record in simulator.request_log if "datemodifiedbegin" in record.params]
    assert changes
    assert {record.params.get("sortfield") for record in changes} == {"id"}
    assert outcome.record.source == "mirror"


def test_a_sync_out_of_time_part_way_keeps_the_gaps_it_filled_before(
    harness: Harness, simulator: IntervalsSimulator
) -> None:
    # Given March 3 in the mirror, so that March has two gaps: the 1st and 2nd (one page), and the 4th to the 31st
    store = harness.store()
    mirror, _ = harness.mirror(store)
    mirror.sync(DayRange(date(2026, 3, 3), date(2026, 3, 3)))
    # And a client with 30 s left, 6 requests a minute and pages of 20: the second gap's pages cannot all be sent
    settings = harness.aws.settings.model_copy(update={"intervals_page_size": 20, "intervals_requests_per_minute": 6})
    account = settings.account(api_url=simulator.url)
    client = build_client(
        settings,
        account,
        build_ledger(settings, account),
        token=ADMIN_TOKEN,
        deadline=FakeLambdaContext(remaining_millis=30_000),
        margin_seconds=0,
    )
    # When March is synced / Then it is refused for time, before the second gap's remaining pages are sent
    with pytest.raises(RunTooLongError):
        EntryMirror(client, store).sync(DayRange(date(2026, 3, 1), date(2026, 3, 31)))
    # But the first gap was kept: the 1st to the 3rd are covered, with all their entries, the rest of March not
    manifest = store.load_manifest()
    assert ranges_of(manifest.covered) == [DayRange(date(2026, 3, 1), date(2026, 3, 3))]
    kept = {entry.id for entry in mirror.sync(DayRange(date(2026, 3, 1), date(2026, 3, 3)))}
    assert kept == {entry["id"] for entry in entries_between(simulator, "2026-03-01", "2026-03-03")}


class SupersededWhileRead(S3MirrorStore):
    """The bucket and table as they are, with another sync publishing at the worst moment: right after this one read
    the manifest, it writes March anew, publishes, and deletes the object it replaced (as every publish does)."""

    def __init__(self, store: S3MirrorStore) -> None:
        super().__init__(
            store.account, bucket=store.bucket, table_name=store.table_name, s3=store._s3, dynamodb=store._dynamodb
        )
        self.raced = False

    def read_object(self, key: str) -> bytes | None:
        if not self.raced:
            self.raced = True
            manifest = self.load_manifest()
            march = manifest.months["2026-03"]
            body = super().read_object(march.key)
            assert body is not None
            newer = march.model_copy(update={"key": self.write_month("2026-03", body)})
            assert self.publish(
                manifest.model_copy(update={"months": {**manifest.months, "2026-03": newer}}), manifest.version
            )
            self.delete_objects([march.key])
        return super().read_object(key)


def test_a_sync_out_of_quota_after_filling_keeps_the_gaps_it_filled(
    harness: Harness, simulator: IntervalsSimulator
) -> None:
    # Given March 3 in the mirror, and a ledger that allows 4 requests today (the 5th is refused)
    settings = harness.aws.settings.model_copy(update={"intervals_daily_quota": 5, "intervals_quota_reserve": 1})
    account = settings.account(api_url=simulator.url)
    client = build_client(settings, account, build_ledger(settings, account), token=ADMIN_TOKEN)
    store = harness.store()
    EntryMirror(client, store).sync(DayRange(date(2026, 3, 3), date(2026, 3, 3)))  # 1 request
    # When the 1st to the 5th are synced: the changes (1), the two gaps (2), then March 3's count probe (refused)
    with pytest.raises(QuotaExhaustedError):
        EntryMirror(client, store).sync(DayRange(date(2026, 3, 1), date(2026, 3, 5)))
    # Then the gaps were kept: the 1st to the 5th are covered, with every entry of theirs
    manifest = store.load_manifest()
    assert ranges_of(manifest.covered) == [DayRange(date(2026, 3, 1), date(2026, 3, 5))]
    body = store.read_object(manifest.months["2026-03"].key)
    assert body is not None
    kept = {entry.id for entry in decode_month(body)}
    assert kept == {entry["id"] for entry in entries_between(simulator, "2026-03-01", "2026-03-05")}


def test_a_month_gone_because_a_newer_manifest_replaced_it_is_read_from_that_one_not_the_api(
    harness: Harness, simulator: IntervalsSimulator
) -> None:
    # Given March in the mirror
    store = harness.store()
    mirror, client = harness.mirror(store)
    march = DayRange(date(2026, 3, 1), date(2026, 3, 31))
    mirror.sync(march)
    # When a sync finds March's object gone because another sync replaced it just after this one read the manifest
    racing = SupersededWhileRead(store)
    synced = EntryMirror(client, racing)
    entries = synced.sync(march)
    # Then it started again from the newer manifest: March came from the bucket, none of it from the API
    assert racing.raced
    assert synced.stats.attempts == 2
    assert synced.stats.pulled == 0
    assert {entry.id for entry in entries} == {
        entry["id"] for entry in entries_between(simulator, "2026-03-01", "2026-03-31")
    }


# ------------------------------------------------------------------------------------------------- request bounds


def test_a_run_over_a_covered_period_costs_at_most_three_requests_when_nothing_changed(harness: Harness) -> None:
    report = definition()
    _first, first_cost = harness.run(report)
    direct, direct_cost = harness.run(report, mirror=False)
    # When the same report runs again with nothing changed
    again, cost = harness.run(report)
    # Then it costs a sync page and a count probe, and reads what a pull reads
    assert first_cost == direct_cost, "a period not covered yet costs what a direct pull costs"
    assert cost <= 3
    assert again.record.source == "mirror"
    assert again.record.count_probes == 1
    assert again.record.api_requests <= 4  # /quota/ is sent too, and is free
    assert again.csv == direct.csv


def test_catching_up_k_changes_costs_a_page_per_thousand_plus_a_few_probes_per_changed_day(
    harness: Harness, simulator: IntervalsSimulator
) -> None:
    report = definition()
    harness.run(report)
    harness.run(report)
    # When most entries of 3 days are edited, and 3 other entries deleted on 2 of those days
    days = ["2026-03-10", "2026-03-24", "2026-04-14"]
    edited: set[int] = set()
    for day in days:
        for entry in entries_between(simulator, day, day)[:-2]:
            simulator.update_time_entry(entry["id"], time=Decimal("3.5"))
            edited.add(entry["id"])
    for day in days[:2]:
        simulator.delete_time_entry(entries_between(simulator, day, day)[-1]["id"])
    simulator.delete_time_entry(entries_between(simulator, days[0], days[0])[-1]["id"])
    outcome, cost = harness.run(report)
    # Then the sync costs ceil(k / page) pages, and the deletions a bisection of the 61 days (one probe per halving
    # on each changed day's path) plus a pull of each changed day
    changed_days = 2
    probes_per_day = math.ceil(math.log2(61)) + 1
    assert outcome.record.changes_synced >= len(edited)
    assert outcome.record.count_probes <= 1 + changed_days * probes_per_day
    assert cost <= math.ceil(len(edited) / 1000) + 1 + changed_days * probes_per_day + changed_days
    direct, _ = harness.run(report, mirror=False)
    assert outcome.csv == direct.csv


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago", "Etc/GMT+12"])
def test_the_sync_overlap_covers_an_account_zone_far_from_utc(aws: Any, dataset: Any, zone: str) -> None:
    # Given an API that reads datemodifiedbegin in an account zone 14 h ahead of UTC, 11 h behind, or 12 h behind
    # (Etc/GMT+12 is UTC-12, the furthest behind)
    with IntervalsSimulator(dataset, filter_zone=zone) as simulator:
        harness = Harness(aws, simulator)
        report = definition()
        harness.run(report)
        # When entries are edited right after the mirror was filled
        for entry in entries_between(simulator, "2026-03-02", "2026-03-02")[:5]:
            simulator.update_time_entry(entry["id"], time=Decimal("9.75"))
        # Then the next run sees every edit
        outcome = harness.same_as_direct(report)
        assert outcome.record.changes_synced >= 5


# ----------------------------------------------------------------------------------------- concurrency and crashes


class RacingStore(S3MirrorStore):
    """The real store, except that its first publish lets another sync publish first (a deterministic race)."""

    def __init__(self, other_sync: Any, **kwargs: Any) -> None:
        super().__init__("default", **kwargs)
        self._other_sync = other_sync
        self.publishes = 0

    def publish(self, manifest: MirrorManifest, expected_version: int) -> bool:
        self.publishes += 1
        if self.publishes == 1:
            self._other_sync()
        return super().publish(manifest, expected_version)


def raced_by(harness: Harness, aws: Any, other: DayRange) -> EntryMirror:
    """A sync whose first publish comes just after another sync of `other` published."""
    second, _ = harness.mirror(harness.store())
    store = RacingStore(
        lambda: second.sync(other),
        bucket=aws.settings.reports_bucket,
        table_name=aws.settings.state_table,
        s3=aws_client("s3"),
        dynamodb=aws_client("dynamodb"),
    )
    return harness.mirror(store)[0]


def test_two_syncs_at_once_lose_no_update(harness: Harness, aws: Any) -> None:
    # Given two syncs of one account over different months, the second publishing while the first is about to
    first = raced_by(harness, aws, DayRange(date(2026, 4, 1), date(2026, 4, 30)))
    # When the first publishes over the version the second has replaced
    first.sync(DayRange(date(2026, 3, 1), date(2026, 3, 31)))
    # Then it lays its month over the newer manifest rather than pull March again (the second touched only April):
    # both months are covered, each object is readable
    manifest = harness.store().load_manifest()
    assert first.stats.attempts == 1
    assert first.stats.pulled == len(entries_between(harness.simulator, "2026-03-01", "2026-03-31"))
    assert manifest.version == 2
    assert ranges_of(manifest.covered) == [DayRange(date(2026, 3, 1), date(2026, 4, 30))]
    for month in ("2026-03", "2026-04"):
        body = harness.store().read_object(manifest.months[month].key)
        assert body is not None
        assert len(decode_month(body)) == manifest.months[month].count > 0


def test_two_syncs_of_one_month_at_once_redo_rather_than_merge(harness: Harness, aws: Any) -> None:
    # Given two syncs of the same month, the second publishing while the first is about to
    march = DayRange(date(2026, 3, 1), date(2026, 3, 31))
    first = raced_by(harness, aws, march)
    # When the first publishes over the version the second has replaced / Then it cannot lay March over March:
    # it redoes its attempt over the newer manifest, which covers March already: nothing new to publish
    first.sync(march)
    assert first.stats.attempts == 2
    manifest = harness.store().load_manifest()
    assert manifest.version == 1
    assert ranges_of(manifest.covered) == [march]
    body = harness.store().read_object(manifest.months["2026-03"].key)
    assert body is not None
    assert len(decode_month(body)) == manifest.months["2026-03"].count > 0


def test_two_threads_syncing_one_account_both_land(harness: Harness) -> None:
    syncs = [harness.mirror(harness.store())[0] for _ in range(2)]
    spans = [DayRange(date(2026, 5, 1), date(2026, 5, 31)), DayRange(date(2026, 6, 1), date(2026, 6, 30))]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(index: int) -> None:
        barrier.wait()
        try:
            syncs[index].sync(spans[index])
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert ranges_of(harness.store().load_manifest().covered) == [DayRange(date(2026, 5, 1), date(2026, 6, 30))]


class KilledBeforePublish(Exception):
    """Stands for the process dying between the object writes and the manifest publish."""


class CrashingStore(S3MirrorStore):
    def publish(self, manifest: MirrorManifest, expected_version: int) -> bool:
        raise KilledBeforePublish


def test_a_sync_killed_before_publishing_leaves_the_previous_version_readable(
    harness: Harness, simulator: IntervalsSimulator, aws: Any
) -> None:
    # Given a published mirror of the period, then edits
    report = definition()
    harness.run(report)
    before = harness.store().load_manifest()
    for entry in entries_between(simulator, "2026-03-05", "2026-03-06")[:6]:
        simulator.update_time_entry(entry["id"], time=Decimal("6"))
    simulator.delete_time_entry(entries_between(simulator, "2026-04-07", "2026-04-07")[0]["id"])
    # When a sync writes its objects and dies before the manifest names them
    crashing = CrashingStore(
        "default",
        bucket=aws.settings.reports_bucket,
        table_name=aws.settings.state_table,
        s3=aws_client("s3"),
        dynamodb=aws_client("dynamodb"),
    )
    mirror, _ = harness.mirror(crashing)
    with pytest.raises(KilledBeforePublish):
        mirror.sync(DayRange(date(2026, 3, 1), date(2026, 4, 30)))
    # Then the published version is the previous one, and every object it names still reads
    after = harness.store().load_manifest()
    assert after == before
    for stored in after.months.values():
        body = harness.store().read_object(stored.key)
        assert body is not None
        assert len(decode_month(body)) == stored.count
    # And the next run completes the sync: its report equals a fresh pull
    harness.same_as_direct(report)
    assert harness.store().load_manifest().version == before.version + 1


def test_a_month_expired_by_the_lifecycle_rule_is_pulled_again(harness: Harness, aws: Any) -> None:
    report = definition()
    harness.run(report)
    manifest = harness.store().load_manifest()
    aws.s3.delete_object(Bucket=aws.settings.reports_bucket, Key=manifest.months["2026-03"].key)
    harness.same_as_direct(report)


# ---------------------------------------------------------------------------------------------------- turning off


def test_an_account_with_mirror_false_pulls_directly_and_writes_no_mirror(harness: Harness, aws: Any) -> None:
    outcome, cost = harness.run(definition(), mirror=False)
    assert outcome.record.source == "direct"
    assert outcome.record.count_probes is None
    assert harness.store().load_manifest().version == 0
    listed = aws.s3.list_objects_v2(Bucket=aws.settings.reports_bucket, Prefix="mirror/")
    assert listed.get("KeyCount", 0) == 0
    # The direct pull's own cost (see intervals/client.py): one page, then pages of 999 new rows; no probe, no sync.
    period_entries = len(entries_between(harness.simulator, PERIOD["from"], PERIOD["to"]))
    assert cost == max(1, math.ceil((period_entries - 1) / 999))


def test_a_named_account_turns_the_mirror_off_in_intervals_accounts(aws: Any, simulator: IntervalsSimulator) -> None:
    settings = aws.settings.model_copy(
        update={"intervals_accounts": {"acme": {"mirror": False, "api_url": simulator.url}}}
    )
    runner = build_runner(settings, "acme", api_url=simulator.url, token=ADMIN_TOKEN)
    outcome = runner.run(RunRequest(definition=definition(account="acme")))
    assert outcome.record.source == "direct"


def test_the_mirrored_source_answers_pushed_filters_like_the_api(
    harness: Harness, simulator: IntervalsSimulator
) -> None:
    # Given a report whose filters the plan pushes down to the API (client, billable) and one it keeps local
    entry = entries_between(simulator, "2026-03-02", "2026-03-31")[0]
    report = definition(
        filters={
            "client": {"operation": "inclusion", "values": [entry["clientid"]]},
            "billable": {"operation": "inclusion", "values": [True]},
            "user_id": {"operation": "exclusion", "values": [entry["personid"]]},
        }
    )
    harness.run(report)
    harness.same_as_direct(report)


def test_run_json_and_the_history_say_where_the_data_came_from(harness: Harness, aws: Any) -> None:
    harness.run(definition())
    outcome, _ = harness.run(definition())
    assert outcome.record.source == "mirror"
    assert outcome.record.count_probes == 1
    (latest, *_) = build_run_history(aws.settings).last_runs("mirror-check", 1)
    assert (latest.source, latest.changes_synced, latest.count_probes) == ("mirror", 0, 1)
    assert latest.api_requests == outcome.record.api_requests


def test_faults_during_a_sync_are_retried_and_the_report_is_the_same(
    harness: Harness, simulator: IntervalsSimulator
) -> None:

    # Given a covered period, then edits and a deletion
    report = definition()
    harness.run(report)
    for entry in entries_between(simulator, "2026-03-16", "2026-03-17")[:4]:
        simulator.update_time_entry(entry["id"], time=Decimal("4.5"))
    simulator.delete_time_entry(entries_between(simulator, "2026-04-20", "2026-04-20")[0]["id"])
    # When the sync page, the probes and the re-pull meet 503s, resets and truncated bodies
    simulator.inject(Fault(path="/time/", kind="status", status=502, api_code=20, times=2))
    simulator.inject(Fault(path="/time/", kind="reset", times=1))
    simulator.inject(Fault(path="/time/", kind="truncate", times=1))
    # Then the run retries them and delivers the report of a fresh pull
    harness.same_as_direct(report)


def test_a_second_period_read_through_the_same_source_costs_its_probe_only(
    harness: Harness, simulator: IntervalsSimulator
) -> None:
    # Given a mirror covering March and April, and one source (a comparison reads its period and the previous one)
    harness.run(definition())
    mirror, client = harness.mirror(harness.store())
    source = MirroredTimeSource(client, mirror)
    source.sync_quota()
    list(source.iter_time_many([TimeQuery(datebegin=date(2026, 4, 1), dateend=date(2026, 4, 30))]))
    before = simulator.requests_counted
    # When it reads the previous period right after
    list(source.iter_time_many([TimeQuery(datebegin=date(2026, 3, 1), dateend=date(2026, 3, 31))]))
    # Then that costs one count probe: no second sync page
    assert simulator.requests_counted - before == 1
