"""Revisions: when time in a delivered period changes, the same recipients get one corrected report.

A weekly report is delivered through the real runner (simulator over loopback HTTP, moto for DynamoDB, S3 and SES);
then entries of its week are edited, deleted and added in the simulator, and the revision check runs as the daily
schedule would. Every clock of the process is moved with time-machine, so the watch window never meets the wall date.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import time_machine
import yaml
from timereports_dev.dataset import ADMIN_TOKEN
from timereports_dev.simulator import IntervalsSimulator

from tests.fixtures.aws import LocalAws
from tests.support.deployment import deploy_environment, redeploy
from tests.support.downloads import linked_files
from tests.support.events import load_event
from tests.support.lambda_context import FakeLambdaContext
from timereports.bootstrap.history import build_run_history
from timereports.bootstrap.revisions import build_revision_check
from timereports.bootstrap.runs import build_runner
from timereports.dal.revision_marks import DynamoDBRevisionMarks
from timereports.errors import TimereportsError
from timereports.logic.ports import RevisionMark
from timereports.logic.runner import RunRequest
from timereports.models.catalogue import Catalogue
from timereports.models.definition import slice_slug as slug
from timereports.models.report import Period
from timereports.models.run_record import RunRecord

WEEK = Period(date(2026, 11, 16), date(2026, 11, 22))
SCHEDULED_AT = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # Monday 07:00 in Berlin
DELIVERED = datetime(2026, 11, 23, 6, 10, tzinfo=UTC)
# Within a day of the delivery: the mirror's reference data (names) is still fresh, so a check that finds nothing
# changed costs only its sync page and count probe (the names are refreshed once a day, README "The entry mirror").
NEXT_MORNING = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
TO, CC = "ops@example.com", "pm@example.com"


def weekly(report_id: str = "weekly-hours", **revisions: object) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "id": report_id,
        "title": "Hours by project",
        "view": "time_fees_hours",
        "time_frame": "last_week",
        "timezone": "Europe/Berlin",
        "group_by": ["project_id"],
        "schedule": {"cron": "0 7 * * MON", "timezone": "Europe/Berlin"},
        "delivery": {"to": [TO], "cc": [CC], "subject": "Hours by project, {from} to {to}"},
    }
    if revisions:
        definition["revisions"] = revisions
    return definition


class Stack:
    """The deployed pieces a revision needs, against moto and the simulator, with a catalogue of one report."""

    def __init__(self, aws: LocalAws, simulator: IntervalsSimulator, catalogue: Path) -> None:
        self.aws = aws
        self.simulator = simulator
        self.catalogue = catalogue
        self.settings = aws.settings.model_copy(update={"intervals_api_url": simulator.url})

    def write(self, definition: dict[str, Any]) -> None:
        path = self.catalogue / f"{definition['id']}.yaml"
        path.write_text(yaml.safe_dump(definition), encoding="utf-8")

    def deliver(self, report_id: str = "weekly-hours") -> None:
        """The scheduled run of the report for WEEK, delivered on Monday morning."""
        definition = Catalogue(self.catalogue).get(report_id)
        with time_machine.travel(DELIVERED, tick=True):
            runner = build_runner(self.settings, token=ADMIN_TOKEN)
            runner.run(RunRequest(definition=definition, scheduled_at=SCHEDULED_AT, period=WEEK))

    def check(self, at: datetime) -> list[dict[str, object]]:
        with time_machine.travel(at, tick=True):
            check = build_revision_check(self.settings, self.catalogue, token=ADMIN_TOKEN)
            return [revision.as_dict() for revision in check.check()]

    def week_entries(self) -> list[dict[str, Any]]:
        return [entry for entry in self.simulator.time_entries() if WEEK.start <= entry["date"] <= WEEK.end]


@pytest.fixture
def stack(aws: LocalAws, simulator: IntervalsSimulator, tmp_path: Path) -> Stack:
    catalogue = tmp_path / "reports"
    catalogue.mkdir()
    deployed = Stack(aws, simulator, catalogue)
    deployed.write(weekly())
    return deployed


def hours_by_project(entries: list[dict[str, Any]]) -> dict[str, Decimal]:
    """An independent aggregation of the simulator's entries: incurred hours per project id (as the CSV prints it)."""
    sums: dict[str, Decimal] = {}
    for entry in entries:
        key = str(entry["projectid"])
        sums[key] = sums.get(key, Decimal(0)) + Decimal(str(entry["time"]))
    return sums


def csv_rows(raw: bytes) -> tuple[dict[str, Decimal], Decimal]:
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    total = next(row for row in rows if row["project_id"] == "TOTAL")
    body = {row["project_id"]: Decimal(row["incurred_hours"]) for row in rows if row["project_id"] != "TOTAL"}
    return body, Decimal(total["incurred_hours"])


