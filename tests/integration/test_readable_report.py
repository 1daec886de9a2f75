"""The report people read, end to end: the runner against the simulator and moto, the emails parsed back.

Each figure is checked against an independent sum over the simulator's own data set (never against the engine):
sections' subtotals against the CSV's rows, bars against the shares, the previous period against the entries of
the week before, the entry view against the entries themselves, and each private slice against every other
client's name anywhere in its message.
"""

from __future__ import annotations

import csv
import html
import io
import re
import zipfile
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from timereports_dev.commands import write_outcome
from timereports_dev.dataset import ADMIN_TOKEN

from timereports.bootstrap.history import build_run_history
from timereports.bootstrap.runs import build_once, build_runner
from timereports.bootstrap.sources import build_client, build_ledger
from timereports.dal.archive import S3Archive
from timereports.dal.mailer import SesMailer
from timereports.dal.message_claims import DynamoDBMessageClaims
from timereports.logic.runner import DeliveryOptions, ReportRunner, RunRequest
from timereports.models.catalogue import parse_definition

TODAY = date(2026, 11, 23)  # a Monday: last week is 2026-11-16 to 2026-11-22, the week before 2026-11-09 to -15
WEEK = ("2026-11-16", "2026-11-22")
WEEK_BEFORE = ("2026-11-09", "2026-11-15")
CENT = Decimal("0.01")


def weekly(**changes: Any) -> Any:
    delivery = {"to": ["ops@example.com"], "formats": ["csv", "xlsx"]} | changes.pop("delivery", {})
    return parse_definition(
        {
            "id": "weekly-readable",
            "title": "Hours by project and person",
            "view": "time_fees_hours",
            "time_frame": "last_week",
            "timezone": "Europe/Berlin",
            "group_by": ["project_id", "user_id"],
            "delivery": delivery,
        }
        | changes
    )


def run(aws: Any, simulator: Any, definition: Any, **request: Any) -> Any:
    runner = build_runner(aws.settings, api_url=simulator.url, token=ADMIN_TOKEN)
    return runner.run(RunRequest(definition=definition, today=TODAY, **request))


def csv_rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def html_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def text_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def attachment(message: EmailMessage, suffix: str) -> bytes:
    for part in message.iter_attachments():
        if (part.get_filename() or "").endswith(suffix):
            return bytes(part.get_payload(decode=True))
    raise AssertionError(f"no {suffix} attachment")


def entries_between(dataset: Any, start: str, end: str) -> list[dict[str, Any]]:
    return [entry for entry in dataset.time if start <= str(entry["date"]) <= end]


def number(text: str) -> Decimal:
    return Decimal(text.replace("\u2212", "-").replace(",", ""))


# --- sections, subtotals and bars ---------------------------------------------------------------------------------


def sections_of(page: str) -> list[tuple[str, int, list[Decimal], list[list[Decimal]]]]:
    """Each section of the summary table: name, row count, subtotal cells, and the cells of the rows it shows."""
    found: list[tuple[str, int, list[Decimal], list[list[Decimal]]]] = []
    for match in re.finditer(
        r'<tr data-section="([^"]*)" data-rows="(\d+)"[^>]*>(.*?)</tr>(.*?)(?=<tr data-section|<tr style)', page, re.S
    ):
        name, size, heading, rest = html.unescape(match.group(1)), int(match.group(2)), match.group(3), match.group(4)
        subtotals = [number(cell) for cell in re.findall(r'<td align="right"[^>]*>([^<]*)</td>', heading)]
        rows = [
            [number(cell) for cell in re.findall(r'<td align="right"[^>]*>([^<]*)</td>', row)]
            for row in re.findall(r'<tr data-row="1">(.*?)</tr>', rest, re.S)
        ]
        found.append((name, size, subtotals, rows))
    return found


