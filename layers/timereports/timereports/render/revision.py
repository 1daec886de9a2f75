"""A revision: what changed in a delivered report after late edits, and the email that says so.

The comparison is between what the recipients were sent (the archived CSV) and the corrected report rendered the
same way, so that a change too small to show at two decimals is no change, and edits that cancel out send nothing.
Rows are matched by their group key (the id columns, or the date/flag of an attribute without ids).
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Literal

from timereports.engine.attributes import ATTRIBUTES
from timereports.engine.views import DERIVED_METRICS
from timereports.models.report import ReportTable
from timereports.models.run_record import AttachmentMode
from timereports.render.addressing import Addressing, render_subject
from timereports.render.csv import BYTE_ORDER_MARK, TOTAL_LABEL, is_decimal_column, render_csv, unneutralised
from timereports.render.email import OutgoingEmail, compose_messages, gzip_csv
from timereports.render.email_body import (
    CsvLink,
    column_label,
    link_html,
    link_text,
    period_line,
)
from timereports.render.email_cells import display_value, total_label, with_id
from timereports.render.facts import slice_line

ChangeKind = Literal["added", "removed", "changed"]
# How many changed rows the email lists; the attachment has them all.
LISTED_CHANGES = 25


@dataclass(frozen=True)
class RowChange:
    """One row of the report that is new, gone, or has other figures than the recipients were sent."""

    kind: ChangeKind
    labels: tuple[str, ...]  # the row's group names, for a reader
    before: dict[str, str] = field(default_factory=dict)  # metric column -> the figure sent
    after: dict[str, str] = field(default_factory=dict)  # metric column -> the corrected figure


@dataclass(frozen=True)
class Revision:
    """The difference between the sent report and the corrected one."""

    changes: tuple[RowChange, ...]
    totals_before: dict[str, str]
    totals_after: dict[str, str]
    metric_columns: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.changes) or bool(_moved(self.totals_before, self.totals_after, self.metric_columns))

    @property
    def primary_metric(self) -> str:
        """The figure a change is measured in: the view's headline, its first metric (engine.views.View.headline)."""
        return self.metric_columns[0]

    def changes_more_than_counts(self) -> bool:
        """A row was added or removed, or a figure other than its entry count moved."""
        return any(
            change.kind != "changed" or _moved(change.before, change.after, self.metric_columns) != ["entries"]
            for change in self.changes
        )

    def change_size(self) -> Decimal:
        """The rows' changes of the primary metric, summed as absolute values (what `min_change_hours` bounds)."""
        metric = self.primary_metric
        return sum(
            (abs(_number(change.after.get(metric)) - _number(change.before.get(metric))) for change in self.changes),
            Decimal(0),
        )

    def total(self, which: Literal["before", "after"]) -> Decimal:
        totals = self.totals_before if which == "before" else self.totals_after
        return _number(totals.get(self.primary_metric))


def _number(text: str | None) -> Decimal:
    try:
        return Decimal(text) if text else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def _rows(csv_bytes: bytes) -> tuple[list[str], list[list[str]], list[str]]:
    """Header, body rows and the TOTAL row of one of our CSVs."""
    text = csv_bytes.decode("utf-8").removeprefix(BYTE_ORDER_MARK)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header, body = rows[0], rows[1:]
    totals = body.pop() if body and body[-1] and body[-1][0] == TOTAL_LABEL else []
    return header, body, totals


def compare(sent_csv: bytes | None, corrected: ReportTable, corrected_csv: bytes | None = None) -> Revision:
    """What changed between the CSV the recipients got (None: they were told no time was logged) and the corrected
    report (rendered the same way)."""
    new_header, new_rows, new_totals = _rows(corrected_csv if corrected_csv is not None else render_csv(corrected))
    header, sent_rows, sent_totals = _rows(sent_csv) if sent_csv is not None else (new_header, [], [])
    metrics = corrected.metric_columns
    # The entry view has a row per entry: its id is the row's identity (many share a group's ids).
    key_columns = (
        ["entry_id"]
        if corrected.view == "time_entries"
        else [ATTRIBUTES[name].columns[0] for name in corrected.group_by]
    )
    levels = [(ATTRIBUTES[name].columns[0], ATTRIBUTES[name].columns[-1]) for name in corrected.group_by]

    def index(columns: list[str], rows: list[list[str]]) -> dict[tuple[str, ...], dict[str, str]]:
        named = [dict(zip(columns, row, strict=False)) for row in rows]
        return {tuple(row.get(column, "") for column in key_columns): row for row in named}

    before, after = index(header, sent_rows), index(new_header, new_rows)
    # A name that two records share (two clients' "Website" projects) is told apart by its id, as the report's
    # sections are.
    ids_of: list[dict[str, set[str]]] = [{} for _ in levels]
    for seen in (*before.values(), *after.values()):
        for level, (id_column, label_column) in enumerate(levels):
            ids_of[level].setdefault(seen.get(label_column, ""), set()).add(seen.get(id_column, ""))

    def labels_of(row: dict[str, str]) -> tuple[str, ...]:
        shown = []
        for level, (id_column, label_column) in enumerate(levels):
            label = unneutralised(row.get(label_column, ""))  # as the report showed it, not as the CSV guards it
            shared = len(ids_of[level].get(label, ())) > 1
            shown.append(with_id(label, row.get(id_column, "")) if shared else label)
        return tuple(shown)

    changes: list[RowChange] = []
    for key in [*after, *(key for key in before if key not in after)]:
        old, new = before.get(key), after.get(key)
        row = new if new is not None else old
        assert row is not None
        labels = labels_of(row)
        old_figures = {metric: old.get(metric, "") for metric in metrics} if old is not None else {}
        new_figures = {metric: new.get(metric, "") for metric in metrics} if new is not None else {}
        if old is None:
            changes.append(RowChange("added", labels, after=new_figures))
        elif new is None:
            changes.append(RowChange("removed", labels, before=old_figures))
        elif _moved(old_figures, new_figures, metrics):
            changes.append(RowChange("changed", labels, before=old_figures, after=new_figures))
    return Revision(
        changes=tuple(changes),
        totals_before=_totals(header, sent_totals, metrics),
        totals_after=_totals(new_header, new_totals, metrics),
        metric_columns=metrics,
    )