def edit_the_week(simulator: IntervalsSimulator, entries: list[dict[str, Any]]) -> None:
    """Hours changed on one entry (replaced by an edited copy), another deleted, a new one added."""
    edited, deleted = entries[0], entries[1]
    simulator.delete_time_entry(edited["id"])
    simulator.add_time_entry(
        date=edited["date"],
        projectid=edited["projectid"],
        moduleid=edited["moduleid"],
        personid=edited["personid"],
        worktypeid=edited["worktypeid"],
        time=Decimal(str(edited["time"])) + Decimal("2.5"),
        billable=edited["billable"],
    )
    simulator.delete_time_entry(deleted["id"])
    simulator.add_time_entry(
        date=WEEK.start + timedelta(days=2),
        projectid=entries[2]["projectid"],
        moduleid=entries[2]["moduleid"],
        personid=entries[2]["personid"],
        worktypeid=entries[2]["worktypeid"],
        time=Decimal("3.25"),
        billable=True,
    )


def log_time_like(
    simulator: IntervalsSimulator, entry: dict[str, Any], day: date, hours: Decimal, **fields: Any
) -> None:
    """A new entry of `hours` on `day` by the person, project, module and work type of `entry` (or `fields`)."""
    simulator.add_time_entry(
        date=day,
        projectid=fields.get("projectid", entry["projectid"]),
        moduleid=entry["moduleid"],
        personid=entry["personid"],
        worktypeid=entry["worktypeid"],
        time=hours,
        billable=fields.get("billable", True),
    )


def test_an_edited_week_gets_one_revision_to_the_same_recipients(stack: Stack) -> None:
    # Given the weekly report delivered on Monday, and its total as sent
    stack.deliver()
    (original,) = stack.aws.sent_messages()
    sent_rows, sent_total = csv_rows(next(original.iter_attachments()).get_payload(decode=True))
    # When entries of its week are edited, deleted and added, and the daily check runs the next morning
    edit_the_week(stack.simulator, stack.week_entries())
    revisions = stack.check(NEXT_MORNING)

    # Then one revision went out, to the same To and Cc, saying so in its subject
    (revision,) = revisions
    messages = stack.aws.sent_messages()
    assert len(messages) == 2
    corrected = messages[1]
    assert (corrected["To"], corrected["Cc"]) == (original["To"], original["Cc"])
    assert corrected["Subject"] == f"Revised: {original['Subject']}"
    # And its CSV equals an independent aggregation of the simulator's entries now, to the cent, under the name it is
    # archived by, not the name of the report it replaces
    (attachment,) = list(corrected.iter_attachments())
    assert attachment.get_filename() == "weekly-hours_2026-11-16_2026-11-22.rev1.csv"
    rows, total = csv_rows(attachment.get_payload(decode=True))
    expected = hours_by_project(stack.week_entries())
    assert rows == expected
    assert total == sum(expected.values())
    # And the command line's figures are the totals before and after, and the rows that changed
    assert revision["report_id"] == "weekly-hours"
    assert (revision["from"], revision["to"]) == ("2026-11-16", "2026-11-22")
    assert (Decimal(str(revision["hours_before"])), Decimal(str(revision["hours_after"]))) == (sent_total, total)
    changed = {key for key in set(rows) | set(sent_rows) if rows.get(key) != sent_rows.get(key)}
    assert revision["changed_rows"] == len(changed) > 0
    # And the body says what changed, before and after, and how many entries were edited or added since
    text = corrected.get_body(("plain",)).get_content()
    assert f"{sent_total:.2f} -> {total:.2f}" in text
    # (a row is named as the report's sections name it: a project name two projects share with its id)
    sent_csv = list(
        csv.DictReader(io.StringIO(next(original.iter_attachments()).get_payload(decode=True).decode("utf-8-sig")))
    )
    names = {row["project_id"]: row["project_name"] for row in sent_csv if row["project_id"] != "TOTAL"}
    for project_id in changed:
        name = names.get(project_id)
        if name is not None and list(names.values()).count(name) > 1:
            assert f"{name} (#{project_id})" in text, name
    # (the edit is a delete and an add; entries the data set dates after the delivery count as edited)
    since = DELIVERED.strftime("%Y-%m-%d %H:%M:%S")
    later = [entry for entry in stack.week_entries() if str(entry["datemodified"]) > since]
    assert f"Time entries since: {len(later) - 2} edited, 2 added, 2 deleted," in text
    # And the corrected CSV is archived beside the original, which stays, and the history says `revised`
    keys = {item["Key"] for item in stack.aws.s3.list_objects_v2(Bucket=stack.settings.reports_bucket)["Contents"]}
    assert "reports/weekly-hours/2026-11-16_2026-11-22/weekly-hours_2026-11-16_2026-11-22.csv" in keys
    assert "reports/weekly-hours/2026-11-16_2026-11-22/weekly-hours_2026-11-16_2026-11-22.rev1.csv" in keys
    latest = build_run_history(stack.settings).last_runs("weekly-hours")[0]
    assert (latest.status, latest.revision, latest.total_before, latest.total_after) == (
        "revised",
        1,
        f"{sent_total:.2f}",
        f"{total:.2f}",
    )


def test_the_same_check_twice_sends_once_and_a_later_edit_sends_the_next_revision(stack: Stack) -> None:
    # Given a delivered week that was edited and revised once
    stack.deliver()
    edit_the_week(stack.simulator, stack.week_entries())
    assert len(stack.check(NEXT_MORNING)) == 1
    # When the check runs again with nothing new
    again = stack.check(NEXT_MORNING + timedelta(hours=1))
    # Then nothing more is sent
    assert again == []
    assert len(stack.aws.sent_messages()) == 2
    # When another entry of the week changes, then the next check sends revision 2, against revision 1's figures
    entry = stack.week_entries()[3]
    stack.simulator.delete_time_entry(entry["id"])
    (second,) = stack.check(NEXT_MORNING + timedelta(days=1))
    assert Decimal(str(second["hours_after"])) == Decimal(str(second["hours_before"])) - Decimal(str(entry["time"]))
    assert len(stack.aws.sent_messages()) == 3


