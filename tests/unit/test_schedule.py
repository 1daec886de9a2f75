"""Scheduling: cron fire times across DST, and the dispatcher's tick with in-memory ports (no AWS, no clock)."""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from timereports_dev.fakes import InMemoryCursorStore, InMemoryDeferredRuns, InMemoryReportStates, InMemoryRunQueue

from timereports.dal.run_queue import SqsRunQueue
from timereports.engine.schedule import fire_times
from timereports.errors import RunQueueError, TimereportsError
from timereports.logic.dispatch import Dispatcher
from timereports.models.catalogue import load_definition, parse_definition
from timereports.models.definition import ReportDefinition
from timereports.models.events import RunMessage

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# ------------------------------------------------------------------------------------------------ fire times


def test_berlin_spring_gap_fires_once_at_the_next_valid_minute() -> None:
    # Given a daily 02:30 Berlin job and 2026-03-29, when clocks jump from 02:00 CET to 03:00 CEST
    # When the fire times around that day are computed
    times = fire_times("30 2 * * *", BERLIN, utc(2026, 3, 28, 12), utc(2026, 3, 30, 12))
    # Then the skipped 02:30 fires once at 03:00 CEST (01:00 UTC), and the next day at 02:30 CEST again
    assert times == [utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30)]


def test_berlin_autumn_repeat_fires_once_at_the_first_occurrence() -> None:
    # Given a daily 02:30 Berlin job and 2026-10-25, when 02:00-03:00 happens twice (CEST, then CET)
    times = fire_times("30 2 * * *", BERLIN, utc(2026, 10, 24, 12), utc(2026, 10, 26, 12))
    # Then it fires once that day, at 02:30 CEST (00:30 UTC), and at 02:30 CET (01:30 UTC) the day after
    assert times == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_new_york_spring_gap_and_autumn_repeat() -> None:
    # Given New York's 2026 changes: 02:00 EST -> 03:00 EDT on 8 March, 02:00 EDT -> 01:00 EST on 1 November
    spring = fire_times("30 2 * * *", NEW_YORK, utc(2026, 3, 7, 12), utc(2026, 3, 9, 12))
    autumn = fire_times("30 1 * * *", NEW_YORK, utc(2026, 10, 31, 12), utc(2026, 11, 2, 12))
    # Then 02:30 on the spring day fires at 03:00 EDT, and the repeated 01:30 fires once, as EDT (UTC-4)
    assert spring == [utc(2026, 3, 8, 7, 0), utc(2026, 3, 9, 6, 30)]
    assert autumn == [utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]


def test_weekly_monday_0700_follows_the_wall_clock_across_the_change() -> None:
    # Given "every Monday 07:00 Berlin time" over the weeks around the October change
    times = fire_times("0 7 * * MON", BERLIN, utc(2026, 10, 12), utc(2026, 11, 3))
    # Then it is 07:00 local each time: 05:00 UTC in summer time, 06:00 UTC after
    assert times == [utc(2026, 10, 12, 5), utc(2026, 10, 19, 5), utc(2026, 10, 26, 6), utc(2026, 11, 2, 6)]


def test_hourly_job_runs_in_real_time_across_both_changes() -> None:
    # Given an hourly job (hour field '*'), which cronsim, like Debian cron, schedules in real time
    autumn = fire_times("0 * * * *", BERLIN, utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 2, 30))
    spring = fire_times("0 * * * *", BERLIN, utc(2026, 3, 28, 23, 30), utc(2026, 3, 29, 2, 30))
    # Then it fires every real hour: twice at wall time 02:00 in autumn, and never at 02:00 in spring
    assert autumn == [utc(2026, 10, 25, 0), utc(2026, 10, 25, 1), utc(2026, 10, 25, 2)]
    assert spring == [utc(2026, 3, 29, 0), utc(2026, 3, 29, 1), utc(2026, 3, 29, 2)]


def test_window_starting_in_the_second_pass_of_the_repeated_hour_does_not_refire() -> None:
    # Given a job at 02:50 Berlin that fired at 02:50 CEST (00:50 UTC) on the autumn day
    # When a window starts at 02:10 CET (01:10 UTC), the second pass of that hour
    times = fire_times("50 2 * * *", BERLIN, utc(2026, 10, 25, 1, 10), utc(2026, 10, 25, 3))
    # Then nothing fires again in the second pass
    assert times == []


