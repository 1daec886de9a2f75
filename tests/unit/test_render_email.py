"""The email renderer: messages parsed back as a mail client would, recipients, modes, safety and sizes."""

from __future__ import annotations

import gzip
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage, Message
from email.utils import parsedate_to_datetime

import pytest

from timereports.engine.views import HOUR_COLUMNS as HOURS_COLUMNS
from timereports.errors import DefinitionError
from timereports.models.report import Cell, Period, ReportTable
from timereports.models.vocabulary import DEFAULT_SUBJECT
from timereports.render.addressing import Addressing, sender_address, split_recipients
from timereports.render.csv import format_cell, render_csv
from timereports.render.email import (
    MESSAGE_ALLOWANCE_BYTES,
    OutgoingEmail,
    base64_size,
    build_empty_notice,
    build_messages,
    choose_attachment_mode,
    gzip_csv,
    message_size,
)
from timereports.render.email_body import CsvLink, attachment_filename
from timereports.render.email_cells import aligned, display_columns, display_value, display_width

SENT_AT = datetime(2026, 5, 11, 7, 0, tzinfo=UTC)
SENDER = "Timereports <reports@example.com>"


def report_table(row_count: int = 3, *, title: str = "Heures par projet — équipe Zoë", names: list[str] | None = None):
    """A `time_fees_hours` table grouped by project and person, with `row_count` rows."""
    names = names or ["Zoë Ämtmann", "Jean-François Lefèvre", "Ana"]
    rows: list[dict[str, Cell]] = [
        {
            "project_id": 10 + index % 3,
            "project_name": f"Project {index % 3}",
            "user_id": index,
            "user_name": names[index % len(names)],
            "incurred_hours": Decimal("7.125") + index,
            "billable_hours": Decimal("5.5"),
            "nonbillable_hours": Decimal("1.625") + index,
            "entries": 2,
        }
        for index in range(row_count)
    ]
    return ReportTable(
        report_id="weekly-hours",
        title=title,
        view="time_fees_hours",
        period=Period(date(2026, 5, 4), date(2026, 5, 10)),
        group_by=("project_id", "user_id"),
        columns=("project_id", "project_name", "user_id", "user_name", *HOURS_COLUMNS),
        metric_columns=HOURS_COLUMNS,
        rows=rows,
        totals={
            "incurred_hours": sum((Decimal(str(row["incurred_hours"])) for row in rows), Decimal(0)),
            "billable_hours": Decimal("5.5") * row_count,
            "nonbillable_hours": sum((Decimal(str(row["nonbillable_hours"])) for row in rows), Decimal(0)),
            "entries": 2 * row_count,
        },
        entries=2 * row_count,
    )


def parsed(outgoing: OutgoingEmail) -> EmailMessage:
    """The message as a receiving client sees it: parsed back from the raw bytes SES would send."""
    message = message_from_bytes(outgoing.as_bytes(), policy=email_policy.default)
    assert isinstance(message, EmailMessage)
    return message


def body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")  # the wire has CRLF; compare text as a client shows it


def attachments(message: EmailMessage) -> list[Message]:
    return list(message.iter_attachments())


def build(table: ReportTable | None = None, **overrides: object) -> list[OutgoingEmail]:
    table = table or report_table()
    recipients = {"to": ["ops@example.com"], "cc": ["Zoë Ämtmann <zoe@example.com>"], "bcc": ["boss@example.com"]}
    for field in ("to", "cc", "bcc"):
        if field in overrides:
            recipients[field] = overrides.pop(field)  # type: ignore[assignment]
    subject = str(overrides.pop("subject_template", DEFAULT_SUBJECT))
    arguments: dict[str, object] = {"sender": SENDER, "sent_at": SENT_AT, **overrides}
    addressing = Addressing(**recipients, subject=subject)
    return build_messages(table, render_csv(table), addressing=addressing, **arguments)  # type: ignore[arg-type]


# --- headers and recipients --------------------------------------------------------------------------------------


