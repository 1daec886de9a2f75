"""When a report is due: the instants a cron expression fires, read in an IANA time zone (pure).

People write schedules in their own wall-clock time ("07:00 on Mondays, Berlin time"), but the dispatcher ticks in
UTC and daylight saving time moves the two apart twice a year. This module turns a cron expression and a zone into
aware UTC instants with `cronsim`, which copies Debian cron's DST handling. What that means, exactly (checked by
tests/unit/test_schedule.py for Europe/Berlin and America/New_York):

- A job at fixed times (neither the minute nor the hour field starts with `*`: `30 2 * * *`, `0 7 * * MON`,
  `0,30 2 * * *`) is evaluated on the wall clock:
  - a wall time the spring change skips fires once, at the next valid minute: `30 2 * * *` fires at 03:00 local on
    the spring-forward day. Several skipped times collapse into that one run (`0,30 2 * * *` fires once, at 03:00);
  - a wall time the autumn change repeats fires once, at its first occurrence (the summer-time one).
- A job whose minute or hour field starts with `*` (`0 * * * *`, `*/15 * * * *`, `*/30 2 * * *`) is evaluated in
  real time, as Debian cron does for frequent jobs: an hourly job fires every real hour, so twice in the repeated
  autumn hour (02:00 CEST and 02:00 CET) and not at all in the skipped spring hour, which has no instants;
  `*/30 2 * * *` likewise fires four times on the autumn day and not at all on the spring day.
"""

from __future__ import annotations

import zoneinfo
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime

from cronsim import CronSim

from timereports.clock import as_utc

# The most fire times one call returns: a bound on what a catch-up after a long outage can send.
MAX_FIRE_TIMES = 1000


def iter_fire_times(cron: str, tz: str, after: datetime, until: datetime) -> Iterator[datetime]:
    """The instants (aware, UTC, increasing) in (after, until] at which `cron` fires, read in zone `tz`; lazily.

    The cost grows with the number of fire times in the window, so callers bound the window (the dispatcher's
    catch-up does). Both bounds must be aware: a naive time is ambiguous, and a guess would shift runs by hours.
    """
    start, end = as_utc(after, "after"), as_utc(until, "until")
    if end <= start:
        return
    zone = zoneinfo.ZoneInfo(tz)
    previous: datetime | None = None
    # cronsim walks a fixed-time job on the naive wall clock, so when `after` falls in the second pass of a repeated
    # autumn hour it can return that hour's first pass, which lies before `after`: filtered out here, as are repeats.
    # Its results never decrease in UTC (fold=0 and skipped times moved forward keep the order), so the first one
    # past `until` ends the walk; cronsim itself stops (StopIteration) after 50 years without a match.
    for fired in CronSim(cron, start.astimezone(zone)):
        instant = fired.astimezone(UTC)
        if instant > end:
            return
        if instant <= start or instant == previous:
            continue
        previous = instant
        yield instant


def fire_times(cron: str, tz: str, after: datetime, until: datetime, *, limit: int = MAX_FIRE_TIMES) -> list[datetime]:
    """The instants (aware, UTC, oldest first) in (after, until] at which `cron` fires, read in the IANA zone `tz`.

    At most `limit`: when more fell in the window, the latest `limit` are returned and the older ones dropped, so a
    catch-up after an outage sends the most recent runs. DST semantics are in the module docstring.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    return list(deque(iter_fire_times(cron, tz, after, until), maxlen=limit))
