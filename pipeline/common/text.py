"""Text people type and text people read: checked on the way in, made safe on the way out.

Identifiers (case ids, device ids, officer ids, approval references) refuse control characters
and are bounded; names (``--by``) must not be empty; free text (reasons, notes, titles) keeps line
breaks and tabs but has other control characters escaped, and is bounded. On the way out, a
terminal line never carries a raw escape sequence, and a CSV cell never starts a spreadsheet
formula. Each check is an ``argparse`` type, so a bad value is a usage error (exit 2) that names
the option.
"""

from __future__ import annotations

import argparse
import re
import unicodedata

IDENTIFIER_MAX = 128
NAME_MAX = 200
TEXT_MAX = 10_000

# C0, DEL, C1 controls and the Unicode line/paragraph separators and bidi overrides, which can
# reorder or hide what a terminal or page shows.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class TextProblem(ValueError):
    """A typed value is empty, too long, or carries characters it may not."""


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def identifier(value: str, *, what: str = "identifier", max_len: int = IDENTIFIER_MAX) -> str:
    """A value that names something: non-empty, at most ``max_len`` characters, no control characters."""
    value = unicodedata.normalize("NFC", value.strip())
    if not value:
        raise TextProblem(f"the {what} is empty")
    if len(value) > max_len:
        raise TextProblem(f"the {what} is {len(value)} characters long; at most {max_len} are allowed")
    if bad := _CONTROL.search(value):
        raise TextProblem(f"the {what} contains the control character {_escape(bad.group())}; "
                          "type it without control characters or line breaks")
    return value


def person(value: str) -> str:
    """Who did something (``--by``): a non-empty name of at most ``NAME_MAX`` characters."""
    return identifier(value, what="name of who does this", max_len=NAME_MAX)


def free_text(value: str, *, max_len: int = TEXT_MAX) -> str:
    """A reason, note or title: bounded; line breaks and tabs kept, other control characters escaped."""
    value = unicodedata.normalize("NFC", value.strip())
    if len(value) > max_len:
        raise TextProblem(f"the text is {len(value)} characters long; at most {max_len} are allowed")
    return _CONTROL.sub(lambda m: m.group() if m.group() in "\n\t" else _escape(m.group()), value)


def for_terminal(value: object) -> str:
    """One line for a terminal: every control character (line breaks too) shown as an escape."""
    return _CONTROL.sub(lambda m: _escape(m.group()), str(value))


def csv_cell(value: str) -> str:
    """A CSV cell that spreadsheets show as text: a leading ``= + - @`` (a formula) gets a quote mark."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def arg(check, **kwargs):
    """``check`` as an ``argparse`` ``type=``: a problem becomes a usage error naming the option."""
    def parse(value: str) -> str:
        try:
            return check(value, **kwargs)
        except TextProblem as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    parse.__name__ = getattr(check, "__name__", "value")
    return parse


def display_width(value: str) -> int:
    """Columns ``value`` takes on a terminal: a Chinese character takes two."""
    from wcwidth import wcswidth

    width = wcswidth(value)
    return width if width >= 0 else len(value)      # -1: a control character (never printed raw)


def pad(value: str, width: int) -> str:
    """``value`` left-aligned in ``width`` terminal columns (``str.ljust`` counts characters, not columns)."""
    return value + " " * max(0, width - display_width(value))