def test_headers_parse_back_with_accents_and_without_bcc() -> None:
    # Given a report with an accented title, To, Cc (with an accented name) and Bcc
    # When the message is built and parsed back
    [outgoing] = build()
    message = parsed(outgoing)

    # Then a mail client sees the right From, To, Cc and Subject, and no Bcc anywhere in the headers
    assert message["From"].addresses[0].addr_spec == "reports@example.com"
    assert [address.addr_spec for address in message["To"].addresses] == ["ops@example.com"]
    assert message["Cc"].addresses[0].display_name == "Zoë Ämtmann"
    assert str(message["Subject"]) == "Heures par projet — équipe Zoë, 2026-05-04 to 2026-05-10"
    assert message["Bcc"] is None
    assert b"boss@example.com" not in outgoing.as_bytes()
    # and the envelope still delivers to the Bcc recipient
    assert outgoing.destinations == ("ops@example.com", "zoe@example.com", "boss@example.com")
    # and the raw headers are pure ASCII (encoded words), with CRLF line ends
    raw_head = outgoing.as_bytes().split(b"\r\n\r\n", 1)[0]
    assert raw_head.isascii()
    assert b"\n" not in raw_head.replace(b"\r\n", b"")


def test_date_message_id_and_automation_headers() -> None:
    # When the same run is built twice
    first, second = parsed(build()[0]), parsed(build()[0])

    # Then Date is the send time, the Message-ID is stable for the same run, and the mail says it is automated
    assert parsedate_to_datetime(str(first["Date"])) == SENT_AT
    assert first["Message-ID"] == second["Message-ID"]
    assert str(first["Message-ID"]).endswith("@example.com>")
    assert first["Auto-Submitted"] == "auto-generated"


def test_120_recipients_make_3_complete_messages_covering_each_exactly_once() -> None:
    # Given 60 To, 30 Cc and 30 Bcc recipients
    to = [f"to{index}@example.com" for index in range(60)]
    cc = [f"cc{index}@example.com" for index in range(30)]
    bcc = [f"bcc{index}@example.net" for index in range(30)]

    # When the messages are built
    outgoing = build(to=to, cc=cc, bcc=bcc)

    # Then there are 3 messages of at most 50 destinations, covering everyone exactly once
    assert [len(item.destinations) for item in outgoing] == [50, 50, 20]
    everyone = [address for item in outgoing for address in item.destinations]
    assert sorted(everyone) == sorted(to + cc + bcc)
    message_ids = set()
    for item in outgoing:
        message = parsed(item)
        # each message is complete: both bodies and the CSV
        assert body(message, "plain")
        assert body(message, "html")
        assert len(attachments(message)) == 1
        # headers list only this message's own To and Cc, never a Bcc address
        header_addresses = [a.addr_spec for name in ("To", "Cc") if message[name] for a in message[name].addresses]
        assert set(header_addresses) <= set(item.destinations)
        assert not any(address.endswith("@example.net") for address in header_addresses)
        assert b"@example.net" not in item.as_bytes()
        message_ids.add(str(message["Message-ID"]))
    assert len(message_ids) == 3


def test_a_batch_of_bcc_recipients_only_has_an_undisclosed_to() -> None:
    # Given only Bcc recipients
    [outgoing] = build(to=[], cc=[], bcc=["a@example.com", "b@example.com"])

    # When parsed
    message = parsed(outgoing)

    # Then To is the empty group and the envelope has both
    assert str(message["To"]) == "undisclosed-recipients:;"
    assert outgoing.destinations == ("a@example.com", "b@example.com")


def test_an_address_in_several_fields_receives_one_copy() -> None:
    batches = split_recipients(["A@example.com"], ["a@example.com"], ["a@EXAMPLE.com", "b@example.com"])
    assert [batch.destinations for batch in batches] == [("A@example.com", "b@example.com")]


def test_no_recipient_is_refused() -> None:
    with pytest.raises(DefinitionError, match="at least one recipient"):
        build(to=[], cc=[], bcc=[])


def test_an_accented_domain_is_sent_in_its_ascii_form() -> None:
    [outgoing] = build(to=["info@bücher.example"], cc=[], bcc=[])
    assert outgoing.destinations == ("info@xn--bcher-kva.example",)