def test_nothing_changed_or_edits_elsewhere_send_nothing(stack: Stack) -> None:
    # Given a delivered week (its run filled the account's entry mirror)
    stack.deliver()
    # When nothing changed, then the check sends nothing, for at most 3 quota requests (a sync page and a probe)
    before = stack.simulator.requests_counted
    assert stack.check(NEXT_MORNING) == []
    assert stack.simulator.requests_counted - before <= 3
    # When only entries of another week change (one deleted, one added)
    outside = [entry for entry in stack.simulator.time_entries() if entry["date"] < WEEK.start]
    stack.simulator.delete_time_entry(outside[-1]["id"])
    stack.simulator.add_time_entry(date=WEEK.end + timedelta(days=3), time=Decimal("4"))
    # Then nothing is sent either
    assert stack.check(NEXT_MORNING) == []
    assert len(stack.aws.sent_messages()) == 1


def test_changes_that_cancel_out_send_nothing(stack: Stack) -> None:
    # Given a delivered week, and one of its entries replaced by an identical one (a new id, the same hours)
    stack.deliver()
    entry = stack.week_entries()[0]
    stack.simulator.delete_time_entry(entry["id"])
    stack.simulator.add_time_entry(
        **{name: entry[name] for name in ("date", "projectid", "moduleid", "personid", "worktypeid", "billable")},
        time=Decimal(str(entry["time"])),
    )
    # When the check runs, then the rows are the same after, and nothing is sent
    assert stack.check(NEXT_MORNING) == []


def test_a_period_past_its_window_is_no_longer_watched(stack: Stack) -> None:
    # Given a report watched for 7 days, delivered, then edited
    stack.write(weekly(window_days=7))
    stack.deliver()
    edit_the_week(stack.simulator, stack.week_entries())
    # When the check runs 8 days after the delivery, then nothing is sent
    assert stack.check(DELIVERED + timedelta(days=8)) == []
    # And within the window it would have been
    assert len(stack.check(DELIVERED + timedelta(days=6))) == 1


def test_changes_below_the_threshold_or_with_notify_off_send_nothing(stack: Stack) -> None:
    # Given a delivered week and a change of 0.25 h
    stack.write(weekly(min_change_hours=1))
    stack.deliver()
    entry = stack.week_entries()[0]
    stack.simulator.delete_time_entry(entry["id"])
    stack.simulator.add_time_entry(
        **{name: entry[name] for name in ("date", "projectid", "moduleid", "personid", "worktypeid", "billable")},
        time=Decimal(str(entry["time"])) + Decimal("0.25"),
    )
    # When the check runs with min_change_hours 1, then nothing is sent; with notify off neither
    assert stack.check(NEXT_MORNING) == []
    stack.write(weekly(notify=False))
    assert stack.check(NEXT_MORNING) == []
    # And with the defaults the same change is a revision
    stack.write(weekly())
    assert len(stack.check(NEXT_MORNING)) == 1


def test_two_checks_claiming_the_same_revision_only_one_wins(aws: LocalAws) -> None:
    # Given the revision marks of one delivered run
    marks = DynamoDBRevisionMarks(aws.settings.state_table, aws.dynamodb)
    first = RevisionMark(1, "reports/x/rev1.csv")
    # When two checks that both saw "no revision yet" claim revision 1, then only the first wins
    assert marks.advance("weekly-hours", SCHEDULED_AT.isoformat(), 0, first) is True
    assert marks.advance("weekly-hours", SCHEDULED_AT.isoformat(), 0, RevisionMark(1, "other.csv")) is False
    assert marks.current("weekly-hours", SCHEDULED_AT.isoformat()) == first
    # And a claim given back after a failed send (to 0) can be taken again
    assert marks.advance("weekly-hours", SCHEDULED_AT.isoformat(), 1, RevisionMark(0, "original.csv")) is True
    assert marks.advance("weekly-hours", SCHEDULED_AT.isoformat(), 0, first) is True