def test_window_is_open_at_the_start_and_closed_at_the_end() -> None:
    # Given a daily 07:00 UTC job
    # When windows end, or start, exactly at a fire time
    ending = fire_times("0 7 * * *", "UTC", utc(2026, 5, 1, 6), utc(2026, 5, 1, 7))
    starting = fire_times("0 7 * * *", "UTC", utc(2026, 5, 1, 7), utc(2026, 5, 1, 8))
    # Then the fire time belongs to the window it ends, never to the next one
    assert ending == [utc(2026, 5, 1, 7)]
    assert starting == []


def test_fire_times_are_aware_utc_and_accept_any_aware_bounds() -> None:
    # Given bounds in another zone
    after = datetime(2026, 5, 1, 8, tzinfo=UTC).astimezone()
    times = fire_times("0 9 * * *", BERLIN, after, after + timedelta(days=1))
    # Then the answer is in UTC
    assert times == [utc(2026, 5, 2, 7)]
    assert all(moment.tzinfo is UTC for moment in times)


def test_limit_keeps_the_latest_fire_times() -> None:
    # Given an every-15-minutes job over 2 hours (8 fire times) and a limit of 3
    times = fire_times("*/15 * * * *", "UTC", utc(2026, 5, 1, 0), utc(2026, 5, 1, 2), limit=3)
    # Then the latest 3 are returned, oldest first
    assert times == [utc(2026, 5, 1, 1, 30), utc(2026, 5, 1, 1, 45), utc(2026, 5, 1, 2)]


def test_bad_bounds_are_refused_or_empty() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        fire_times("0 7 * * *", "UTC", datetime(2026, 5, 1), utc(2026, 5, 2))
    with pytest.raises(ValueError, match="limit"):
        fire_times("0 7 * * *", "UTC", utc(2026, 5, 1), utc(2026, 5, 2), limit=0)
    assert fire_times("0 7 * * *", "UTC", utc(2026, 5, 2), utc(2026, 5, 1)) == []


@settings(max_examples=40, deadline=None)
@given(
    cron=st.sampled_from(["30 2 * * *", "0 * * * *", "*/20 1-3 * * *", "0,30 2 * * *", "0 7 * * MON"]),
    zone=st.sampled_from([BERLIN, NEW_YORK]),
    day=st.sampled_from([utc(2026, 3, 28, 20), utc(2026, 10, 24, 20), utc(2026, 3, 7, 20), utc(2026, 10, 31, 20)]),
    cuts=st.lists(st.integers(min_value=1, max_value=36 * 60), max_size=12),
)
def test_consecutive_windows_fire_exactly_what_one_window_fires(
    cron: str, zone: str, day: datetime, cuts: list[int]
) -> None:
    # Given a 36-hour span around a DST change, cut into consecutive windows at random minutes (ticks)
    bounds = [day, *sorted({day + timedelta(minutes=cut) for cut in cuts}), day + timedelta(hours=36)]
    # When each window is evaluated on its own, as successive dispatcher ticks do
    pieces = [moment for start, end in itertools.pairwise(bounds) for moment in fire_times(cron, zone, start, end)]
    # Then together they fire exactly what the whole span fires: nothing twice, nothing lost
    assert pieces == fire_times(cron, zone, bounds[0], bounds[-1])


# ------------------------------------------------------------------------------- the tick with in-memory ports


def report(report_id: str, cron: str, **overrides: Any) -> ReportDefinition:
    definition: dict[str, Any] = {
        "id": report_id,
        "title": report_id,
        "time_frame": "last_week",
        "timezone": BERLIN,
        "schedule": {"cron": cron, "timezone": BERLIN},
        "delivery": {"to": ["ops@example.com"]},
    }
    return parse_definition(definition | overrides)


class Rig:
    """A dispatcher over in-memory ports, with the ports at hand."""

    def __init__(self, *reports: ReportDefinition, **options: Any) -> None:
        self.cursors = InMemoryCursorStore()
        self.queue = InMemoryRunQueue()
        self.deferred = InMemoryDeferredRuns()
        self.states = InMemoryReportStates()
        # The dispatcher's clock is the latest tick's instant: a tick is never ahead of it, whatever day the test runs.
        self.now = datetime(2000, 1, 1, tzinfo=UTC)
        self.dispatcher = Dispatcher(
            list(reports), self.cursors, self.queue, self.deferred, self.states, clock=lambda: self.now, **options
        )

    def tick(self, at: datetime) -> list[tuple[str, datetime, date, date]]:
        self.now = max(self.now, at)
        return [(m.report_id, m.scheduled_at, m.period_from, m.period_to) for m in self.dispatcher.tick(at)]