@pytest.mark.parametrize(
    "field",
    ["to", "cc", "bcc", "sender"],
)
@pytest.mark.parametrize("line_break", ["\r\n", "\n", "\r"])
def test_a_line_break_in_an_address_is_refused(field: str, line_break: str) -> None:
    # Given an address carrying an injected header
    evil = f"victim@example.com{line_break}Bcc: everyone@example.org"
    overrides: dict[str, object] = {field: evil if field == "sender" else [evil]}

    # When building, Then it is refused before any message exists
    with pytest.raises(DefinitionError, match="line break"):
        build(**overrides)


@pytest.mark.parametrize("line_break", ["\r\n", "\n", "\r"])
def test_a_line_break_in_the_subject_or_title_is_refused(line_break: str) -> None:
    with pytest.raises(DefinitionError, match="line break"):
        build(subject_template=f"Report{line_break}Bcc: x@example.org")
    with pytest.raises(DefinitionError, match="line break"):
        build(report_table(title=f"Hours{line_break}Bcc: x@example.org"))


@pytest.mark.parametrize(
    "address", ["not an address", "a@example.com, b@example.com", "@example.com", "x@", "zoë@x.de"]
)
def test_an_invalid_address_is_refused(address: str) -> None:
    with pytest.raises(DefinitionError):
        build(to=[address])


@pytest.mark.parametrize("line_break", ["\r\n", "\n", "\r", "\u2028"])
def test_a_line_break_in_a_slice_name_from_intervals_is_shown_on_one_line(line_break: str) -> None:
    # Given a slice whose name, as Intervals has it, carries a line break (a client named in two lines)
    table = replace(report_table(), slice_label=f"Mango{line_break}Bcc: x@example.org", slice_slug="mango")
    # When its message is built, with the name in the template or after it
    for template in ("Hours for {slice}", "Hours"):
        [outgoing] = build(table, subject_template=template)
        subject = str(parsed(outgoing)["Subject"])
        # Then the subject is one line with the name in it, and no header was added
        assert subject.endswith("Mango Bcc: x@example.org"), subject
        assert parsed(outgoing)["Bcc"] is None


def test_the_subject_template_fills_known_fields_only() -> None:
    [outgoing] = build(subject_template="[{report_id}] {title} {{{from}..{to}}}")
    assert str(parsed(outgoing)["Subject"]) == "[weekly-hours] Heures par projet — équipe Zoë {2026-05-04..2026-05-10}"
    for template in ("{title.__class__}", "{secret}", "{title!r}", "{title:>99}", "{title"):
        with pytest.raises(DefinitionError, match="subject"):
            build(subject_template=template)


# --- parts and attachment modes ----------------------------------------------------------------------------------


def test_attachment_mode_carries_the_exact_csv() -> None:
    # Given a report and its CSV
    table = report_table()
    csv_bytes = render_csv(table)

    # When sent as an attachment
    message = parsed(build(table)[0])

    # Then it is multipart/mixed: the alternative bodies first, then the CSV with its name and charset
    assert message.get_content_type() == "multipart/mixed"
    first = next(message.iter_parts())
    assert first.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in first.iter_parts()] == ["text/plain", "text/html"]
    [attachment] = attachments(message)
    assert attachment.get_content_type() == "text/csv"
    assert attachment.get_param("charset") == "utf-8"
    assert attachment.get_filename() == "weekly-hours_2026-05-04_2026-05-10.csv"
    assert attachment.get_payload(decode=True) == csv_bytes


def test_gzip_mode_round_trips_to_the_csv() -> None:
    table = report_table()
    message = parsed(build(table, mode="gzip")[0])
    [attachment] = attachments(message)
    assert attachment.get_content_type() == "application/gzip"
    assert attachment.get_filename() == "weekly-hours_2026-05-04_2026-05-10.csv.gz"
    payload = attachment.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert gzip.decompress(payload) == render_csv(table)
    assert gzip_csv(b"same") == gzip_csv(b"same")  # reproducible: no timestamp inside