def _totals(header: list[str], totals: list[str], metrics: Sequence[str]) -> dict[str, str]:
    named = dict(zip(header, totals, strict=False))
    return {metric: named.get(metric, "0.00") for metric in metrics}


@dataclass(frozen=True)
class EntryChanges:
    """What happened to the period's time entries since the report went out: edited (modified later), added (newer
    than the newest entry the report saw), deleted (the report's count then, plus the added, less its count now), and
    when the last change was. Added and deleted are None for a delivery that did not record its newest entry."""

    edited: int
    added: int | None
    deleted: int | None
    last_modified: str | None  # "YYYY-MM-DD HH:MM:SS", UTC, as the API gives it


def revision_subject(template: str, table: ReportTable) -> str:
    return f"Revised: {render_subject(template, table)}"


def build_revision_messages(
    corrected: ReportTable,
    revision: Revision,
    *,
    sender: str,
    addressing: Addressing,
    sent_at: datetime,
    delivered_at: str | None,
    entry_changes: EntryChanges | None = None,
    csv: bytes | None = None,
    xlsx: bytes | None = None,
    mode: AttachmentMode = "attachment",
    link: CsvLink | None = None,
) -> list[OutgoingEmail]:
    """The revision email, per recipient batch: what changed (rows added, removed, changed old -> new; totals
    before -> after; the entries edited or added), with the corrected CSV (and `xlsx`) the way the report sends
    its files (`mode`, as `choose_attachment_mode` picks it): attached, gzipped, or as a link to the archive."""
    if mode == "link" and link is None:
        raise ValueError("a revision sent as a link needs the link")
    csv_bytes = csv if csv is not None else render_csv(corrected)
    xlsx_bytes = xlsx if mode != "link" else None
    text = _text(corrected, revision, delivered_at, entry_changes, linked=link is not None)
    page = _html(corrected, revision, delivered_at, entry_changes, linked=link is not None)
    if link is not None:
        text += "\n" + "\n".join(link_text(link, "the corrected CSV")) + "\n"
        page = page.replace("</body>", link_html(link, "the corrected CSV") + "</body>")
    payload = gzip_csv(csv_bytes) if mode == "gzip" else csv_bytes
    return compose_messages(
        corrected,
        sender=sender,
        addressing=addressing,
        subject=revision_subject(addressing.subject, corrected),
        sent_at=sent_at,
        text=text,
        page=page,
        files=(mode, payload, xlsx_bytes),
    )


def _moved(before: dict[str, str], after: dict[str, str], metrics: Sequence[str]) -> list[str]:
    """The figures that differ. A derived one (non-billable) is left out: it differs only with the others, or with
    how it is derived (a release that rounds it otherwise must not send every watched report again)."""
    return [metric for metric in metrics if metric not in DERIVED_METRICS and before.get(metric) != after.get(metric)]


def _shown(metric: str, figures: dict[str, str], missing: str = "") -> str:
    """A figure read back from the CSV as the report's email shows it (54,535.59; the CSV has no separators)."""
    text = figures.get(metric)
    if not text:
        return missing
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    return display_value(metric, number if is_decimal_column(metric) else int(number))  # a count stays a count