def test_monday_report_covers_last_week_in_the_report_zone() -> None:
    # Given a Monday 07:00 Berlin report over last_week, first seen on a Sunday
    rig = Rig(report("weekly", "0 7 * * MON"))
    assert rig.tick(utc(2026, 11, 22, 12)) == []
    # When the tick after Monday 07:00 CET runs
    runs = rig.tick(utc(2026, 11, 23, 6, 5))
    # Then one run, due 06:00 UTC, covering Monday 16 to Sunday 22 November
    assert runs == [("weekly", utc(2026, 11, 23, 6), date(2026, 11, 16), date(2026, 11, 22))]


def test_a_report_that_names_only_its_schedules_zone_covers_that_zones_period() -> None:
    # Given a Monday 07:00 Sydney report over last week that sets no zone of its own
    definition = {
        "id": "weekly-syd",
        "title": "Weekly",
        "time_frame": "last_week",
        "schedule": {"cron": "0 7 * * MON", "timezone": "Australia/Sydney"},
        "delivery": {"to": ["ops@example.com"]},
    }
    rig = Rig(parse_definition(definition))
    rig.tick(utc(2026, 11, 29, 12))
    # When it fires on Monday 30 November in Sydney (Sunday 20:00 UTC)
    runs = rig.tick(utc(2026, 11, 29, 20, 5))
    # Then it covers Sydney's last week, 23 to 29 November, not the week before (UTC's, where it is still Sunday)
    assert runs == [("weekly-syd", utc(2026, 11, 29, 20), date(2026, 11, 23), date(2026, 11, 29))]


def test_period_uses_the_report_zone_not_the_schedule_zone() -> None:
    # Given a report scheduled at Sunday 23:30 UTC whose own zone is Berlin (where it is already Monday)
    weekly = report("late", "30 23 * * SUN", schedule={"cron": "30 23 * * SUN", "timezone": "UTC"})
    rig = Rig(weekly)
    rig.tick(utc(2026, 11, 22, 0))
    # When it fires
    runs = rig.tick(utc(2026, 11, 23, 0))
    # Then "last week" is Berlin's: the week that ended on the Sunday just gone
    assert runs == [("late", utc(2026, 11, 22, 23, 30), date(2026, 11, 16), date(2026, 11, 22))]


def test_half_monthly_report_covers_the_half_month_before() -> None:
    # Given a report sent on the 1st and the 16th at 07:00 over last_half_month
    rig = Rig(report("half", "0 7 1,16 * *", time_frame="last_half_month"))
    rig.tick(utc(2026, 10, 31))
    # When a month of ticks passes
    runs = rig.tick(utc(2026, 11, 2)) + rig.tick(utc(2026, 11, 17))
    # Then the 1st covers 16-31 October and the 16th covers 1-15 November
    assert runs == [
        ("half", utc(2026, 11, 1, 6), date(2026, 10, 16), date(2026, 10, 31)),
        ("half", utc(2026, 11, 16, 6), date(2026, 11, 1), date(2026, 11, 15)),
    ]


def test_an_earlier_tick_after_a_later_one_sends_nothing() -> None:
    # Given a daily report over its day whose cursor a tick on the 3rd has moved
    rig = Rig(report("daily", "0 1 * * *", time_frame="today"))
    rig.tick(utc(2026, 5, 1, 9, 30))
    assert len(rig.tick(utc(2026, 5, 3, 12))) == 2
    # When a delayed tick as of the 2nd arrives
    # Then it sends nothing: its window was already sent, and the cursor never moves back
    assert rig.tick(utc(2026, 5, 2, 11)) == []
    assert rig.cursors.cursors["daily"] == utc(2026, 5, 3, 12)


def test_catch_up_keeps_the_latest_runs_within_both_bounds(caplog: pytest.LogCaptureFixture) -> None:
    # Given a daily report over its day, a 5-day catch-up bound and at most 3 runs per report
    daily = report("daily", "0 1 * * *", time_frame="today")  # 01:00 in Berlin: 23:00 UTC the day before
    rig = Rig(daily, max_catch_up=timedelta(days=5), max_runs_per_report=3)
    rig.tick(utc(2026, 5, 1, 0, 30))
    # When the next tick comes 10 days later
    with caplog.at_level(logging.WARNING, logger="timereports.logic.dispatch"):
        runs = rig.tick(utc(2026, 5, 11, 0, 30))
    # Then only the 3 latest runs are sent; the 5 older than the bound and the 2 beyond the count are logged
    assert [run[1] for run in runs] == [utc(2026, 5, 8, 23), utc(2026, 5, 9, 23), utc(2026, 5, 10, 23)]
    # (records of the dispatcher's logger only: a server thread of an earlier test may log meanwhile)
    dispatcher_records = [record for record in caplog.records if record.name == "timereports.logic.dispatch"]
    assert [getattr(record, "dropped", None) for record in dispatcher_records] == [5, 2]