def test_link_mode_has_no_attachment_and_the_link_in_both_bodies() -> None:
    # Given a presigned link with an expiry
    link = CsvLink(
        url="https://bucket.s3.amazonaws.com/reports/weekly.csv?X-Amz-Signature=abc&X-Amz-Expires=604800",
        expires_at=datetime(2026, 5, 18, 9, 30, tzinfo=timezone(timedelta(hours=2))),
    )

    # When sent as a link
    message = parsed(build(mode="link", link=link)[0])

    # Then there is no attachment, and both bodies give the link and its expiry in UTC
    assert attachments(message) == []
    assert message.get_content_type() == "multipart/alternative"
    text, page = body(message, "plain"), body(message, "html")
    assert link.url in text
    assert (
        'href="https://bucket.s3.amazonaws.com/reports/weekly.csv?X-Amz-Signature=abc&amp;X-Amz-Expires=604800"' in page
    )
    assert "2026-05-18 07:30 UTC" in text
    assert "2026-05-18 07:30 UTC" in page


def test_link_mode_links_the_workbook_beside_the_csv_and_attaches_neither() -> None:
    # Given a report with a workbook, sent as links (the CSV's and the workbook's presigned URLs)
    csv_url = "https://bucket.s3.eu-west-1.amazonaws.com/reports/weekly.csv?X-Amz-Signature=abc"
    workbook_url = "https://bucket.s3.eu-west-1.amazonaws.com/reports/weekly.xlsx?X-Amz-Signature=def"

    # When the message is built with the workbook's bytes and both links
    message = parsed(
        build(mode="link", link=csv_url, link_expires_in=3600, workbook_link=workbook_url, xlsx=b"PK-workbook")[0]
    )

    # Then nothing is attached, and both bodies offer both downloads
    assert attachments(message) == []
    text, page = body(message, "plain"), body(message, "html")
    assert f"Download the CSV: {csv_url}" in text
    assert f"Download the workbook (Excel): {workbook_url}" in text
    assert page.count('href="https://bucket.s3.eu-west-1.amazonaws.com/reports/weekly.') == 2
    assert ">Download the workbook</a>" in page
    # And a workbook link is held to the CSV link's rules
    with pytest.raises(ValueError, match="http"):
        build(mode="link", link=csv_url, workbook_link="javascript:alert(1)")


def test_a_link_given_as_a_url_expires_the_given_seconds_after_sending() -> None:
    # Given a presigned URL and its lifetime in seconds, as the S3 archive hands them out
    url = "http://127.0.0.1:5000/bucket/weekly.csv?X-Amz-Expires=21600"

    # When sent as a link
    message = parsed(build(mode="link", link=url, link_expires_in=6 * 3600)[0])

    # Then the latest expiry is the send time plus that lifetime, in both bodies (the signing credentials may
    # lapse sooner, which the sentence admits)
    assert "until 2026-05-11 13:00 UTC at the latest" in body(message, "plain")
    assert "until 2026-05-11 13:00 UTC at the latest" in body(message, "html")
    assert attachments(message) == []


def test_link_mode_needs_a_safe_link() -> None:
    with pytest.raises(ValueError, match="link"):
        build(mode="link")
    with pytest.raises(ValueError, match="http"):
        build(mode="link", link=CsvLink(url="javascript:alert(1)", expires_at=SENT_AT))
    with pytest.raises(DefinitionError, match="attachment mode"):
        build(mode="inline")


# --- bodies ------------------------------------------------------------------------------------------------------


def test_html_escapes_what_users_typed() -> None:
    # Given a person and a title that contain markup
    table = report_table(title="<b>Hours</b> & more", names=["<script>alert('x')</script>", 'Ana "A" <ana>'])

    # When rendered
    page = body(parsed(build(table)[0]), "html")

    # Then the markup arrives as text, never as tags
    assert "<script>" not in page
    assert "<b>Hours" not in page
    assert "<ana>" not in page
    assert "&lt;script&gt;" in page
    assert "&lt;b&gt;Hours&lt;/b&gt; &amp; more" in page


def test_html_is_built_for_phones_and_strict_clients() -> None:
    page = body(parsed(build(report_table(25))[0]), "html")
    # inline CSS only: Gmail and Outlook drop <style> blocks in places
    assert "<style" not in page
    assert "<link" not in page
    # nothing visible smaller than 14 px (the hidden preheader is 1 px on purpose)
    sizes = [int(size) for size in re.findall(r"font-size:(\d+)px", page)]
    assert sizes.count(1) == 1
    assert min(size for size in sizes if size != 1) >= 14
    assert 'name="viewport"' in page
    assert "overflow-x:auto" in page