def test_each_section_subtotal_is_the_sum_of_its_rows_and_each_bar_is_its_share(
    aws: Any, simulator: Any, dataset: Any
) -> None:
    # Given a two-level weekly report (project, then person)
    outcome = run(aws, simulator, weekly())
    [message] = aws.sent_messages()
    page = html_part(message)
    rows = csv_rows(outcome.csv)[:-1]  # without the TOTAL row

    # Then the email has a section per project, the largest first (as the bars are; equal ones in the CSV's order),
    # whose subtotals are the sums of the CSV's rows of that project (every row, also those the email leaves to the
    # attachment)
    by_project: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        by_project[row["project_id"]].append(row)

    def hours_of(members: list[dict[str, str]]) -> Decimal:
        return sum((Decimal(row["incurred_hours"]) for row in members), Decimal(0))

    largest_first = sorted(by_project.values(), key=lambda members: -hours_of(members))
    sections = sections_of(page)
    assert len(sections) == len(by_project) > 5
    total = sum((Decimal(row["incurred_hours"]) for row in rows), Decimal(0))
    shares: dict[str, Decimal] = {}
    for (name, size, subtotals, shown), members in zip(sections, largest_first, strict=True):
        assert name.startswith(members[0]["project_name"])
        assert size == len(members)
        hours = sum((Decimal(row["incurred_hours"]) for row in members), Decimal(0))
        billable = sum((Decimal(row["billable_hours"]) for row in members), Decimal(0))
        assert subtotals[:2] == [hours, billable]
        # and the rows it shows are that project's largest (the people who logged the most time on it)
        most = sorted((Decimal(row["incurred_hours"]) for row in members), reverse=True)
        assert [cells[0] for cells in shown] == most[: len(shown)]
        shares[name] = (hours / total * 100).quantize(Decimal("0.1"), ROUND_HALF_UP)
        if len(shown) == len(members):
            assert sum((cells[0] for cells in shown), Decimal(0)) == subtotals[0]
    # and each bar's width is its group's share of the total hours, the widths adding up to about 100%
    bars = dict(re.findall(r'<tr data-group="([^"]*)">.*?data-bar="([\d.]+)"', page, re.S))
    assert {html.unescape(name): Decimal(width) for name, width in bars.items()} == {
        name: share for name, share in shares.items() if share > 0
    }
    assert abs(sum(shares.values()) - 100) <= Decimal("0.1") * len(shares)
    # and the bars are drawn with table cells and inline CSS only
    assert not re.search(r"<(img|svg|script|style)\b", page, re.I)
    # and the period, its time zone, the week start and the data's "as of" time are printed, in both parts
    for part in (page, text_part(message)):
        assert "2026-11-16 to 2026-11-22" in part
        assert "Time zone Europe/Berlin; weeks start on Monday" in part
        assert re.search(r"Data as of \d{4}-\d\d-\d\d \d\d:\d\d CET", part)
    # and the text part has the same sections and subtotals
    text = text_part(message)
    first_name, _, first_subtotals, _ = sections[0]
    assert re.search(rf"^{re.escape(first_name[:28])}\s+{first_subtotals[0]}\s+{first_subtotals[1]}", text, re.M)


# --- the previous period ------------------------------------------------------------------------------------------


def test_the_previous_period_equals_an_independent_sum_of_the_week_before(
    aws: Any, simulator: Any, dataset: Any
) -> None:
    # Given the weekly report with `compare: previous`
    outcome = run(aws, simulator, weekly(compare="previous"))
    [message] = aws.sent_messages()
    page, text = html_part(message), text_part(message)

    # Then the totals are compared with the hours of the week before, summed straight from the data set
    before = entries_between(dataset, *WEEK_BEFORE)
    now = entries_between(dataset, *WEEK)
    previous_total = sum((Decimal(str(entry["time"])) for entry in before), Decimal(0))
    current_total = sum((Decimal(str(entry["time"])) for entry in now), Decimal(0))
    delta = current_total - previous_total
    percent = (abs(delta) / previous_total * 100).quantize(Decimal("0.1"), ROUND_HALF_UP)
    sign = "+" if delta >= 0 else "\u2212"
    sentence = (
        f"Previous period, 2026-11-09 to 2026-11-15: hours incurred {previous_total:.2f}; "
        f"change {sign}{abs(delta):.2f} ({sign}{percent}%)."
    )
    assert sentence in html.unescape(page)
    assert sentence in text
    # and each project's change is its hours now less its hours the week before
    hours_before: dict[int, Decimal] = defaultdict(Decimal)
    for entry in before:
        hours_before[entry["projectid"]] += Decimal(str(entry["time"]))
    rows = csv_rows(outcome.csv)[:-1]
    hours_now: dict[int, Decimal] = defaultdict(Decimal)
    for row in rows:
        hours_now[int(row["project_id"])] += Decimal(row["incurred_hours"])
    changes = outcome.record  # the run went through
    assert changes.status == "delivered"
    shown = {
        html.unescape(name): number(value)
        for name, value in re.findall(
            r'<tr data-group="([^"]*)">.*?<span style="[^"]*">([+\u2212][\d.,]+) ', page, re.S
        )
    }
    names = {int(row["project_id"]): row["project_name"] for row in rows}
    duplicated = {name for name in names.values() if list(names.values()).count(name) > 1}
    for project_id, hours in hours_now.items():
        name = f"{names[project_id]} (#{project_id})" if names[project_id] in duplicated else names[project_id]
        assert shown[name] == hours - hours_before.get(project_id, Decimal(0)), name
    # and it cost a second pull, through the same client and ledger
    assert outcome.record.api_requests >= 2