def test_unsent_runs_put_the_window_back_for_the_next_tick() -> None:
    # Given a daily report over its day and a queue that refuses everything once
    rig = Rig(report("daily", "0 1 * * *", time_frame="today"))
    rig.tick(utc(2026, 5, 1, 0, 30))
    rig.queue.refuse = lambda message: True
    # When a tick cannot queue its runs
    with pytest.raises(RunQueueError):
        rig.tick(utc(2026, 5, 3, 0, 30))
    # Then the cursor is back where it was, and the next tick sends the whole window
    assert rig.cursors.cursors["daily"] == utc(2026, 5, 1, 0, 30)
    rig.queue.refuse = None
    assert [run[1] for run in rig.tick(utc(2026, 5, 3, 0, 31))] == [utc(2026, 5, 1, 23), utc(2026, 5, 2, 23)]


def test_paused_report_is_skipped_and_not_replayed_after_resume() -> None:
    # Given an hourly report that is paused
    rig = Rig(report("hourly", "0 * * * *"))
    rig.tick(utc(2026, 5, 1, 0, 30))
    rig.states.pause("hourly", "3 failures in a row")
    # When ticks pass while it is paused, and after it is resumed
    paused = rig.tick(utc(2026, 5, 1, 3, 30))
    rig.states.resume("hourly")
    resumed = rig.tick(utc(2026, 5, 1, 4, 30))
    # Then nothing goes out while paused, and only the runs after the resume afterwards
    assert paused == []
    assert [run[1] for run in resumed] == [utc(2026, 5, 1, 4)]


def deferred_message(report_id: str, scheduled_at: datetime) -> RunMessage:
    return RunMessage.model_validate(
        {"report_id": report_id, "scheduled_at": scheduled_at, "from": "2026-11-16", "to": "2026-11-22"}
    )


def test_deferred_runs_go_out_once_when_due() -> None:
    # Given a run deferred until midnight UTC, a paused report's deferred run, and one of a deleted report
    rig = Rig(report("weekly", "0 7 * * MON"), report("paused", "0 7 * * MON"))
    reset = utc(2026, 11, 24)
    rig.deferred.defer(deferred_message("weekly", utc(2026, 11, 23, 6)), until=reset)
    rig.deferred.defer(deferred_message("paused", utc(2026, 11, 23, 6)), until=reset)
    rig.deferred.defer(deferred_message("deleted", utc(2026, 11, 23, 6)), until=reset)
    rig.states.pause("paused", "owner asked")
    # When ticks run before, at, and after the reset
    before = rig.tick(reset - timedelta(seconds=1))
    at_reset = rig.tick(reset)
    after = rig.tick(reset + timedelta(minutes=5))
    # Then the run goes out once at the reset; the paused report's run is dropped (as its due runs are, so it
    # cannot hold back other parked runs), and so is the deleted report's
    assert before == []
    assert after == []
    assert at_reset == [("weekly", utc(2026, 11, 23, 6), date(2026, 11, 16), date(2026, 11, 22))]
    assert list(rig.deferred.runs.values()) == []


def test_unsent_deferred_run_is_parked_again() -> None:
    # Given a due deferred run and a queue that refuses it
    rig = Rig(report("weekly", "0 7 * * MON"))
    rig.deferred.defer(deferred_message("weekly", utc(2026, 11, 23, 6)), until=utc(2026, 11, 24))
    rig.queue.refuse = lambda message: True
    # When the tick fails to queue it
    with pytest.raises(RunQueueError):
        rig.tick(utc(2026, 11, 24, 0, 5))
    # Then it is parked again with the same due time
    assert [run.until for run in rig.deferred.runs.values()] == [utc(2026, 11, 24)]


def test_report_states_count_failures_and_reset_on_success() -> None:
    states = InMemoryReportStates()
    assert [states.record_failure("r"), states.record_failure("r")] == [1, 2]
    states.record_success("r")
    assert states.record_failure("r") == 1
    assert not states.is_paused("r")


