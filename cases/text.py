"""Showing user data literally: control characters made visible instead of obeyed.

Signal texts, names and rationales come from outside. Printed raw, an ANSI escape recolours or
clears a staff member's terminal, an OSC-8 sequence plants a hyperlink, a bidi override reverses
what is read, a newline forges a line. Every place that shows such text on a terminal or in a
one-line error passes it through `neutralise`; reports and web pages escape in their own way.
"""

from __future__ import annotations

import re

from cases.errors import FieldErrors

# C0 and C1 controls, DEL, the Unicode line/paragraph separators and the bidi controls.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


# What stored text refuses: every control character (one-line text), or all but line breaks
# and tabs (text of several lines). A NUL is even stored differently by SQLite and PostgreSQL.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
CONTROL_BUT_LINES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def neutralise(text: str, *, keep_newlines: bool = False, json_escapes: bool = False) -> str:
    """`text` with every control character shown as an escape (`\\x1b`, `\\u202e`).

    `keep_newlines` leaves line breaks (multi-line output we lay out ourselves);
    `json_escapes` writes them as JSON `\\uXXXX` escapes, keeping JSON text valid (JSON has
    already escaped the C0 controls inside strings; its own newlines are kept)."""
    if json_escapes:
        return _CONTROL.sub(lambda m: m.group() if m.group() == "\n"
                            else f"\\u{ord(m.group()):04x}", text)
    if keep_newlines:
        return _CONTROL.sub(lambda m: m.group() if m.group() == "\n" else _escape(m), text)
    return _CONTROL.sub(_escape, text)


def plain_text(text: str, *, field: str, lines: bool = True) -> str:
    """`text` if it holds no control character (line breaks and tabs allowed with `lines`);
    FieldErrors naming the field otherwise (a NUL, say, is stored differently by SQLite and
    refused by PostgreSQL, and a report would drop it)."""
    found = (CONTROL_BUT_LINES if lines else CONTROL).search(text)
    if found:
        raise FieldErrors({field: ("control_character", {"position": found.start() + 1},
                                   f"contains the control character U+{ord(found.group()):04X} "
                                   f"at position {found.start() + 1}")})
    return text


def reason_text(text: str, *, least: int, most: int, field: str = "reason",
                source: str = "") -> str:
    """A reason people give for what they did (closing a follow-up, moving a signal): one
    line of plain text, whitespace collapsed, `least` to `most` characters; FieldErrors
    naming the field otherwise."""
    reason = plain_text(" ".join(text.split()), field=field)
    if len(reason) < least:
        raise FieldErrors({field: ("reason_short", {"least": least},
                                   f"give a reason of at least {least} characters")},
                          source=source)
    if len(reason) > most:
        raise FieldErrors({field: ("string_too_long", {"max_length": most},
                                   f"at most {most} characters")}, source=source)
    return reason