def test_a_months_report_is_compared_with_the_whole_month_before(aws: Any, simulator: Any, dataset: Any) -> None:
    # Given last month's report (November, 30 days) with `compare: previous`, run on 1 December
    definition = weekly(compare="previous", time_frame="last_month")
    runner = build_runner(aws.settings, api_url=simulator.url, token=ADMIN_TOKEN)
    runner.run(RunRequest(definition=definition, today=date(2026, 12, 1)))
    [message] = aws.sent_messages()
    # Then it is compared with October, all 31 days of it, summed straight from the data set
    october = sum(
        (Decimal(str(entry["time"])) for entry in entries_between(dataset, "2026-10-01", "2026-10-31")), Decimal(0)
    )
    text = text_part(message)
    assert f"Previous period, 2026-10-01 to 2026-10-31: hours incurred {october:.2f};" in text


# --- the entry view -----------------------------------------------------------------------------------------------

# The data set's descriptions (HTML, entities, line breaks, a would-be formula) as a reader must get them.
READABLE_DESCRIPTIONS = {
    "": "",
    "Daily work": "Daily work",
    "Fixed <b>login</b> bug": "Fixed login bug",
    "<p>Call with client &amp; follow-up</p>": "Call with client & follow-up",
    'Reviewed "spec" v2': 'Reviewed "spec" v2',
    "Café meeting with the team": "Café meeting with the team",
    "Deploy <script>alert(1)</script> checked": "Deploy checked",
    "Line one\nLine two": "Line one\nLine two",
    "=1+1 looks like a formula": "'=1+1 looks like a formula",
}


def test_the_entry_view_lists_the_simulators_entries_with_readable_descriptions(
    aws: Any, simulator: Any, dataset: Any
) -> None:
    # Given a time_entries report grouped by client
    definition = weekly(view="time_entries", group_by=["client"])

    # When it runs
    outcome = run(aws, simulator, definition)

    # Then the CSV has one row per entry of the week, sorted by client (time without a client last) then date, each
    # field from the data set
    rows = csv_rows(outcome.csv)
    total, rows = rows[-1], rows[:-1]
    expected = sorted(
        entries_between(dataset, *WEEK),
        key=lambda e: (e["clientid"] is None, e["clientid"] or 0, e["date"], e["id"]),
    )
    assert [int(row["entry_id"]) for row in rows] == [entry["id"] for entry in expected]
    assert list(rows[0]) == [
        "entry_id", "date", "user_id", "user_name", "client_id", "client_name", "project_id", "project_name",
        "task_id", "task_name", "worktype_id", "worktype_name", "description", "hours", "billable", "amount",
    ]  # fmt: skip
    for row, entry in zip(rows, expected, strict=True):
        assert row["date"] == str(entry["date"])
        assert row["user_name"] == entry["person"]
        assert row["project_name"] == entry["project"]
        assert row["client_name"].lstrip("'") == (entry["client"] or "No client")
        assert row["description"] == READABLE_DESCRIPTIONS[entry["description"]]
        assert Decimal(row["hours"]) == Decimal(str(entry["time"]))
        assert row["billable"] == ("true" if entry["billable"] else "false")
        amount = Decimal(str(entry["time"])) * Decimal(str(entry["hourlyrate"] or 0)) if entry["billable"] else 0
        assert Decimal(row["amount"]) == Decimal(amount).quantize(CENT, ROUND_HALF_UP)
    assert total["entry_id"] == "TOTAL"
    assert Decimal(total["hours"]) == sum((Decimal(str(entry["time"])) for entry in expected), Decimal(0))
    # and a multi-line description stays one quoted cell of the CSV
    assert b'"Line one\nLine two"' in outcome.csv
    # and the email shows each client's first entries and says how many more the attachment holds
    [message] = aws.sent_messages()
    page = html_part(message)
    per_client: dict[int | None, int] = defaultdict(int)
    for entry in expected:
        per_client[entry["clientid"]] += 1
    hidden = [count - 5 for count in per_client.values() if count > 5]
    assert hidden, "the week has a client with more than five entries"
    mores = [int(count) for count in re.findall(r"(\d+) (?:entry|entries) more of ", page)]
    assert sorted(mores) == sorted(hidden)
    assert "<script>alert(1)" not in page