def test_the_summary_shows_the_first_20_rows_and_says_how_many_more() -> None:
    # Given 27 rows
    table = report_table(27)

    # When rendered
    message = parsed(build(table)[0])
    page, text = body(message, "html"), body(message, "plain")

    # Then 20 rows plus header and total rows are shown, and both bodies say where the other 7 are
    assert page.count("\n<tr><td") == 21
    assert "first 20 of 27 rows" in page
    assert "first 20 of 27 rows" in text
    assert "weekly-hours_2026-05-04_2026-05-10.csv" in text


def test_the_text_part_carries_the_same_facts() -> None:
    text = body(parsed(build(report_table(3))[0]), "plain")
    assert "Heures par projet — équipe Zoë" in text
    assert "2026-05-04 to 2026-05-10 (7 days)" in text
    assert "3 rows from 6 time entries." in text
    # totals: 7.125 + 8.125 + 9.125 = 24.375 -> 24.38 (half-up), billable 16.50, 6 entries
    assert re.search(r"Hours incurred\s+24\.38", text)
    assert re.search(r"Billable hours\s+16\.50", text)
    assert re.search(r"Total\s.*24\.38\s+16\.50\s+7\.88\s+6$", text, re.MULTILINE)
    assert "Jean-François Lefèvre" in text


# --- empty periods -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("builder", ["build_messages", "build_empty_notice"])
def test_an_empty_period_gets_a_short_notice_without_attachment(builder: str) -> None:
    # Given a report with no rows
    table = report_table(0)

    # When its email is built (explicitly as a notice, or through build_messages)
    if builder == "build_messages":
        outgoing = build(table)
    else:
        outgoing = build_empty_notice(
            table,
            sender=SENDER,
            addressing=Addressing(to=["ops@example.com"], bcc=["boss@example.com"]),
            sent_at=SENT_AT,
        )

    # Then it says no time was logged, in both bodies, and carries no attachment
    message = parsed(outgoing[0])
    assert attachments(message) == []
    assert message.get_content_type() == "multipart/alternative"
    sentence = "No time was logged for Heures par projet — équipe Zoë from 2026-05-04 to 2026-05-10."
    assert sentence in body(message, "plain")
    assert sentence in body(message, "html")
    assert "boss@example.com" in outgoing[0].destinations


# --- sizes -------------------------------------------------------------------------------------------------------

MB = 1024 * 1024


@pytest.mark.parametrize(
    ("csv_size", "limit", "preference", "gzipped_size", "expected"),
    [
        (100_000, 10 * MB, "attachment", None, "attachment"),
        (7 * MB, 10 * MB, "attachment", 1 * MB, "gzip"),  # 7 MB -> 9.6 MB in base64: no room for the bodies
        (6 * MB, 10 * MB, "attachment", 1 * MB, "attachment"),  # 6 MB -> 8.2 MB in base64: fits with them
        (8 * MB, 10 * MB, "attachment", 1 * MB, "gzip"),  # 8 MB -> 11 MB in base64: too big for 10 MB
        (8 * MB, 10 * MB, "attachment", 9 * MB, "link"),  # gzip does not help enough
        (8 * MB, 10 * MB, "attachment", None, "link"),  # gzip size unknown: not considered
        (8 * MB, 20 * MB, "attachment", None, "attachment"),
        (35 * MB, 100 * MB, "attachment", 5 * MB, "gzip"),  # capped at SES's 40 MB
        (100, 10 * MB, "gzip", 50, "gzip"),
        (100_000, 10 * MB, "auto", None, "attachment"),
        (8 * MB, 10 * MB, "auto", 1 * MB, "gzip"),
        (100, 10 * MB, "link", 50, "link"),
    ],
)
def test_choose_attachment_mode(csv_size: int, limit: int, preference: str, gzipped_size: int | None, expected: str):
    assert choose_attachment_mode(csv_size, limit, preference, gzipped_size=gzipped_size) == expected