def test_the_daily_schedule_runs_the_check_through_the_run_report_handler(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a delivered, edited week and the function's environment (the catalogue, moto and the simulator)
    from functions.run_report import app

    stack.deliver()
    edit_the_week(stack.simulator, stack.week_entries())
    environment = {
        "STATE_TABLE": stack.settings.state_table,
        "REPORTS_BUCKET": stack.settings.reports_bucket,
        "SENDER_EMAIL": stack.settings.sender_email,
        "CATALOGUE_DIR": str(stack.catalogue),
        "INTERVALS_API_URL": stack.simulator.url,
        "INTERVALS_API_TOKEN": ADMIN_TOKEN,
    }
    deploy_environment(monkeypatch, environment)
    try:
        # When the schedule invokes run_report with the sample event (its `at` is the next morning)
        with time_machine.travel(NEXT_MORNING, tick=True):
            reply = app.lambda_handler(load_event("run_report_revisions.json"), FakeLambdaContext())
    finally:
        redeploy()
    # Then the revision was sent, and the reply lists it
    (revision,) = reply["revisions"]
    assert revision["report_id"] == "weekly-hours"
    assert len(stack.aws.sent_messages()) == 2


def test_a_report_delivered_as_a_workbook_is_revised_with_one_too(stack: Stack) -> None:
    # Given a report whose formats are CSV and XLSX, delivered, then edited
    definition = weekly()
    definition["delivery"]["formats"] = ["csv", "xlsx"]
    stack.write(definition)
    stack.deliver()
    edit_the_week(stack.simulator, stack.week_entries())
    # When the check runs, then the revision carries the corrected CSV and the corrected workbook
    assert len(stack.check(NEXT_MORNING)) == 1
    names = [part.get_filename() for part in stack.aws.sent_messages()[-1].iter_attachments()]
    assert names == ["weekly-hours_2026-11-16_2026-11-22.rev1.csv", "weekly-hours_2026-11-16_2026-11-22.rev1.xlsx"]


def test_a_report_whose_revision_fails_does_not_stop_the_others(stack: Stack) -> None:
    # Given two delivered weekly reports, the first of which lost its archived CSV, and an edited week
    stack.write(weekly("a-broken"))
    stack.write(weekly("b-healthy"))
    (catalogue_default,) = [path for path in stack.catalogue.iterdir() if path.stem == "weekly-hours"]
    catalogue_default.unlink()
    stack.deliver("a-broken")
    stack.deliver("b-healthy")
    stack.aws.s3.delete_object(
        Bucket=stack.settings.reports_bucket,
        Key="reports/a-broken/2026-11-16_2026-11-22/a-broken_2026-11-16_2026-11-22.csv",
    )
    edit_the_week(stack.simulator, stack.week_entries())
    # When the check runs
    with time_machine.travel(NEXT_MORNING, tick=True):
        check = build_revision_check(stack.settings, stack.catalogue, token=ADMIN_TOKEN)
        sent = check.check()
    # Then the healthy report is revised, and the broken one is a failure named for the check's caller
    assert [revision.report_id for revision in sent] == ["b-healthy"]
    (failure,) = check.failures
    assert failure.startswith("a-broken 2026-11-16..2026-11-22: ")
    with pytest.raises(TimereportsError, match="revision check: 1 failed: a-broken"):
        check.raise_failures()


def test_a_private_slice_is_revised_to_its_own_recipients_only(stack: Stack, dataset: Any) -> None:
    # Given a weekly report split by client (two slices with recipients) besides the whole report to ops, delivered
    clients = {client["id"]: client["name"] for client in dataset.clients}
    busy = sorted({entry["clientid"] for entry in stack.week_entries() if entry["clientid"]})
    changed_client, quiet_client = busy[0], busy[1]
    definition = weekly()
    definition["delivery"]["split"] = {
        "by": "client",
        "to": {clients[changed_client]: ["pm@changed.example"], clients[quiet_client]: ["pm@quiet.example"]},
    }
    stack.write(definition)
    stack.deliver()
    assert len(stack.aws.sent_messages()) == 3
    # When an entry of one client's week is deleted, and the check runs
    entry = next(entry for entry in stack.week_entries() if entry["clientid"] == changed_client)
    stack.simulator.delete_time_entry(entry["id"])
    revisions = stack.check(NEXT_MORNING)
    # Then the whole report and that client's slice are revised, each to its own recipients; the other slice is not
    assert sorted(str(revision.get("slice")) for revision in revisions) == sorted(
        ["None", slug(clients[changed_client])]
    )
    revised = stack.aws.sent_messages()[3:]
    assert sorted(str(message["To"]) for message in revised) == ["ops@example.com", "pm@changed.example"]
    slice_message = next(message for message in revised if str(message["To"]) == "pm@changed.example")
    assert str(slice_message["Subject"]).startswith("Revised: ")
    assert str(slice_message["Subject"]).endswith(clients[changed_client])
    # And the slice's revision names no other client anywhere (subject, body, attachment)
    raw = slice_message.as_bytes().decode("utf-8", "replace") + slice_message.get_body(("plain",)).get_content()
    raw += next(slice_message.iter_attachments()).get_payload(decode=True).decode("utf-8-sig")
    assert clients[quiet_client] not in raw
    assert clients[quiet_client] not in str(slice_message["Subject"])
    # And it says whose time it is, and gives no entry counts (they are every client's), while the whole report's does
    text = slice_message.get_body(("plain",)).get_content()
    assert f"Only the time of {clients[changed_client]}" in text
    assert "Time entries since" not in text
    whole = next(message for message in revised if str(message["To"]) == "ops@example.com")
    assert "Time entries since" in whole.get_body(("plain",)).get_content()


def test_a_filtered_report_counts_only_the_entries_it_reports(stack: Stack) -> None:
    # Given a weekly report of every project but one (an exclusion: filtered here, not by the API), delivered
    week = stack.week_entries()
    counts: dict[int, int] = {}
    for entry in week:
        counts[entry["projectid"]] = counts.get(entry["projectid"], 0) + 1
    excluded = max(counts, key=lambda project: counts[project])
    definition = weekly()
    definition["filters"] = {"project_id": {"operation": "exclusion", "values": [str(excluded)]}}
    stack.write(definition)
    stack.deliver()
    since = DELIVERED.strftime("%Y-%m-%d %H:%M:%S")
    # When one of its entries is edited, and in the excluded project one is edited, one deleted and one added
    mine = next(entry for entry in week if entry["projectid"] != excluded)
    stack.simulator.update_time_entry(mine["id"], time=Decimal(str(mine["time"])) + Decimal("1.5"))
    theirs = [entry for entry in week if entry["projectid"] == excluded]
    stack.simulator.update_time_entry(theirs[0]["id"], time=Decimal(str(theirs[0]["time"])) + Decimal("1"))
    stack.simulator.delete_time_entry(theirs[1]["id"])
    stack.simulator.add_time_entry(
        date=WEEK.start, projectid=excluded, moduleid=theirs[0]["moduleid"], personid=theirs[0]["personid"], time=2
    )
    (revision,) = stack.check(NEXT_MORNING)
    # Then the revision counts the report's own entries only: edited since the delivery, none added or deleted
    text = stack.aws.sent_messages()[-1].get_body(("plain",)).get_content()
    edited = [
        entry for entry in stack.week_entries() if entry["projectid"] != excluded and str(entry["datemodified"]) > since
    ]
    assert f"Time entries since: {len(edited)} edited, 0 added, 0 deleted," in text
    assert revision["changed_rows"] == 1


def test_a_report_sent_as_a_link_is_revised_with_a_link(stack: Stack) -> None:
    # Given a report that sends its CSV as a link (attach: link), delivered, then edited
    definition = weekly()
    definition["delivery"]["attach"] = "link"
    stack.write(definition)
    stack.deliver()
    edit_the_week(stack.simulator, stack.week_entries())
    # When the check runs, then the revision has no attachment but a signed link to the corrected CSV
    (revision,) = stack.check(NEXT_MORNING)
    message = stack.aws.sent_messages()[-1]
    assert list(message.iter_attachments()) == []
    text = message.get_body(("plain",)).get_content()
    assert "weekly-hours_2026-11-16_2026-11-22.rev1.csv" in text
    assert "X-Amz-Signature" in text
    assert revision["changed_rows"] >= 1


def test_a_workbook_report_sent_as_links_is_revised_with_links_to_both_corrected_files(stack: Stack) -> None:
    # Given a report with a workbook that sends its files as links, delivered, then edited
    definition = weekly()
    definition["delivery"]["attach"] = "link"
    definition["delivery"]["formats"] = ["csv", "xlsx"]
    stack.write(definition)
    stack.deliver()
    edit_the_week(stack.simulator, stack.week_entries())
    # When the check runs
    stack.check(NEXT_MORNING)
    # Then the revision links the corrected CSV and the corrected workbook, each archived beside the original
    message = stack.aws.sent_messages()[-1]
    assert list(message.iter_attachments()) == []
    prefix = "reports/weekly-hours/2026-11-16_2026-11-22/weekly-hours_2026-11-16_2026-11-22"
    archived = {
        name: stack.aws.s3.get_object(Bucket=stack.settings.reports_bucket, Key=f"{prefix}.{name}")["Body"].read()
        for name in ("rev1.csv", "rev1.xlsx")
    }
    assert linked_files(message) == {
        "the corrected CSV": archived["rev1.csv"],
        "the workbook (Excel)": archived["rev1.xlsx"],
    }


# --- which deliveries are watched -----------------------------------------------------------------------------------


def deliver_at(stack: Stack, scheduled_at: datetime, period: Period = WEEK, report_id: str = "weekly-hours") -> None:
    """A scheduled run of the report over `period`, delivered ten minutes after it was due."""
    definition = Catalogue(stack.catalogue).get(report_id)
    with time_machine.travel(scheduled_at + timedelta(minutes=10), tick=True):
        runner = build_runner(stack.settings, token=ADMIN_TOKEN)
        runner.run(RunRequest(definition=definition, scheduled_at=scheduled_at, period=period))


def client_without_time(stack: Stack, dataset: Any) -> dict[str, Any]:
    busy = {entry["clientid"] for entry in stack.week_entries() if entry["clientid"]}
    return next(client for client in dataset.clients if client["id"] not in busy)


def test_a_period_delivered_every_day_is_revised_once_per_edit_numbered_across_its_deliveries(stack: Stack) -> None:
    # Given last week's report sent every morning: on Monday and again on Tuesday (the same period, one archive key)
    definition = weekly()
    definition["schedule"] = {"cron": "0 7 * * *", "timezone": "Europe/Berlin"}
    stack.write(definition)
    deliver_at(stack, SCHEDULED_AT)
    deliver_at(stack, SCHEDULED_AT + timedelta(days=1))
    sent = len(stack.aws.sent_messages())
    # When the week is edited and the check runs on Wednesday
    edit_the_week(stack.simulator, stack.week_entries())
    revisions = stack.check(datetime(2026, 11, 25, 5, 0, tzinfo=UTC))
    # Then one revision goes out (not one per delivery), compared with Tuesday's report, the one they have now
    assert [(revision["scheduled_at"], len(stack.aws.sent_messages()) - sent) for revision in revisions] == [
        ((SCHEDULED_AT + timedelta(days=1)).isoformat(), 1)
    ]
    assert revisions[0]["hours_after"] != revisions[0]["hours_before"]
    # And after another delivery of the week (which has the first edit) and a further edit, the next revision is
    # number 2, not 1 again, compared with that delivery
    deliver_at(stack, SCHEDULED_AT + timedelta(days=2))
    history = build_run_history(stack.settings)
    delivery = history.last_runs("weekly-hours", limit=1)[0]
    assert delivery.status == "delivered"
    assert delivery.s3_key
    archived = stack.aws.s3.get_object(Bucket=stack.settings.reports_bucket, Key=delivery.s3_key)["Body"].read()
    stack.simulator.delete_time_entry(stack.week_entries()[3]["id"])
    stack.check(datetime(2026, 11, 26, 5, 0, tzinfo=UTC))
    attachments = [attachment.get_filename() for attachment in stack.aws.sent_messages()[-1].iter_attachments()]
    assert attachments == ["weekly-hours_2026-11-16_2026-11-22.rev2.csv"]
    revised = history.last_runs("weekly-hours", limit=1)[0]
    assert (revised.status, revised.revision) == ("revised", 2)
    assert revised.total_before == f"{csv_rows(archived)[1]:.2f}"


def test_a_slice_with_no_time_does_not_stop_the_others_revisions(stack: Stack, dataset: Any) -> None:
    # Given a split whose first slice had no time that week (a notice, no archived CSV) and a second that had
    clients = {client["id"]: client["name"] for client in dataset.clients}
    quiet = client_without_time(stack, dataset)
    busy = sorted({entry["clientid"] for entry in stack.week_entries() if entry["clientid"]})[0]
    definition = weekly()
    definition["delivery"]["empty"] = "notice"
    definition["delivery"]["split"] = {
        "by": "client",
        "to": {quiet["name"]: ["pm@quiet.example"], clients[busy]: ["pm@busy.example"]},
    }
    stack.write(definition)
    stack.deliver()
    sent = len(stack.aws.sent_messages())
    # When an entry of the busy client's week is deleted and the check runs
    stack.simulator.delete_time_entry(next(e for e in stack.week_entries() if e["clientid"] == busy)["id"])
    with time_machine.travel(NEXT_MORNING, tick=True):
        check = build_revision_check(stack.settings, stack.catalogue, token=ADMIN_TOKEN)
        check.check()
    # Then the whole report and the busy slice are revised, the quiet slice is not, and nothing failed
    assert sorted(str(message["To"]) for message in stack.aws.sent_messages()[sent:]) == [
        "ops@example.com",
        "pm@busy.example",
    ]
    assert check.failures == []


def test_time_logged_after_a_no_time_notice_is_sent_as_a_revision(stack: Stack, dataset: Any) -> None:
    # Given a report of one client that had no time that week: its recipients got a "no time logged" notice
    quiet = client_without_time(stack, dataset)
    definition = weekly()
    definition["delivery"]["empty"] = "notice"
    definition["filters"] = {"client": {"operation": "inclusion", "values": [quiet["name"]]}}
    stack.write(definition)
    stack.deliver()
    sent = len(stack.aws.sent_messages())
    # When four hours are logged for that client in the week, late
    project = next(project for project in dataset.projects if project["clientid"] == quiet["id"])
    log_time_like(
        stack.simulator, stack.week_entries()[0], WEEK.start + timedelta(days=1), Decimal(4), projectid=project["id"]
    )
    revisions = stack.check(NEXT_MORNING)
    # Then the same recipients get a revision: nothing before, the four hours after
    assert [(revision["hours_before"], revision["hours_after"]) for revision in revisions] == [("0.00", "4.00")]
    message = stack.aws.sent_messages()[sent]
    assert str(message["To"]) == TO
    assert str(message["Subject"]).startswith("Revised: ")


def test_a_definition_edited_since_the_delivery_sends_no_revision(stack: Stack) -> None:
    # Given the week delivered, then the report's grouping changed in the catalogue (no time edited)
    stack.deliver()
    sent = len(stack.aws.sent_messages())
    definition = weekly()
    definition["group_by"] = ["project_id", "user_id"]
    stack.write(definition)
    # When the check runs, even after a real edit of the week
    edit_the_week(stack.simulator, stack.week_entries())
    revisions = stack.check(NEXT_MORNING)
    # Then nothing is sent: the new shape's rows are not a correction of what was sent
    assert revisions == []
    assert len(stack.aws.sent_messages()) == sent
    # While a change of the schedule or of the revision settings alone keeps the delivery watched
    definition = weekly(window_days=40)
    definition["schedule"] = {"cron": "30 7 * * MON", "timezone": "Europe/Berlin"}
    stack.write(definition)
    assert len(stack.check(NEXT_MORNING)) == 1


def test_an_entry_split_in_two_with_the_same_hours_sends_nothing(stack: Stack) -> None:
    # Given the week delivered
    stack.deliver()
    sent = len(stack.aws.sent_messages())
    # When one entry is replaced by two of half its hours each (the row's entry count moves, its hours do not)
    entry = next(entry for entry in stack.week_entries() if Decimal(str(entry["time"])) >= 1)
    stack.simulator.delete_time_entry(entry["id"])
    for _ in range(2):
        log_time_like(
            stack.simulator, entry, entry["date"], Decimal(str(entry["time"])) / 2, billable=entry["billable"]
        )
    # Then no revision is sent
    assert stack.check(NEXT_MORNING) == []
    assert len(stack.aws.sent_messages()) == sent


def test_a_period_still_running_when_it_was_sent_is_not_watched(stack: Stack) -> None:
    # Given this week's report sent on Wednesday (the week still running)
    definition = weekly()
    definition["time_frame"] = "this_week"
    stack.write(definition)
    this_week = Period(date(2026, 11, 23), date(2026, 11, 29))
    deliver_at(stack, datetime(2026, 11, 25, 6, 0, tzinfo=UTC), this_week)
    sent = len(stack.aws.sent_messages())
    # When time is logged on Thursday, in the week it covered
    log_time_like(stack.simulator, stack.week_entries()[0], date(2026, 11, 26), Decimal(8))
    # Then the next days' checks send nothing: that is time still being logged, not a correction
    assert stack.check(datetime(2026, 11, 27, 5, 0, tzinfo=UTC)) == []
    assert stack.check(datetime(2026, 12, 1, 5, 0, tzinfo=UTC)) == []
    assert len(stack.aws.sent_messages()) == sent


def test_a_period_revised_by_the_release_before_period_marks_is_not_revised_again(stack: Stack) -> None:
    # Given the week delivered and revised once, its mark as the release before kept it: per delivery, no sent_at
    stack.deliver()
    edit_the_week(stack.simulator, stack.week_entries())
    [first] = stack.check(NEXT_MORNING)
    table, key = stack.settings.state_table, {"pk": {"S": "revision#weekly-hours"}}
    period_mark = {**key, "sk": {"S": f"period#{WEEK.start}_{WEEK.end}"}}
    item = stack.aws.dynamodb.get_item(TableName=table, Key=period_mark)["Item"]
    stack.aws.dynamodb.delete_item(TableName=table, Key=period_mark)
    legacy = {**item, "sk": {"S": SCHEDULED_AT.isoformat()}}
    del legacy["sent_at"]
    stack.aws.dynamodb.put_item(TableName=table, Item=legacy)
    # (and the delivery's record as that release wrote it: without a definition digest)
    runs = stack.aws.dynamodb.query(
        TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": "run#weekly-hours"}}
    )["Items"]
    for run in runs:
        stack.aws.dynamodb.update_item(
            TableName=table, Key={"pk": run["pk"], "sk": run["sk"]}, UpdateExpression="REMOVE definition_digest"
        )
    sent = len(stack.aws.sent_messages())
    # When the check runs after the upgrade, with nothing changed since that revision
    assert stack.check(NEXT_MORNING + timedelta(days=1)) == []
    # Then nothing is sent again; and a further edit is revision 2, compared with revision 1
    assert len(stack.aws.sent_messages()) == sent
    stack.simulator.delete_time_entry(stack.week_entries()[3]["id"])
    [second] = stack.check(NEXT_MORNING + timedelta(days=2))
    assert first["hours_after"] == second["hours_before"]
    attachments = [attachment.get_filename() for attachment in stack.aws.sent_messages()[-1].iter_attachments()]
    assert attachments == ["weekly-hours_2026-11-16_2026-11-22.rev2.csv"]


def test_a_check_given_its_instant_in_another_offset_orders_revisions_and_deliveries_by_time(stack: Stack) -> None:
    # Given last week's report sent every morning: delivered Monday, edited, revised by a check invoked as of
    # Tuesday 07:00 +01:00 (06:00 UTC), edited again, then Tuesday's delivery at 06:10 UTC, which has both edits
    definition = weekly()
    definition["schedule"] = {"cron": "0 7 * * *", "timezone": "Europe/Berlin"}
    stack.write(definition)
    deliver_at(stack, SCHEDULED_AT)
    edit_the_week(stack.simulator, stack.week_entries())
    berlin = timezone(timedelta(hours=1))
    with time_machine.travel(NEXT_MORNING + timedelta(hours=1), tick=True):
        check = build_revision_check(stack.settings, stack.catalogue, token=ADMIN_TOKEN)
        assert len(check.check(datetime(2026, 11, 24, 7, 0, tzinfo=berlin))) == 1
    stack.simulator.delete_time_entry(stack.week_entries()[3]["id"])
    deliver_at(stack, SCHEDULED_AT + timedelta(days=1))
    sent = len(stack.aws.sent_messages())
    # When the next check runs with nothing changed since Tuesday's delivery
    # Then nothing is sent: the recipients' copy is Tuesday's delivery, later than the revision
    assert stack.check(datetime(2026, 11, 25, 5, 0, tzinfo=UTC)) == []
    assert len(stack.aws.sent_messages()) == sent


def test_a_slice_listed_by_a_name_another_client_carries_since_is_not_revised_with_its_time(
    stack: Stack, dataset: Any
) -> None:
    # Given a week split by client, the slice "Mango Inc." (client 20005) delivered to Mango's PM
    definition = weekly()
    definition["delivery"]["split"] = {"by": "client", "to": {"Mango Inc.": ["pm@mango.example"]}}
    stack.write(definition)
    stack.deliver()
    sent = len(stack.aws.sent_messages())
    # When Mango is renamed and another client takes its name, and the check runs once the names are refreshed
    stack.simulator.rename("client", 20005, "Mango (old)")
    stack.simulator.rename("client", 20002, "Mango Inc.")
    with time_machine.travel(NEXT_MORNING + timedelta(days=2), tick=True):
        check = build_revision_check(stack.settings, stack.catalogue, token=ADMIN_TOKEN)
        check.check()
    # Then Mango's PM gets nothing of the other client's time, and the check says why it did not revise the slice
    assert "pm@mango.example" not in [str(message["To"]) for message in stack.aws.sent_messages()[sent:]]
    assert len(check.failures) == 1
    assert "slice mango-inc: not revised: the slice 'Mango Inc.' was sent for record(s) [20005]" in check.failures[0]


def mango_delivered_then_its_name_moved(stack: Stack) -> int:
    """A daily report split by client, "Mango Inc." (client 20005) delivered to Mango's PM on Monday; then Mango
    renamed and client 20002 given its name. Returns how many messages had been sent."""
    definition = weekly()
    definition["schedule"] = {"cron": "0 7 * * *", "timezone": "Europe/Berlin"}
    definition["delivery"]["split"] = {"by": "client", "to": {"Mango Inc.": ["pm@mango.example"]}}
    stack.write(definition)
    deliver_at(stack, SCHEDULED_AT)
    sent = len(stack.aws.sent_messages())
    stack.simulator.rename("client", 20005, "Mango (old)")
    stack.simulator.rename("client", 20002, "Mango Inc.")
    return sent


def test_the_next_run_of_a_slice_whose_name_moved_to_another_client_sends_nothing(stack: Stack) -> None:
    # Given a daily report split by client, "Mango Inc." (client 20005) delivered to Mango's PM on Monday
    # When Mango is renamed, another client takes its name, and the report runs two days later (names refreshed)
    sent = mango_delivered_then_its_name_moved(stack)
    # Then the run is refused before anything is sent, naming the slice and saying to list it by id
    with pytest.raises(
        TimereportsError, match=r"delivery\.split\.to\['Mango Inc\.'\]: the name is record\(s\) \[20002\]"
    ):
        deliver_at(stack, SCHEDULED_AT + timedelta(days=2))
    assert len(stack.aws.sent_messages()) == sent


def test_a_moved_slice_name_stays_refused_however_many_runs_have_failed_since(stack: Stack) -> None:
    # Given a daily split "Mango Inc." (client 20005) delivered, then its name moved to another client
    sent = mango_delivered_then_its_name_moved(stack)
    # When 25 failed runs follow in the history (refused, retried, skipped while paused)
    history = build_run_history(stack.settings)
    for hour in range(25):
        moment = SCHEDULED_AT + timedelta(days=2, hours=hour)
        failed = RunRecord(report_id="weekly-hours", status="failed", scheduled_at=moment.isoformat())
        history.record(failed.model_copy(update={"finished_at": moment.isoformat()}))
    # Then the next run is refused too, and Mango's PM never got the other client's time
    with pytest.raises(TimereportsError, match="list the slice by the id"):
        deliver_at(stack, SCHEDULED_AT + timedelta(days=3, hours=2))
    assert len(stack.aws.sent_messages()) == sent


def test_a_split_by_another_attribute_is_not_compared_with_the_slices_of_the_one_before(stack: Stack) -> None:
    # Given a split by client "Mango Inc." delivered, then the report split by project, with a project of that name
    definition = weekly()
    definition["schedule"] = {"cron": "0 7 * * *", "timezone": "Europe/Berlin"}
    definition["delivery"]["split"] = {"by": "client", "to": {"Mango Inc.": ["pm@mango.example"]}}
    stack.write(definition)
    deliver_at(stack, SCHEDULED_AT)
    stack.simulator.rename("project", 30013, "Mango Inc.")
    definition["delivery"]["split"] = {"by": "project_id", "to": {"Mango Inc.": ["pm@mango.example"]}}
    stack.write(definition)
    # When it runs two days later / Then it is sent: a project id is not a client id that moved
    deliver_at(stack, SCHEDULED_AT + timedelta(days=2))
    assert str(stack.aws.sent_messages()[-1]["To"]) == "pm@mango.example"


def test_a_name_written_as_intervals_spells_it_with_a_direction_mark_still_names_its_record(stack: Stack) -> None:
    # Given a client whose name ends in a right-to-left mark (common in Hebrew and Arabic names), and a report filtered
    # and split by that name exactly as Intervals spells it
    name = 'אקמה בע"מ\u200f'
    stack.simulator.rename("client", 20005, name)
    definition = weekly()
    definition["filters"] = {"client": {"operation": "inclusion", "values": [name]}}
    definition["delivery"]["split"] = {"by": "client", "to": {name: ["pm@acme.example"]}}
    stack.write(definition)
    # When it runs / Then it is delivered (the name matches its record with or without the mark), to the slice too
    stack.deliver()
    assert "pm@acme.example" in [str(message["To"]) for message in stack.aws.sent_messages()]