# --- private slices -----------------------------------------------------------------------------------------------


def everything_readable(raw: bytes, message: EmailMessage) -> str:
    """All a recipient can read of a message: decoded headers, both parts (HTML unescaped) and each attachment (the
    CSV's text, the workbook's XML unescaped), plus the raw bytes."""
    texts = [raw.decode("utf-8", "replace"), *(f"{name}: {value}" for name, value in message.items())]
    for part in message.walk():
        if part.is_multipart():
            continue
        content = part.get_content()
        if isinstance(content, str):
            texts.append(html.unescape(content))
        elif (part.get_filename() or "").endswith(".xlsx"):
            with zipfile.ZipFile(io.BytesIO(content)) as workbook:
                texts += [html.unescape(workbook.read(name).decode("utf-8")) for name in workbook.namelist()]
        else:
            texts.append(content.decode("utf-8-sig"))
    return "\n".join(texts)


def test_each_slice_gets_only_its_own_rows_and_names_no_other_client(
    aws: Any, simulator: Any, dataset: Any, tmp_path: Path
) -> None:
    # Given a report split by client: one slice named by name, one by id, one listed without recipients
    clients = {client["id"]: client["name"] for client in dataset.clients}
    week = entries_between(dataset, *WEEK)
    busy = sorted({entry["clientid"] for entry in week if entry["clientid"]})
    mango, by_id, silent = busy[0], busy[1], busy[2]
    # and a filter naming another client (one without time that week, so that no total changes)
    idle = next(client_id for client_id in clients if client_id not in busy)
    definition = weekly(
        filters={"client": {"operation": "exclusion", "values": [clients[idle]]}},
        delivery={
            "split": {
                "by": "client",
                "to": {clients[mango]: ["pm@mango.example"], str(by_id): ["cfo@client.example"], clients[silent]: []},
            }
        },
    )

    # When it runs
    outcome = run(aws, simulator, definition, scheduled_at=datetime(2026, 11, 23, 6, 0, tzinfo=UTC))

    # Then three messages went out: the whole report to delivery.to, and one per slice with recipients
    raws = aws.sent_emails()
    messages = aws.sent_messages()
    recipients = [str(message["To"]) for message in messages]
    assert sorted(recipients) == ["cfo@client.example", "ops@example.com", "pm@mango.example"]
    for raw, message in zip(raws, messages, strict=True):
        to = str(message["To"])
        if to == "ops@example.com":
            continue
        own = mango if to == "pm@mango.example" else by_id
        readable = everything_readable(raw, message)
        # nothing of another client anywhere: body, subject, headers, attachments
        for client_id, name in clients.items():
            if client_id != own:
                assert name not in readable, (clients[own], name)
        assert clients[own] in str(message["Subject"])
        # and its CSV holds exactly that client's hours, its TOTAL their sum
        rows = csv_rows(attachment(message, ".csv"))
        own_hours = sum((Decimal(str(e["time"])) for e in week if e["clientid"] == own), Decimal(0))
        assert Decimal(rows[-1]["incurred_hours"]) == own_hours
        assert sum((Decimal(row["incurred_hours"]) for row in rows[:-1]), Decimal(0)) == own_hours
    # and the whole report still has every client's hours, and says what it leaves out (the slices do not: their
    # filter would name another client)
    whole = next(m for m in messages if str(m["To"]) == "ops@example.com")
    assert f"Filters: Client is not {clients[idle]}" in text_part(whole)
    assert Decimal(csv_rows(attachment(whole, ".csv"))[-1]["incurred_hours"]) == sum(
        (Decimal(str(e["time"])) for e in week), Decimal(0)
    )
    # and each slice's files are archived under their own keys, the silent slice's too
    keys = {item["Key"] for item in aws.s3.list_objects_v2(Bucket=aws.settings.reports_bucket)["Contents"]}
    folder = "reports/weekly-readable/2026-11-16_2026-11-22"
    slugs = {part for part in outcome.slice_files}
    assert len(slugs) == 3
    for slug in slugs:
        assert f"{folder}/slices/{slug}/weekly-readable--{slug}_2026-11-16_2026-11-22.csv" in keys
        assert f"{folder}/slices/{slug}/weekly-readable--{slug}_2026-11-16_2026-11-22.xlsx" in keys
    # and the history records each message
    [record] = build_run_history(aws.settings).last_runs("weekly-readable", 1)
    assert [(m.part, m.status, m.recipients) for m in record.messages] == [
        (None, "sent", 1),
        (outcome.email_parts[1], "sent", 1),
        (outcome.email_parts[2], "sent", 1),
    ]
    # and --out holds one .eml per message: <id>.eml, <id>--<slice>.eml
    write_outcome(tmp_path, "weekly-readable", outcome)
    emls = sorted(path.name for path in tmp_path.glob("*.eml"))
    assert emls == sorted(
        ["weekly-readable.eml", *(f"weekly-readable--{part}.eml" for part in outcome.email_parts[1:])]
    )
    assert (tmp_path / "weekly-readable.xlsx").exists()