def test_message_size_and_the_allowance_for_everything_but_the_attachment() -> None:
    # Given a full summary (20 rows of long names) sent to 50 recipients
    long_names = ["Maximiliane Alexandrina von Hohenzollern-Sigmaringen " * 2, "Ана Ёлкина-Щербакова"]
    table = report_table(40, title="A long title " * 10, names=long_names)
    to = [f"person.with.a.long.address.{index}@departments.example.com" for index in range(50)]
    [outgoing] = build(table, to=to, cc=[], bcc=[])

    # When measured
    size = message_size(outgoing)

    # Then message_size is the raw size, and everything but the base64 CSV fits the allowance the mode chooser keeps
    assert size == len(outgoing.as_bytes()) == message_size(outgoing.message)
    overhead = size - base64_size(len(render_csv(table)))
    assert 0 < overhead < MESSAGE_ALLOWANCE_BYTES


def test_naive_send_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build(sent_at=datetime(2026, 5, 11, 7, 0))


def test_attachment_filename_is_safe_whatever_the_report_id() -> None:
    table = report_table()
    unsafe = ReportTable(**{**table.__dict__, "report_id": "../../etc/passwd é"})
    assert attachment_filename(unsafe) == "------etc-passwd--_2026-05-04_2026-05-10.csv"


def _wide_table(nonbillable: Decimal) -> ReportTable:
    metrics = ("incurred_hours", "billable_hours", "nonbillable_hours", "entries", "incurred_amount")
    row = {"client_id": 1, "client_name": "Acme", "incurred_hours": Decimal("5") + nonbillable}
    row |= {"billable_hours": Decimal("5"), "nonbillable_hours": nonbillable, "entries": 2}
    row |= {"incurred_amount": Decimal("500")}
    return ReportTable(
        report_id="wide",
        title="Wide",
        view="time_fees_hours_and_amounts",
        period=Period(date(2026, 5, 4), date(2026, 5, 10)),
        group_by=("client",),
        columns=("client_id", "client_name", *metrics),
        metric_columns=metrics,
        rows=[row],
        totals={column: value for column, value in row.items() if column in metrics},
        entries=2,
    )


def test_the_summary_table_keeps_to_a_phones_width() -> None:
    # A column whose total is zero says nothing in the summary (the totals above and the CSV keep it)
    assert display_columns(_wide_table(Decimal(0))) == [
        "client_name", "incurred_hours", "billable_hours", "entries", "incurred_amount",
    ]  # fmt: skip
    # With five metrics that all say something, the entry count gives way
    assert display_columns(_wide_table(Decimal(1))) == [
        "client_name", "incurred_hours", "billable_hours", "nonbillable_hours", "incurred_amount",
    ]  # fmt: skip


def test_a_bare_sender_gets_a_display_name_and_a_partial_summary_says_what_its_total_counts() -> None:
    assert str(sender_address("reports@example.com")) == "Time reports <reports@example.com>"
    assert str(sender_address("Finance <finance@example.com>")) == "Finance <finance@example.com>"
    message = parsed(build(report_table(30))[0])
    assert "Total of all 30 rows" in body(message, "plain")
    assert "Total of all 30 rows" in body(message, "html")


def test_the_email_shows_figures_with_thousands_separators_and_the_csv_without() -> None:
    assert display_value("incurred_hours", Decimal("54535.585")) == "54,535.59"
    assert display_value("incurred_amount", Decimal("412325.37")) == "412,325.37"
    assert display_value("entries", 1521) == "1,521"
    assert display_value("project_id", 30001) == "30001"  # an id is no figure
    assert format_cell("incurred_hours", Decimal("54535.585")) == "54535.59"


def test_text_columns_line_up_after_names_in_any_script() -> None:
    # Given names in Latin, CJK (two columns a character) and with a combining accent
    rows = [["Name", "Hours"], [], ["Ana", "1.00"], ["日本株式会社 東京", "22.00"], ["Zoe\u0308", "333.00"]]
    lines = aligned(rows, [False, True])
    # Then every figure ends in the same display column
    ends = {display_width(line) for line in lines if line and not line.startswith("-")}
    assert len(ends) == 1
