"""The query plan: filters the API can apply are pushed into /time/, the rest stay local; approval pulls."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest

from timereports.engine.plan import MAX_PUSHED_IDS, plan_queries, reference_needs
from timereports.errors import DefinitionError
from timereports.models.definition import ReportDefinition
from timereports.models.intervals import (
    Client,
    Milestone,
    Person,
    Project,
    ProjectModule,
    ProjectWorktype,
    ReferenceData,
    Task,
)
from timereports.models.report import Period

PERIOD = Period(date(2026, 11, 1), date(2026, 11, 30))
REFERENCE = ReferenceData(
    people={1: Person(id=1, firstname="Ana", lastname="Lima"), 2: Person(id=2, firstname="Bo", lastname="Chen")},
    clients={10: Client(id=10, name="Mango Inc."), 11: Client(id=11, name="Kiwi &amp; Co")},
    projects={100: Project(id=100, name="Website", clientid=10), 101: Project(id=101, name="Website", clientid=11)},
    tasks={200: Task(id=200, title="API", projectid=100, milestoneid=500)},
    milestones={500: Milestone(id=500, title="Build")},
    project_worktypes={7: ProjectWorktype(id=7, projectid=100, worktypeid=30, worktype="Design")},
    project_modules={8: ProjectModule(id=8, projectid=100, moduleid=40, module="Front end")},
)


def definition(**fields: Any) -> ReportDefinition:
    return ReportDefinition.model_validate({"id": "plan", "title": "Plan", **fields})


def only(values: list[Any], operation: str = "inclusion") -> dict[str, Any]:
    return {"operation": operation, "values": values}


def test_an_unfiltered_report_makes_one_pull_over_the_period() -> None:
    plan = plan_queries(definition(), PERIOD, REFERENCE)
    assert len(plan.queries) == 1
    query = plan.queries[0]
    assert (query.datebegin, query.dateend, query.approved) == (PERIOD.start, PERIOD.end, None)
    assert query.to_params() == {"datebegin": "2026-11-01", "dateend": "2026-11-30"}
    assert plan.local_filters == {}
    assert plan.needs == frozenset()


@pytest.mark.parametrize(
    ("attribute", "values", "parameter", "expected"),
    [
        ("user_id", [2, 1], "personid", (1, 2)),
        ("user_id", ["Bo Chen"], "personid", (2,)),
        ("project_id", ["Website"], "projectid", (100, 101)),  # two projects share the name
        ("project_id", ["101"], "projectid", (101,)),
        ("client", ["Mango Inc."], "clientid", (10,)),
        ("client", ["Kiwi & Co", "No client"], "clientid", (-1, 11)),
        ("worktype", ["Design"], "worktypeid", (30,)),
        ("module", ["Front end", 41], "moduleid", (40, 41)),
        ("task", ["API"], "taskid", (200,)),
        ("phase_name", ["Build", "No phase"], "milestoneid", (-1, 500)),
        ("client", [-1], "clientid", (-1,)),  # the API's id for none, as a number
        ("client", ["-1", "Mango Inc."], "clientid", (-1, 10)),  # or as text, as a form or a query string gives it
        ("phase_name", ["-1"], "milestoneid", (-1,)),
    ],
)
def test_inclusion_filters_by_id_or_known_name_are_pushed_down(
    attribute: str, values: list[Any], parameter: str, expected: tuple[int, ...]
) -> None:
    # Given an inclusion filter the API can apply
    plan = plan_queries(definition(filters={attribute: only(values)}), PERIOD, REFERENCE)
    # Then the pull carries it as ids, and nothing stays local
    assert getattr(plan.queries[0], parameter) == expected
    assert attribute in plan.pushed_filters
    assert plan.local_filters == {}


@pytest.mark.parametrize("operation", ["inclusion", "exclusion"])
def test_a_name_no_record_of_the_account_has_is_refused_with_the_closest_names(operation: str) -> None:
    # Given a filter with a typo (and a name no client is close to), the account's clients known
    report = definition(filters={"client": only(["Mango Inc.", "mango inc", "Papaya Ltd"], operation)})
    # When planned / Then it is refused before any time is pulled, naming each unknown value, with what is close
    with pytest.raises(DefinitionError) as refused:
        plan_queries(report, PERIOD, REFERENCE)
    assert str(refused.value) == (
        "filters.client.values[1]: 'mango inc' names no client of the account; closest: Mango Inc.; "
        "filters.client.values[2]: 'Papaya Ltd' names no client of the account"
    )


def test_a_slice_no_record_of_the_account_has_is_refused_and_its_names_are_asked_for() -> None:
    delivery = {"to": ["a@example.com"], "split": {"by": "user_id", "to": {"Ana Lima": ["a@x.example"], "Bob": []}}}
    report = definition(delivery=delivery)
    assert reference_needs(report) == {"person"}
    with pytest.raises(DefinitionError, match=r"^delivery.split.to\['Bob'\]: 'Bob' names no person of the account$"):
        plan_queries(report, PERIOD, REFERENCE)


def test_names_are_asked_for_and_ids_and_the_none_label_need_no_record() -> None:
    report = definition(filters={"client": only(["Mango Inc."])})
    assert reference_needs(report) == {"client"}
    plan = plan_queries(definition(filters={"client": only([99, "No client"])}), PERIOD, ReferenceData())
    assert plan.queries[0].clientid == (-1, 99)


def test_exclusions_stay_local() -> None:
    plan = plan_queries(definition(filters={"user_id": only([1], "exclusion")}), PERIOD, REFERENCE)
    assert plan.queries[0].personid is None
    assert set(plan.local_filters) == {"user_id"}


@pytest.mark.parametrize("attribute", ["date", "week", "month"])
def test_date_filters_stay_local(attribute: str) -> None:
    value = "2026-11" if attribute == "month" else "2026-11-02"
    plan = plan_queries(definition(filters={attribute: only([value])}), PERIOD, REFERENCE)
    assert set(plan.local_filters) == {attribute}


def test_none_labels_without_an_api_equivalent_stay_local() -> None:
    plan = plan_queries(definition(filters={"task": only(["No task"])}), PERIOD, REFERENCE)
    assert plan.queries[0].taskid is None
    assert set(plan.local_filters) == {"task"}


def test_long_id_lists_stay_local() -> None:
    ids = list(range(1, MAX_PUSHED_IDS + 2))
    plan = plan_queries(definition(filters={"project_id": only(ids)}), PERIOD, REFERENCE)
    assert set(plan.local_filters) == {"project_id"}


def test_several_pushed_filters_combine_in_one_query() -> None:
    report = definition(filters={"client": only(["Mango Inc."]), "billable": only([True]), "user_id": only([1])})
    query = plan_queries(report, PERIOD, REFERENCE).queries[0]
    assert query.to_params() == {
        "datebegin": "2026-11-01",
        "dateend": "2026-11-30",
        "clientid": "10",
        "billable": "t",
        "personid": "1",
    }


@pytest.mark.parametrize(
    ("operation", "values", "billable"),
    [
        ("inclusion", [True], True),
        ("inclusion", [False], False),
        ("exclusion", [True], False),
        ("inclusion", [True, False], None),
    ],
)
def test_billable_filters_become_the_billable_parameter(
    operation: str, values: list[bool], billable: bool | None
) -> None:
    plan = plan_queries(definition(filters={"billable": only(values, operation)}), PERIOD, REFERENCE)
    assert plan.queries[0].billable is billable
    assert plan.local_filters == {}


def test_excluding_both_billable_values_needs_no_pull() -> None:
    plan = plan_queries(definition(filters={"billable": only([True, False], "exclusion")}), PERIOD, REFERENCE)
    assert plan.queries == ()


@pytest.mark.parametrize(
    ("fields", "pulls"),
    [
        ({}, [None]),
        ({"calc_incurred_using": "approved"}, [True]),
        ({"group_by": ["approval_status", "user_id"]}, [True, False]),
        ({"group_by": ["approval_status"], "calc_incurred_using": "approved"}, [True]),
        ({"filters": {"approval_status": only(["unapproved"])}}, [False]),
        ({"filters": {"approval_status": only(["unapproved"], "exclusion")}}, [True]),
        ({"filters": {"approval_status": only(["approved", "unapproved"])}}, [True, False]),
    ],
)
def test_approval_decides_the_approved_pulls(fields: dict[str, Any], pulls: list[bool | None]) -> None:
    # Given how the report uses approval
    plan = plan_queries(definition(**fields), PERIOD, REFERENCE)
    # Then it pulls approved=t and/or approved=f (entries get tagged by pull), or one untagged pull
    assert [query.approved for query in plan.queries] == pulls
    assert all((query.datebegin, query.dateend) == (PERIOD.start, PERIOD.end) for query in plan.queries)


def test_each_approval_pull_carries_the_same_pushed_filters() -> None:
    plan = plan_queries(
        definition(group_by=["approval_status"], filters={"project_id": only([100])}), PERIOD, REFERENCE
    )
    assert [(query.approved, query.projectid) for query in plan.queries] == [(True, (100,)), (False, (100,))]


@pytest.mark.parametrize(
    ("fields", "needs"),
    [
        ({"group_by": ["phase_name"]}, {"task", "milestone"}),
        ({"filters": {"phase_name": only([500])}}, {"task", "milestone"}),
        ({"filters": {"user_id": only(["Ana Lima"])}}, {"person"}),
        # ids too: the email's "Filters:" line names them (one cached fetch of the people)
        ({"filters": {"user_id": only([1, "2"])}}, {"person"}),
        ({"filters": {"project_id": only(["Website"])}}, {"project"}),
        (
            {"filters": {"worktype": only(["Design"]), "module": only(["Front end"])}},
            {"projectworktype", "projectmodule"},
        ),
        ({"group_by": ["client", "user_id", "task"]}, set()),
    ],
)
def test_the_plan_names_the_reference_resources_it_needs(fields: dict[str, Any], needs: set[str]) -> None:
    report = definition(**fields)
    assert reference_needs(report) == needs
    assert plan_queries(report, PERIOD, REFERENCE).needs == needs


def test_a_slice_named_by_a_name_two_records_share_is_refused_naming_their_ids() -> None:
    # Given a split by project where the slice is named "Website", the name of two projects (two clients')
    delivery = {"to": ["a@example.com"], "split": {"by": "project_id", "to": {"Website": ["pm@mango.example"]}}}
    # When planned / Then it is refused before any time is pulled: the slice's recipient would get both
    with pytest.raises(DefinitionError) as refused:
        plan_queries(definition(delivery=delivery), PERIOD, REFERENCE)
    assert str(refused.value) == (
        "delivery.split.to['Website']: 'Website' is the name of 2 projects of the account (#100, #101); "
        "list the slice by the id of the one it is for"
    )
    # And by id it plans, as a filter by the shared name does (a filter keeps both)
    by_id = {**delivery, "split": {"by": "project_id", "to": {"101": ["pm@kiwi.example"]}}}
    assert plan_queries(definition(delivery=by_id), PERIOD, REFERENCE).queries
    assert plan_queries(definition(filters={"project_id": only(["Website"])}), PERIOD, REFERENCE).queries


def split_by(attribute: str, *names: str) -> ReportDefinition:
    slices = {name: ["someone@example.com"] for name in names}
    return definition(delivery={"to": ["a@example.com"], "split": {"by": attribute, "to": slices}})


def test_a_slice_must_name_exactly_one_group_by_id_or_none_label_too() -> None:
    # Given an account with a client called "No client" (#12) and two called "10" (#13, #14)
    reference = REFERENCE.model_copy(
        update={
            "clients": {
                **REFERENCE.clients,
                12: Client(id=12, name="No client"),
                13: Client(id=13, name="10"),
                14: Client(id=14, name="10"),
            }
        }
    )
    # Then a slice whose name or id is also another record's name, or the id of none, is refused before any pull
    cases = {
        "No client": "'No client' is the group of time without a client, and the name of client #12; rename",
        "10": "'10' is the id of client #10 and the name of client #13, #14; rename that client",
        "999": "'999' is the id of no client of the account",
    }
    for name, message in cases.items():
        with pytest.raises(DefinitionError, match=re.escape(f"delivery.split.to[{name!r}]: {message}")):
            plan_queries(split_by("client", name), PERIOD, reference)
    # And in an account without such clashes, the same slices by id or the "none" label plan
    assert plan_queries(split_by("client", "No client", "10", "11"), PERIOD, REFERENCE).queries
    # And every split loads the records it is checked against, an id's too
    assert reference_needs(split_by("client", "10")) == {"client"}
