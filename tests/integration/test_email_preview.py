"""The HTML email as a phone shows it: headless Chromium at 375 px, screenshots in out/preview/ to look at.

Besides the screenshots, the page is measured in the browser (inside a 375 px frame): it must not be wider
than the screen, the summary table must fit, and no user text may have become a script element.
Run with `make preview` (installs Chromium).
"""

from __future__ import annotations

import html
import re
import shutil
import struct
import subprocess
import zlib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from timereports_dev.dataset import build_dataset

from tests.unit.test_render_email import SENDER, SENT_AT, body, parsed, report_table
from timereports.engine.aggregate import aggregate
from timereports.engine.sections import compare_with_previous, stamped
from timereports.models.catalogue import parse_definition
from timereports.models.intervals import ReferenceData, TimeEntry
from timereports.models.report import Period, ReportTable
from timereports.render.addressing import Addressing
from timereports.render.csv import render_csv
from timereports.render.email import build_messages
from timereports.render.email_body import CsvLink
from timereports.render.revision import EntryChanges, build_revision_messages, compare

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="Chromium (chromium) is not installed"),
]

PREVIEW_DIR = Path(__file__).resolve().parents[2] / "out" / "preview"
PHONE_WIDTH, PHONE_HEIGHT = 375, 800
NAMES = [
    "Zoë Ämtmann-Øster",
    "Jean-François Lefèvre",
    "<script>document.title='pwned'</script>",
    '=HYPERLINK("http://attacker.example","x")',
    "Ana",
]