def test_catalogue_half_monthly_report_is_sent_on_the_1st_and_16th_for_the_half_before() -> None:
    # Given the sample catalogue's half-monthly report
    sample = load_definition(Path(__file__).parents[2] / "reports" / "half-monthly-billable-by-client.yaml")
    rig = Rig(sample)
    rig.tick(utc(2026, 12, 31))
    # When ticks pass through January 2027
    runs = rig.tick(utc(2027, 1, 1, 12)) + rig.tick(utc(2027, 1, 16, 12))
    # Then it went out at 07:00 Berlin on the 1st (for 16-31 December) and on the 16th (for 1-15 January)
    assert runs == [
        (sample.id, utc(2027, 1, 1, 6), date(2026, 12, 16), date(2026, 12, 31)),
        (sample.id, utc(2027, 1, 16, 6), date(2027, 1, 1), date(2027, 1, 15)),
    ]


class UnreadableStates(InMemoryReportStates):
    """A state store whose reads fail, as DynamoDB might."""

    def is_paused(self, report_id: str) -> bool:
        raise TimereportsError("dispatch: reading the state failed (InternalServerError)")


def test_a_failure_after_the_claim_puts_the_window_back() -> None:
    # Given an hourly report whose state cannot be read on the next tick
    hourly = report("hourly", "0 * * * *")
    rig = Rig(hourly)
    rig.tick(utc(2026, 5, 1, 0, 30))
    broken = Dispatcher([hourly], rig.cursors, rig.queue, rig.deferred, UnreadableStates())
    # When that tick fails after claiming its window
    with pytest.raises(TimereportsError):
        broken.tick(utc(2026, 5, 1, 1, 30))
    # Then nothing was sent, the cursor is back, and the next working tick sends the run
    assert rig.queue.sent == []
    assert rig.cursors.cursors["hourly"] == utc(2026, 5, 1, 0, 30)
    assert [run[1] for run in rig.tick(utc(2026, 5, 1, 1, 35))] == [utc(2026, 5, 1, 1)]


class FlakySqs:
    """A stand-in SQS client: fails the entries named in `failures`, one reply after another."""

    def __init__(self, *failures: list[dict[str, Any]]) -> None:
        self.failures = list(failures)
        self.calls: list[list[dict[str, Any]]] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Entries)
        failed = self.failures.pop(0) if self.failures else []
        return {"Successful": [], "Failed": failed}


def hourly_messages(count: int) -> list[RunMessage]:
    return [deferred_message("hourly", utc(2026, 5, 1) + timedelta(hours=hour)) for hour in range(count)]


def test_sqs_queue_retries_failed_entries_in_batches_of_ten() -> None:
    # Given 12 messages and an SQS that throttles one entry of the first batch once
    sqs = FlakySqs([{"Id": "3", "SenderFault": False, "Code": "InternalError"}])
    pauses: list[float] = []
    queue = SqsRunQueue("http://127.0.0.1/123456789012/runs", lambda: sqs, sleep=pauses.append)
    # When they are sent
    queue.send(hourly_messages(12))
    # Then a batch of 10, the failed entry again after a pause, and the last 2; no FIFO attributes
    assert [len(entries) for entries in sqs.calls] == [10, 1, 2]
    assert sqs.calls[1][0]["MessageBody"] == hourly_messages(12)[3].to_json()
    assert len(pauses) == 1
    assert "MessageDeduplicationId" not in sqs.calls[0][0]


def test_sqs_queue_raises_with_every_unsent_message_on_a_sender_fault() -> None:
    # Given an SQS that refuses an entry of the first batch as malformed
    sqs = FlakySqs([{"Id": "0", "SenderFault": True, "Code": "InvalidMessageContents"}])
    queue = SqsRunQueue("http://127.0.0.1/123456789012/runs.fifo", lambda: sqs, sleep=lambda _: None)
    messages = hourly_messages(12)
    # When they are sent
    with pytest.raises(RunQueueError) as raised:
        queue.send(messages)
    # Then no retry is made, and the error lists the refused message and the batch never sent
    assert len(sqs.calls) == 1
    assert raised.value.unsent == [messages[0], *messages[10:]]
    # And a FIFO queue gets a deduplication id per run
    assert sqs.calls[0][0]["MessageGroupId"] == "hourly"
    assert len({entry["MessageDeduplicationId"] for entry in sqs.calls[0]}) == 10
