"""The files an email links instead of attaching, fetched over HTTP as a recipient's browser would fetch them."""

from __future__ import annotations

import re
from email.message import EmailMessage

import requests

# "Download the CSV: <url>", "Download the corrected CSV: <url>", "Download the workbook (Excel): <url>"
_DOWNLOAD_LINE = re.compile(r"^Download (?P<what>[^:\n]+): (?P<url>https?://\S+)", re.MULTILINE)


def linked_files(message: EmailMessage) -> dict[str, bytes]:
    """Each download link of the message's text part, by what it names ("the CSV", "the workbook (Excel)"...),
    with the bytes its URL answers (the link must answer 200)."""
    plain = message.get_body(("plain",))
    assert plain is not None, "the message has no text part"
    text = plain.get_content()
    files = {}
    for line in _DOWNLOAD_LINE.finditer(text):
        reply = requests.get(line["url"], timeout=10)
        assert reply.status_code == 200, f"{line['what']}: {reply.status_code} {reply.text[:200]}"
        files[line["what"]] = reply.content
    return files
