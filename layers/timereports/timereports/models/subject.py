"""The subject line template: one parser for the definition's validation and the email renderer's filling, so that
what a definition is allowed to write and what the renderer fills cannot drift apart."""

from __future__ import annotations

import string
from collections.abc import Mapping

from timereports.models.vocabulary import LINE_BREAKS, SUBJECT_PLACEHOLDERS

ALLOWED_PLACEHOLDERS = ", ".join("{" + name + "}" for name in SUBJECT_PLACEHOLDERS)


def fill_subject(template: str, values: Mapping[str, str]) -> str:
    """`template` with its `{placeholder}`s filled from `values` (one of SUBJECT_PLACEHOLDERS each).

    Raises ValueError naming the problem and the allowed placeholders: an unmatched brace, an unknown placeholder, a
    format spec or conversion (only plain names are filled: the template comes from a user), a line break (it would
    start a new mail header), or an empty result.
    """
    if LINE_BREAKS.search(template):
        raise ValueError("a line break is not allowed (it would start a new mail header)")
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(
            f"{template!r} is not a valid template ({exc}); write {{{{ and }}}} for literal braces"
        ) from exc
    parts: list[str] = []
    for literal, name, format_spec, conversion in parsed:
        parts.append(literal)
        if name is None:
            continue
        if name not in SUBJECT_PLACEHOLDERS:
            raise ValueError(f"placeholder {{{name}}} is not supported; allowed: {ALLOWED_PLACEHOLDERS}")
        if format_spec or conversion:
            raise ValueError(
                f"placeholder {{{name}}} takes no format (write it as {{{name}}}); allowed: {ALLOWED_PLACEHOLDERS}"
            )
        parts.append(values[name])
    subject = "".join(parts).strip()
    if LINE_BREAKS.search(subject):
        raise ValueError("a line break is not allowed (it would start a new mail header)")
    if not subject:
        raise ValueError("the subject is empty")
    return subject