def chromium(
    user_data_dir: Path, *arguments: str, size: tuple[int, int] = (PHONE_WIDTH, PHONE_HEIGHT)
) -> subprocess.CompletedProcess[str]:
    """Headless Chromium with no network chatter, its own profile, and the phone's window size (or `size`)."""
    command = [
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={user_data_dir}",
        f"--window-size={size[0]},{size[1]}",
        *arguments,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed


def weekly_table() -> ReportTable:
    """The demo's two-level weekly report (project, then person) over the simulator's data set, against the week
    before, as of a fixed instant: built by the engine as a run builds it."""
    dataset = build_dataset(20_000, seed=7)
    definition = parse_definition(
        {
            "id": "weekly-hours-by-project",
            "title": "Hours by project and person",
            "time_frame": "last_week",
            "timezone": "Europe/Berlin",
            "group_by": ["project_id", "user_id"],
            "compare": "previous",
        }
    )
    entries = [TimeEntry.model_validate(row | {"datemodified": None}) for row in dataset.time]
    period = Period(date(2026, 11, 16), date(2026, 11, 22))

    def table(of: Period) -> ReportTable:
        return aggregate(((entry, None) for entry in entries), definition, ReferenceData(), of)

    compared = compare_with_previous(table(period), table(period.previous()))
    return stamped(compared, datetime(2026, 11, 23, 6, 0, tzinfo=UTC))


def revision_html() -> str:
    """The HTML part of a revision: a week of three rows sent, then corrected (one row changed, one added)."""
    sent = report_table(3)
    corrected = report_table(4)
    corrected.rows[0]["incurred_hours"] = Decimal("9.5")
    corrected.totals["incurred_hours"] = sum(
        (Decimal(str(row["incurred_hours"])) for row in corrected.rows), Decimal(0)
    )
    revision = compare(render_csv(sent), corrected)
    [outgoing] = build_revision_messages(
        corrected,
        revision,
        sender=SENDER,
        addressing=Addressing(to=["ops@example.com"]),
        sent_at=datetime(2026, 5, 12, 6, tzinfo=UTC),
        delivered_at="2026-05-11T06:10:00+00:00",
        entry_changes=EntryChanges(edited=1, added=2, deleted=0, last_modified="2026-05-11 17:42:10"),
    )
    return body(parsed(outgoing), "html")


def email_html(kind: str) -> str:
    """The HTML part of a realistic message, as a receiving client parses it."""
    if kind == "revision":
        return revision_html()
    if kind == "weekly":
        table = weekly_table()
        [outgoing] = build_messages(
            table,
            render_csv(table),
            sender=SENDER,
            addressing=Addressing(to=["ops@example.com"]),
            sent_at=datetime(2026, 11, 23, 6, tzinfo=UTC),
        )
        return body(parsed(outgoing), "html")
    if kind == "empty":
        table = report_table(0)
    else:
        table = report_table(27, title="Hours by project and person — Zoë's team", names=NAMES)
    link = None
    if kind == "link":
        link = CsvLink(
            url="https://reports-bucket.s3.eu-west-1.amazonaws.com/weekly-hours/2026-05-04_2026-05-10.csv"
            "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=604800&X-Amz-Signature=0123456789abcdef",
            expires_at=SENT_AT + timedelta(days=7),
        )
    [outgoing] = build_messages(
        table,
        render_csv(table),
        sender=SENDER,
        addressing=Addressing(to=["ops@example.com"]),
        mode="link" if kind == "link" else "attachment",
        link=link,
        sent_at=datetime(2026, 5, 11, 7, 0, tzinfo=UTC),
    )
    return body(parsed(outgoing), "html")


def png_facts(path: Path) -> tuple[int, int, int]:
    """Width, height and the number of distinct bytes in the decoded image data (1-2 for a blank page)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        if kind == b"IDAT":
            chunks.append(data[offset + 8 : offset + 8 + length])
        offset += 12 + length
    pixels = zlib.decompress(b"".join(chunks))
    return width, height, len(set(pixels))


@pytest.mark.parametrize(
    ("kind", "filename"),
    [
        ("attachment", "email-phone.png"),
        ("link", "email-link-phone.png"),
        ("empty", "email-empty-phone.png"),
        ("revision", "email-revision-phone.png"),
    ],
)
def test_phone_screenshot(kind: str, filename: str, tmp_path: Path) -> None:
    # Given the HTML part written to a file
    page = tmp_path / "email.html"
    page.write_text(email_html(kind), encoding="utf-8")
    PREVIEW_DIR.mkdir(parents=True, exist_ok=True)
    screenshot = PREVIEW_DIR / filename
    screenshot.unlink(missing_ok=True)

    # When Chromium screenshots it at phone size
    chromium(tmp_path / "profile", f"--screenshot={screenshot}", page.as_uri())

    # Then a phone-sized, non-blank PNG exists in out/preview/
    width, height, distinct = png_facts(screenshot)
    assert (width, height) == (PHONE_WIDTH, PHONE_HEIGHT)
    assert screenshot.stat().st_size > 8_000
    assert distinct > 16


@pytest.mark.parametrize(
    ("size", "filename"),
    [((PHONE_WIDTH, 2000), "email-weekly-phone.png"), ((1200, 1400), "email-weekly-desktop.png")],
)
def test_weekly_two_level_report_screenshots(size: tuple[int, int], filename: str, tmp_path: Path) -> None:
    # Given the demo's two-level weekly report with sections, bars and the previous week
    page = tmp_path / "weekly.html"
    page.write_text(email_html("weekly"), encoding="utf-8")
    PREVIEW_DIR.mkdir(parents=True, exist_ok=True)
    screenshot = PREVIEW_DIR / filename
    screenshot.unlink(missing_ok=True)

    # When Chromium screenshots it at phone and at desktop width
    chromium(tmp_path / "profile", f"--screenshot={screenshot}", page.as_uri(), size=size)

    # Then a non-blank PNG of that size is in out/preview/
    width, height, distinct = png_facts(screenshot)
    assert (width, height) == size
    assert distinct > 16


@pytest.mark.parametrize("kind", ["attachment", "link", "empty", "weekly", "revision"])
def test_the_email_fits_a_phone_and_runs_no_user_script(kind: str, tmp_path: Path) -> None:
    # Given the HTML part inside a 375 px frame, measured by the browser once loaded
    measure = (
        "var d=this.contentDocument, e=d.documentElement, w=d.querySelector('div[style*=\"overflow-x\"]');"
        "document.body.setAttribute('data-measured', [e.scrollWidth, e.clientWidth,"
        " w ? w.scrollWidth : 0, w ? w.clientWidth : 0, d.querySelectorAll('script').length, d.title].join('|'))"
    )
    frame = (
        '<!DOCTYPE html><html><body style="margin:0">'
        f'<iframe style="width:{PHONE_WIDTH}px;height:{PHONE_HEIGHT}px;border:0" '
        f'srcdoc="{html.escape(email_html(kind), quote=True)}" onload="{html.escape(measure, quote=True)}"></iframe>'
        "</body></html>"
    )
    page = tmp_path / "measure.html"
    page.write_text(frame, encoding="utf-8")

    # When Chromium loads it
    dom = chromium(tmp_path / "profile", "--dump-dom", page.as_uri()).stdout

    # Then the page is no wider than the screen, the summary table fits without scrolling, and no script exists
    match = re.search(r'data-measured="([^"]*)"', dom)
    assert match, "the measuring script did not run"
    page_width, screen_width, table_width, box_width, scripts, title = html.unescape(match.group(1)).split("|", 5)
    assert int(page_width) <= int(screen_width)
    assert int(table_width) <= int(box_width)
    assert scripts == "0"
    assert title != "pwned"