def _change_line(change: RowChange, revision: Revision) -> str:
    """`changed: Website (#30013): 23.25 -> 19.75; billable hours 20.00 -> 16.50`: the headline figure first (the
    list's heading names it), then every other figure that moved, so that a change of billable time or of an amount
    with the same hours is seen."""
    metric = revision.primary_metric
    name = " / ".join(change.labels)
    if change.kind == "added":
        return f"added: {name}: {_shown(metric, change.after)}"
    if change.kind == "removed":
        return f"removed: {name} (was {_shown(metric, change.before)})"
    moved = _moved(change.before, change.after, revision.metric_columns)
    headline = _shown(metric, change.before)
    parts = [f"{headline} -> {_shown(metric, change.after)}" if metric in moved else f"{headline} (unchanged)"]
    parts += _other_moves(change.before, change.after, revision)
    return f"changed: {name}: {'; '.join(parts)}"


def _other_moves(before: dict[str, str], after: dict[str, str], revision: Revision) -> list[str]:
    """`billable hours 20.00 -> 16.50` for each figure besides the headline that moved."""
    return [
        f"{total_label(other).lower()} {_shown(other, before)} -> {_shown(other, after)}"
        for other in _moved(before, after, revision.metric_columns)
        if other != revision.primary_metric
    ]


def _summary_sentences(
    table: ReportTable,
    revision: Revision,
    delivered_at: str | None,
    entry_changes: EntryChanges | None,
    linked: bool,
) -> list[str]:
    metric = revision.primary_metric
    label = column_label(metric)
    when = f" since it was sent on {delivered_at[:10]}" if delivered_at else ""
    sentences = [
        f"Time in this report changed{when}. The corrected report is "
        f"{'at the link below' if linked else 'attached'}; it replaces the one you have.",
        f"{label}: {_shown(metric, revision.totals_before, '0.00')} -> {_shown(metric, revision.totals_after, '0.00')} "
        f"in total.",
    ]
    others = _other_moves(revision.totals_before, revision.totals_after, revision)
    if others:
        sentences.append(f"Also in total: {'; '.join(others)}.")
    counts = {kind: sum(1 for change in revision.changes if change.kind == kind) for kind in ("added", "removed")}
    changed = len(revision.changes) - counts["added"] - counts["removed"]
    sentences.append(f"Rows: {counts['added']} added, {counts['removed']} removed, {changed} changed.")
    if entry_changes is not None:
        last = f", the last at {entry_changes.last_modified[:16]} UTC" if entry_changes.last_modified else ""
        if entry_changes.added is None or entry_changes.deleted is None:
            sentences.append(f"Time entries edited or added since: {entry_changes.edited}{last}.")
        else:
            sentences.append(
                f"Time entries since: {entry_changes.edited} edited, {entry_changes.added} added, "
                f"{entry_changes.deleted} deleted{last}."
            )
    return sentences


def _text(
    table: ReportTable, revision: Revision, delivered_at: str | None, entries: EntryChanges | None, linked: bool
) -> str:
    lines = [f"Revised: {table.title}", period_line(table), *filter(None, [slice_line(table)]), ""]
    lines += _summary_sentences(table, revision, delivered_at, entries, linked)
    metric = revision.primary_metric
    lines += ["", f"What changed ({column_label(metric)}):"]
    lines += [f"- {_change_line(change, revision)}" for change in revision.changes[:LISTED_CHANGES]]
    if len(revision.changes) > LISTED_CHANGES:
        lines.append(f"... and {len(revision.changes) - LISTED_CHANGES} more rows: see the attachment.")
    return "\n".join(lines) + "\n"


def _html(
    table: ReportTable, revision: Revision, delivered_at: str | None, entries: EntryChanges | None, linked: bool
) -> str:
    metric = revision.primary_metric
    paragraphs = "".join(
        f'<p style="margin:0 0 12px;font-size:16px;">{html.escape(sentence)}</p>'
        for sentence in _summary_sentences(table, revision, delivered_at, entries, linked)
    )
    items = "".join(
        f'<li style="margin:0 0 6px;font-size:15px;">{html.escape(_change_line(change, revision))}</li>'
        for change in revision.changes[:LISTED_CHANGES]
    )
    more = (
        f"<p>... and {len(revision.changes) - LISTED_CHANGES} more rows: see the attachment.</p>"
        if len(revision.changes) > LISTED_CHANGES
        else ""
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1"></head>'
        '<body style="margin:0;padding:16px;font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;'
        'color:#111827;max-width:640px;">'
        f'<h1 style="font-size:20px;margin:0 0 4px;">Revised: {html.escape(table.title)}</h1>'
        f'<p style="margin:0 0 16px;color:#4b5563;font-size:14px;">'
        f"{'<br>'.join(html.escape(line) for line in filter(None, [period_line(table), slice_line(table)]))}</p>"
        f"{paragraphs}"
        f'<h2 style="font-size:16px;margin:16px 0 8px;">What changed ({html.escape(column_label(metric))})</h2>'
        f'<ul style="padding-left:20px;margin:0;">{items}</ul>{more}'
        "</body></html>"
    )