# --- exactly once per message -------------------------------------------------------------------------------------


class DyingMailer:
    """SES, in a process that dies right after its first message (a Lambda timeout between two sends)."""

    def __init__(self, mailer: SesMailer) -> None:
        self._mailer = mailer
        self.sent = 0

    def send(self, raw_message: bytes, *, sender: str, destinations: list[str]) -> str:
        if self.sent == 1:
            raise SystemError("the Lambda's time ran out")
        self.sent += 1
        return self._mailer.send(raw_message, sender=sender, destinations=destinations)


def runner_with(aws: Any, simulator: Any, mailer: Any) -> ReportRunner:
    account = aws.settings.account("default", api_url=simulator.url)
    ledger = build_ledger(aws.settings, account)
    return ReportRunner(
        client=build_client(aws.settings, account, ledger, token=ADMIN_TOKEN),
        ledger=ledger,
        archive=S3Archive(aws.settings.reports_bucket, aws.s3),
        mailer=mailer,
        history=build_run_history(aws.settings),
        options=DeliveryOptions(sender=aws.settings.sender_email),
        once=build_once(aws.settings),
        claims=DynamoDBMessageClaims(aws.settings.state_table, aws.dynamodb),
    )


def test_a_retried_run_sends_no_message_twice_slices_included(aws: Any, simulator: Any, dataset: Any) -> None:
    # Given a split report whose first attempt dies after its first message
    clients = {client["id"]: client["name"] for client in dataset.clients}
    busy = sorted({entry["clientid"] for entry in entries_between(dataset, *WEEK) if entry["clientid"]})
    definition = weekly(
        delivery={
            "split": {
                "by": "client",
                "to": {clients[busy[0]]: ["a@client.example"], clients[busy[1]]: ["b@client.example"]},
            }
        }
    )
    request = RunRequest(definition=definition, today=TODAY, scheduled_at=datetime(2026, 11, 23, 6, 0, tzinfo=UTC))
    with pytest.raises(SystemError):
        runner_with(aws, simulator, DyingMailer(SesMailer(aws.sesv2))).run(request)
    assert len(aws.sent_emails()) == 1

    # When the run is retried (SQS redelivers it) and then asked once more
    retried = runner_with(aws, simulator, SesMailer(aws.sesv2)).run(request)
    again = runner_with(aws, simulator, SesMailer(aws.sesv2)).run(request)

    # Then every message went out exactly once: the retry sent the two the first attempt did not
    recipients = sorted(str(message["To"]) for message in aws.sent_messages())
    assert recipients == ["a@client.example", "b@client.example", "ops@example.com"]
    assert [m.status for m in retried.record.messages] == ["already_sent", "sent", "sent"]
    assert retried.record.status == "delivered"
    assert again.record.status == "already_delivered"
