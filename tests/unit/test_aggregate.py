"""The report engine: rows, totals, sorting, filters and views, checked against a naive reference to the cent."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from timereports.engine.aggregate import aggregate
from timereports.engine.attributes import AttributeResolver
from timereports.models.definition import ReportDefinition
from timereports.models.intervals import Client, Milestone, Person, Project, ReferenceData, Task, TimeEntry
from timereports.models.report import Period
from timereports.models.vocabulary import GROUP_ATTRIBUTES, VIEWS, WEEKDAYS

# The views that group and sum (time_entries lists entries instead: tests/unit/test_readable_engine.py).
GROUPED_VIEWS = tuple(view for view in VIEWS if view != "time_entries")

PERIOD = Period(date(2026, 1, 26), date(2026, 2, 8))  # two weeks across a month end
PEOPLE = {1: ("Ana", "Lima"), 2: ("Bo", "Chen"), 3: ("Cy", "Díaz")}
CLIENTS = {10: "Mango Inc.", 11: "Kiwi & Co"}
PROJECTS = {100: ("Website", 10), 101: ("App", 11), 102: ("Internal", None), 103: ("Audit", 10)}
MILESTONES = {500: "Discovery", 501: "Build"}
TASKS = {200: ("Wireframes", 100, 500), 201: ("API", 101, 501), 202: ("Timesheets", 102, None)}
WORKTYPES = {30: "Design", 31: "Engineering"}
MODULES = {40: "Front end", 41: "Back end"}


def reference_data() -> ReferenceData:
    return ReferenceData(
        people={pid: Person(id=pid, firstname=first, lastname=last) for pid, (first, last) in PEOPLE.items()},
        clients={cid: Client(id=cid, name=name) for cid, name in CLIENTS.items()},
        projects={pid: Project(id=pid, name=name, clientid=client) for pid, (name, client) in PROJECTS.items()},
        tasks={tid: Task(id=tid, title=title, projectid=p, milestoneid=m) for tid, (title, p, m) in TASKS.items()},
        milestones={mid: Milestone(id=mid, title=title) for mid, title in MILESTONES.items()},
    )


REFERENCE = reference_data()


def make_entry(
    entry_id: int,
    *,
    day: date = date(2026, 2, 2),
    hours: str = "1",
    billable: bool = True,
    person: int = 1,
    project: int = 100,
    task: int | None = None,
    worktype: int = 30,
    module: int = 40,
    rate: str | None = "100",
) -> TimeEntry:
    """An entry as the API would send it: names on the entry, the client from the project."""
    first, last = PEOPLE[person]
    project_name, client = PROJECTS[project]
    return TimeEntry.model_validate(
        {
            "id": entry_id,
            "date": day.isoformat(),
            "time": hours,
            "billable": "t" if billable else "f",
            "personid": str(person),
            "person": f"{first} {last}",
            "projectid": project,
            "project": project_name,
            "clientid": client,
            "client": CLIENTS[client] if client else "No client",
            "taskid": task,
            "task": TASKS[task][0] if task else "",
            "worktypeid": worktype,
            "worktype": WORKTYPES[worktype],
            "moduleid": module,
            "module": MODULES[module],
            "hourlyrate": rate,
        }
    )


def definition(**fields: Any) -> ReportDefinition:
    return ReportDefinition.model_validate({"id": "test", "title": "Test", **fields})


def untagged(*entries: TimeEntry) -> list[tuple[TimeEntry, bool | None]]:
    return [(entry, None) for entry in entries]


# --- examples -------------------------------------------------------------------------------------------------


def test_rows_have_the_group_columns_then_the_view_metrics() -> None:
    # Given two people's time on one project
    entries = untagged(
        make_entry(1, person=2, hours="2.5"),
        make_entry(2, person=1, hours="1.25", billable=False),
        make_entry(3, person=2, hours="0.5"),
    )
    # When grouped by project and person in hours
    table = aggregate(entries, definition(group_by=["project_id", "user_id"]), REFERENCE, PERIOD)
    # Then each group is one row, sorted by id, with exact sums
    assert table.columns == (
        "project_id",
        "project_name",
        "user_id",
        "user_name",
        "incurred_hours",
        "billable_hours",
        "nonbillable_hours",
        "entries",
    )
    assert table.rows == [
        {
            "project_id": 100,
            "project_name": "Website",
            "user_id": 1,
            "user_name": "Ana Lima",
            "incurred_hours": Decimal("1.25"),
            "billable_hours": Decimal(0),
            "nonbillable_hours": Decimal("1.25"),
            "entries": 1,
        },
        {
            "project_id": 100,
            "project_name": "Website",
            "user_id": 2,
            "user_name": "Bo Chen",
            "incurred_hours": Decimal("3.0"),
            "billable_hours": Decimal("3.0"),
            "nonbillable_hours": Decimal(0),
            "entries": 2,
        },
    ]
    assert table.totals == {
        "incurred_hours": Decimal("4.25"),
        "billable_hours": Decimal("3.0"),
        "nonbillable_hours": Decimal("1.25"),
        "entries": 3,
    }
    assert table.entries == 3


def test_entries_without_a_client_form_the_no_client_group_last() -> None:
    entries = untagged(make_entry(1, project=102), make_entry(2, project=101), make_entry(3, project=100))
    table = aggregate(entries, definition(group_by=["client"]), REFERENCE, PERIOD)
    assert [(row["client_id"], row["client_name"]) for row in table.rows] == [
        (10, "Mango Inc."),
        (11, "Kiwi & Co"),
        (None, "No client"),
    ]


def test_the_phase_is_the_task_milestone_and_no_phase_comes_last() -> None:
    entries = untagged(make_entry(1, task=201), make_entry(2, task=None), make_entry(3, task=200), make_entry(4))
    table = aggregate(entries, definition(group_by=["phase_name"]), REFERENCE, PERIOD)
    assert [(row["phase_id"], row["phase_name"], row["entries"]) for row in table.rows] == [
        (500, "Discovery", 1),
        (501, "Build", 1),
        (None, "No phase", 2),
    ]


def test_weeks_start_on_the_report_week_start_and_months_read_yyyy_mm() -> None:
    # Given entries on Sunday 2026-02-01 and Monday 2026-02-02
    entries = untagged(make_entry(1, day=date(2026, 2, 1)), make_entry(2, day=date(2026, 2, 2)))
    # When grouped by week with weeks starting Monday, then Sunday
    monday = aggregate(entries, definition(group_by=["week"]), REFERENCE, PERIOD)
    sunday = aggregate(entries, definition(group_by=["week"], week_start="sunday"), REFERENCE, PERIOD)
    months = aggregate(entries, definition(group_by=["month", "date"]), REFERENCE, PERIOD)
    # Then the weeks differ, and months and dates come out in calendar order
    assert [row["week"] for row in monday.rows] == [date(2026, 1, 26), date(2026, 2, 2)]
    assert [row["week"] for row in sunday.rows] == [date(2026, 2, 1)]
    assert [(row["month"], row["date"]) for row in months.rows] == [
        ("2026-02", date(2026, 2, 1)),
        ("2026-02", date(2026, 2, 2)),
    ]


def test_billable_and_approval_status_columns_read_as_words() -> None:
    entries = [(make_entry(1), True), (make_entry(2, billable=False), False), (make_entry(3), True)]
    table = aggregate(entries, definition(group_by=["approval_status", "billable"]), REFERENCE, PERIOD)
    assert [(row["approval_status"], row["billable"], row["entries"]) for row in table.rows] == [
        ("approved", "true", 2),
        ("unapproved", "false", 1),
    ]


def test_days_divide_hours_by_hours_per_day() -> None:
    entries = untagged(make_entry(1, hours="6"), make_entry(2, hours="1.5", billable=False))
    table = aggregate(entries, definition(view="time_fees_days", hours_per_day=7.5), REFERENCE, PERIOD)
    assert table.metric_columns == ("incurred_days", "billable_days", "nonbillable_days", "entries")
    assert table.rows[0]["incurred_days"] == Decimal("1")
    assert table.rows[0]["billable_days"] == Decimal("0.8")
    assert table.rows[0]["nonbillable_days"] == Decimal("0.2")


def test_amounts_count_billable_hours_at_their_rate_and_missing_rates_as_zero() -> None:
    entries = untagged(
        make_entry(1, hours="1.5", rate="85.50"),
        make_entry(2, hours="2", rate=None),
        make_entry(3, hours="3", rate="100", billable=False),
    )
    amounts = aggregate(entries, definition(view="time_fees_amounts"), REFERENCE, PERIOD)
    both = aggregate(entries, definition(view="time_fees_hours_and_amounts"), REFERENCE, PERIOD)
    assert amounts.metric_columns == ("incurred_amount",)
    assert amounts.rows[0]["incurred_amount"] == Decimal("128.25")
    assert amounts.totals == {"incurred_amount": Decimal("128.25")}
    assert both.rows[0]["incurred_hours"] == Decimal("6.5")
    assert both.rows[0]["incurred_amount"] == Decimal("128.25")


def test_filters_match_ids_or_names_and_exclusions_drop() -> None:
    entries = untagged(
        make_entry(1, project=100), make_entry(2, project=101), make_entry(3, project=102), make_entry(4, person=3)
    )
    by_name = definition(filters={"client": {"operation": "inclusion", "values": ["Mango Inc.", "No client"]}})
    by_id = definition(filters={"project_id": {"operation": "inclusion", "values": ["101"]}})
    excluded = definition(group_by=["user_id"], filters={"user_id": {"operation": "exclusion", "values": ["Cy Díaz"]}})
    assert aggregate(entries, by_name, REFERENCE, PERIOD).entries == 3
    assert aggregate(entries, by_id, REFERENCE, PERIOD).entries == 1
    assert [row["user_id"] for row in aggregate(entries, excluded, REFERENCE, PERIOD).rows] == [1]


@pytest.mark.parametrize("none", ["No client", -1, "-1"])
def test_the_apis_id_for_no_client_selects_the_time_without_one_as_its_label_does(none: object) -> None:
    # Given time on a project without a client (102) and on projects with one
    entries = untagged(make_entry(1, project=100), make_entry(2, project=101), make_entry(3, project=102))
    # When it is filtered in, or out, by "No client" or by -1 (the API's id for none, given as a number or text)
    kept = aggregate(
        entries, definition(filters={"client": {"operation": "inclusion", "values": [none]}}), REFERENCE, PERIOD
    )
    dropped = aggregate(
        entries, definition(filters={"client": {"operation": "exclusion", "values": [none]}}), REFERENCE, PERIOD
    )
    # Then the same entry is kept, or dropped, whichever way "none" is said
    assert (kept.entries, dropped.entries) == (1, 2)


def test_html_escaped_filter_names_match_decoded_names() -> None:
    entries = untagged(make_entry(1, project=101), make_entry(2, project=100))
    escaped = definition(filters={"client": {"operation": "inclusion", "values": ["Kiwi &amp; Co"]}})
    assert aggregate(entries, escaped, REFERENCE, PERIOD).entries == 1


def test_approved_only_reports_drop_time_not_known_to_be_approved() -> None:
    entries = [(make_entry(1), True), (make_entry(2), False), (make_entry(3), None)]
    table = aggregate(entries, definition(calc_incurred_using="approved"), REFERENCE, PERIOD)
    assert table.entries == 1


def test_entries_outside_the_period_are_left_out() -> None:
    entries = untagged(make_entry(1, day=PERIOD.start - timedelta(days=1)), make_entry(2, day=PERIOD.end))
    assert aggregate(entries, definition(), REFERENCE, PERIOD).entries == 1


def test_no_entries_give_an_empty_table_with_zero_totals() -> None:
    table = aggregate([], definition(view="time_fees_hours_and_amounts"), REFERENCE, PERIOD)
    assert table.is_empty
    assert table.totals == {
        "incurred_hours": 0,
        "billable_hours": 0,
        "nonbillable_hours": 0,
        "entries": 0,
        "incurred_amount": 0,
    }


def test_the_resolver_gives_each_attribute_an_id_and_a_name() -> None:
    resolver = AttributeResolver(REFERENCE, week_start=6)
    entry = make_entry(1, task=200, day=date(2026, 2, 4))
    assert resolver.value("client", entry, None) == (10, "Mango Inc.")
    assert resolver.value("phase_name", entry, None) == (500, "Discovery")
    assert resolver.value("task", entry, None) == (200, "Wireframes")
    assert resolver.value("week", entry, None) == (date(2026, 2, 1), "2026-02-01")
    assert resolver.value("approval_status", entry, False) == (False, "unapproved")


def test_memory_grows_with_groups_not_with_entries() -> None:
    # Given a lazily generated stream over 12 groups, once 2,000 and once 20,000 entries long
    def stream(count: int) -> Iterator[tuple[TimeEntry, bool | None]]:
        template = make_entry(0)
        for index in range(count):
            yield (
                template.model_copy(update={"id": index, "personid": index % 3 + 1, "projectid": 100 + index % 4}),
                None,
            )

    report = definition(group_by=["project_id", "user_id"], view="time_fees_hours_and_amounts")

    def peak(count: int) -> int:
        tracemalloc.start()
        table = aggregate(stream(count), report, REFERENCE, PERIOD)
        _, peak_bytes = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert table.entries == count
        return peak_bytes

    # When each is aggregated, then ten times the entries needs about the same memory
    assert peak(20_000) < peak(2_000) * 1.5 + 64 * 1024


# --- the property: equal to a naive reference ----------------------------------------------------------------

COLUMN_PREFIX = {
    "user_id": "user",
    "project_id": "project",
    "client": "client",
    "phase_name": "phase",
    "worktype": "worktype",
    "module": "module",
    "task": "task",
}
NONE_NAME = {
    "user_id": "Unknown person",
    "project_id": "No project",
    "client": "No client",
    "phase_name": "No phase",
    "worktype": "No work type",
    "module": "No module",
    "task": "No task",
}


def naive_value(attribute: str, entry: TimeEntry, approval: bool | None, week_start: int) -> tuple[Any, str]:
    """(id, name) of one attribute, written plainly from the fixtures' tables (not from the engine's code)."""
    if attribute == "user_id":
        return entry.personid, " ".join(PEOPLE[entry.personid]) if entry.personid else NONE_NAME[attribute]
    if attribute == "project_id":
        return entry.projectid, PROJECTS[entry.projectid][0] if entry.projectid else NONE_NAME[attribute]
    if attribute == "client":
        client = PROJECTS[entry.projectid][1] if entry.projectid else None
        return client, CLIENTS[client] if client else NONE_NAME[attribute]
    if attribute == "phase_name":
        milestone = TASKS[entry.taskid][2] if entry.taskid else None
        return milestone, MILESTONES[milestone] if milestone else NONE_NAME[attribute]
    if attribute == "worktype":
        return entry.worktypeid, WORKTYPES[entry.worktypeid] if entry.worktypeid else NONE_NAME[attribute]
    if attribute == "module":
        return entry.moduleid, MODULES[entry.moduleid] if entry.moduleid else NONE_NAME[attribute]
    if attribute == "task":
        return entry.taskid, TASKS[entry.taskid][0] if entry.taskid else NONE_NAME[attribute]
    if attribute == "date":
        return entry.date, entry.date.isoformat()
    if attribute == "week":
        first = entry.date
        while first.weekday() != week_start:
            first -= timedelta(days=1)
        return first, first.isoformat()
    if attribute == "month":
        text = f"{entry.date.year:04d}-{entry.date.month:02d}"
        return text, text
    if attribute == "billable":
        return entry.billable, "true" if entry.billable else "false"
    return approval, {True: "approved", False: "unapproved", None: "unknown"}[approval]


def naive_order(attribute: str, value: tuple[Any, str]) -> tuple[Any, ...]:
    key, name = value
    if attribute == "approval_status":
        return ({True: 0, False: 1, None: 2}[key], name)
    if attribute in ("date", "week", "month"):
        return (0, key, name)
    if attribute == "billable":
        return (0, int(key), name)
    return (1, 0, name) if key is None else (0, key, name)


def naive_cells(attribute: str, value: tuple[Any, str]) -> dict[str, Any]:
    key, name = value
    if attribute in COLUMN_PREFIX:
        prefix = COLUMN_PREFIX[attribute]
        return {f"{prefix}_id": key, f"{prefix}_name": name}
    if attribute in ("date", "week"):
        return {attribute: key}
    return {attribute: name}


def naive_report(
    entries: list[tuple[TimeEntry, bool | None]], report: ReportDefinition
) -> tuple[list[dict[str, Any]], dict[str, Fraction | int]]:
    """Build every row with lists, sort, and sum with Fractions: slow, obvious, independent."""
    kept = []
    for entry, approval in entries:
        if not PERIOD.start <= entry.date <= PERIOD.end:
            continue
        if report.calc_incurred_using == "approved" and approval is not True:
            continue
        passes = True
        for attribute, spec in report.filters.items():
            key, name = naive_value(attribute, entry, approval, report.week_start_index)
            matched = any(
                (value == name) if isinstance(value, str) else (type(value) is type(key) and value == key)
                for value in spec.values
            )
            passes = passes and (matched if spec.operation == "inclusion" else not matched)
        if passes:
            kept.append((entry, approval))
    groups: dict[tuple[Any, ...], list[tuple[TimeEntry, bool | None]]] = {}
    for entry, approval in kept:
        values = tuple(naive_value(a, entry, approval, report.week_start_index) for a in report.group_by)
        groups.setdefault(values, []).append((entry, approval))
    ordered = sorted(
        groups, key=lambda values: [naive_order(a, v) for a, v in zip(report.group_by, values, strict=True)]
    )

    def metrics(members: list[tuple[TimeEntry, bool | None]]) -> dict[str, Fraction | int]:
        incurred = sum((Fraction(entry.time) for entry, _ in members), Fraction(0))
        billable = sum((Fraction(entry.time) for entry, _ in members if entry.billable), Fraction(0))
        amount = sum(
            (cents(Fraction(entry.time) * Fraction(entry.hourlyrate or 0)) for entry, _ in members if entry.billable),
            Fraction(0),
        )
        per_day = Fraction(report.hours_per_day)
        hours = {
            "incurred_hours": incurred,
            "billable_hours": billable,
            "nonbillable_hours": incurred - billable,
            "entries": len(members),
        }
        days = {
            "incurred_days": cents(incurred / per_day),
            "billable_days": cents(billable / per_day),
            # the rounded days' difference, so that a row adds across
            "nonbillable_days": cents(incurred / per_day) - cents(billable / per_day),
            "entries": len(members),
        }
        chosen: dict[str, Fraction | int] = {}
        if report.view.startswith("time_fees_hours"):
            chosen.update(hours)
        if report.view.startswith("time_fees_days"):
            chosen.update(days)
        if report.view.endswith("amounts"):
            chosen["incurred_amount"] = amount
        return chosen

    rows = []
    for values in ordered:
        row: dict[str, Any] = {}
        for attribute, value in zip(report.group_by, values, strict=True):
            row.update(naive_cells(attribute, value))
        row.update(metrics(groups[values]))
        rows.append(row)
    totals = metrics(kept)
    for column in ("incurred_days", "billable_days", "nonbillable_days"):
        if column in totals:  # the days total is the sum of the rounded rows
            totals[column] = sum((row[column] for row in rows), Fraction(0))
    return rows, totals


def cents(value: Fraction) -> Fraction:
    """Round half up to the cent, by hand (no Decimal), for the reference."""
    hundredths = value * 100
    whole = hundredths.numerator // hundredths.denominator
    if hundredths - whole >= Fraction(1, 2):
        whole += 1
    return Fraction(whole, 100)


def assert_same_number(engine: Any, naive: Any) -> None:
    if isinstance(naive, Fraction):
        # hours, amounts (cents per entry) and days (cents per row) are all exact
        assert isinstance(engine, Decimal)
        assert Fraction(engine) == naive, (engine, naive)
    else:
        assert engine == naive


DAYS = [PERIOD.start + timedelta(days=offset) for offset in range(-2, PERIOD.days + 2)]
hours_values = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("12"), places=2)
rates = st.none() | st.decimals(min_value=Decimal("0"), max_value=Decimal("250"), places=2)


@st.composite
def tagged_entries(draw: st.DrawFn) -> tuple[TimeEntry, bool | None]:
    task = draw(st.sampled_from([None, *TASKS]))
    project = TASKS[task][1] if task else draw(st.sampled_from(list(PROJECTS)))
    entry = make_entry(
        draw(st.integers(1, 10**6)),
        day=draw(st.sampled_from(DAYS)),
        hours=str(draw(hours_values)),
        billable=draw(st.booleans()),
        person=draw(st.sampled_from(list(PEOPLE))),
        project=project,
        task=task,
        worktype=draw(st.sampled_from(list(WORKTYPES))),
        module=draw(st.sampled_from(list(MODULES))),
        rate=None if (rate := draw(rates)) is None else str(rate),
    )
    return entry, draw(st.sampled_from([True, False, None]))


FILTER_VALUES: dict[str, list[Any]] = {
    "user_id": [*PEOPLE, "Ana Lima", "Cy Díaz"],
    "project_id": [*PROJECTS, "Website", "Internal"],
    "client": [*CLIENTS, *CLIENTS.values(), "No client"],
    "phase_name": [*MILESTONES, "Build", "No phase"],
    "worktype": [*WORKTYPES, "Engineering"],
    "module": [*MODULES, "Back end"],
    "task": [*TASKS, "API", "No task"],
    "date": DAYS[::3],
    "week": [date(2026, 1, 26), date(2026, 2, 2), date(2026, 2, 1)],
    "month": ["2026-01", "2026-02"],
    "billable": [True, False],
    "approval_status": ["approved", "unapproved"],
}


@st.composite
def report_definitions(draw: st.DrawFn) -> ReportDefinition:
    group_by = draw(st.lists(st.sampled_from(GROUP_ATTRIBUTES), min_size=1, max_size=5, unique=True))
    filtered = draw(st.lists(st.sampled_from(GROUP_ATTRIBUTES), max_size=3, unique=True))
    week_start = draw(st.sampled_from(["monday", "sunday", "wednesday"]))
    filters = {
        attribute: {
            "operation": draw(st.sampled_from(["inclusion", "exclusion"])),
            "values": draw(st.lists(st.sampled_from(FILTER_VALUES[attribute]), min_size=1, max_size=3, unique=True)),
        }
        for attribute in filtered
    }
    if "week" in filters:
        # A week is named by its first day (a definition refuses any other): each drawn day's week.
        start = WEEKDAYS.index(week_start)
        days = filters["week"]["values"]
        filters["week"]["values"] = list(
            dict.fromkeys(day - timedelta(days=(day.weekday() - start) % 7) for day in days)
        )
    basis = draw(st.sampled_from(["confirmed-unconfirmed", "approved"]))
    approval = filters.get("approval_status")
    if (
        basis == "approved"
        and approval
        and ("approved" in approval["values"]) != (approval["operation"] == "inclusion")
    ):
        del filters["approval_status"]  # keeps no approved time: a definition refuses it
    return definition(
        view=draw(st.sampled_from(GROUPED_VIEWS)),
        group_by=group_by,
        filters=filters,
        week_start=week_start,
        calc_incurred_using=basis,
        hours_per_day=draw(st.sampled_from(["8", "7.5", "6", "7"])),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=st.lists(tagged_entries(), max_size=60), report=report_definitions())
def test_aggregate_equals_a_naive_reference_to_the_cent(
    entries: list[tuple[TimeEntry, bool | None]], report: ReportDefinition
) -> None:
    # Given random entries, group levels and filters
    # When the engine aggregates them (from a one-pass iterator)
    table = aggregate(iter(entries), report, REFERENCE, PERIOD)
    # Then rows, their order and the totals equal the naive reference's
    rows, totals = naive_report(entries, report)
    assert [list(row) for row in table.rows] == [list(row) for row in rows]
    for engine_row, naive_row in zip(table.rows, rows, strict=True):
        for column, value in naive_row.items():
            assert_same_number(engine_row[column], value)
    assert set(table.totals) == set(totals)
    for column, value in totals.items():
        assert_same_number(table.totals[column], value)
    assert list(table.columns) == (list(rows[0]) if rows else list(table.columns))


@pytest.mark.parametrize("view", GROUPED_VIEWS)
def test_totals_equal_the_sum_of_the_rows(view: str) -> None:
    entries = untagged(
        *(make_entry(i, person=i % 3 + 1, hours=f"{i % 7 + 1}.25", billable=i % 2 == 0) for i in range(30))
    )
    table = aggregate(entries, definition(view=view, group_by=["user_id"]), REFERENCE, PERIOD)
    for column in table.metric_columns:
        assert sum(Fraction(row[column]) for row in table.rows) == Fraction(table.totals[column])  # type: ignore[arg-type]


def test_a_days_row_adds_across_after_rounding() -> None:
    # Given 0.04 h billable and 0.04 h not, at 8 hours a day: each rounds to 0.01 day, their sum 0.08 h to 0.01 day
    entries = untagged(make_entry(1, hours="0.04"), make_entry(2, hours="0.04", billable=False))
    table = aggregate(entries, definition(view="time_fees_days", group_by=["user_id"]), REFERENCE, PERIOD)
    # Then the row (and the total) show billable + non-billable = incurred, as a reader adds them
    for figures in (table.rows[0], table.totals):
        assert (figures["incurred_days"], figures["billable_days"], figures["nonbillable_days"]) == (
            Decimal("0.01"),
            Decimal("0.01"),
            Decimal("0.00"),
        )
