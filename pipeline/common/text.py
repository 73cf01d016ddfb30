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

from pipeline.common.i18n import N_, _

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


def identifier(value: str, *, what: str = N_("identifier"), max_len: int = IDENTIFIER_MAX) -> str:
    """A value that names something: non-empty, at most ``max_len`` characters, no control characters.
    ``what`` names it in messages (marked with ``N_`` where it is given, translated here)."""
    value = unicodedata.normalize("NFC", value.strip())
    if not value:
        raise TextProblem(_("the {what} is empty").format(what=_(what)))
    if len(value) > max_len:
        raise TextProblem(_("the {what} is {n} characters long; at most {max} are allowed").format(
            what=_(what), n=len(value), max=max_len))
    if bad := _CONTROL.search(value):
        raise TextProblem(_("the {what} contains the control character {char}; type it without control "
                            "characters or line breaks").format(what=_(what), char=_escape(bad.group())))
    return value


def person(value: str) -> str:
    """Who did something (``--by``): a non-empty name of at most ``NAME_MAX`` characters."""
    return identifier(value, what=N_("name of who does this"), max_len=NAME_MAX)


def free_text(value: str, *, max_len: int = TEXT_MAX) -> str:
    """A reason, note or title: bounded; line breaks and tabs kept, other control characters escaped."""
    value = unicodedata.normalize("NFC", value.strip())
    if len(value) > max_len:
        raise TextProblem(_("the text is {n} characters long; at most {max} are allowed").format(
            n=len(value), max=max_len))
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


# A wide character (Chinese) may end a line anywhere, but punctuation that closes stays with what it
# closes: a line never starts with ，。、；：）」 or their like.
_WIDE = r"\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6"
_CLOSING = r"，。、；：！？）」』】》〉,.;:!?)\]"
_UNITS = re.compile(rf"\s+|[{_WIDE}][{_CLOSING}]*|[^\s{_WIDE}]+")


def has_wide(value: str) -> bool:
    """Whether ``value`` holds a character a terminal shows two columns wide."""
    return re.search(f"[{_WIDE}]", value) is not None


def wrap(value: str, width: int) -> list[str]:
    """``value`` in lines of at most ``width`` terminal columns: words kept whole, a line broken
    between any two Chinese characters (``textwrap`` counts characters and breaks only at spaces)."""
    lines, line = [], ""
    for unit in _UNITS.findall(" ".join(value.split())):
        if unit.isspace():
            line += " " if line else ""
        elif not line or display_width(line + unit) <= width:
            line += unit
        else:
            lines.append(line.rstrip())
            line = unit
    if line.strip():
        lines.append(line.rstrip())
    return lines
