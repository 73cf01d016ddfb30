"""Checks for text that people type (forms, options): bounded, no control characters, ids by pattern.

Every value from outside passes one of these before it is used or stored; a failure is an
``InputError`` whose message names the field and can be shown to the person who typed it.
"""

from __future__ import annotations

import re
import unicodedata

from pipeline.common.i18n import _

SHA256 = re.compile(r"[0-9a-f]{64}")
USER_ID = re.compile(r"[a-z][a-z0-9._-]{1,31}")
# request, case, gap, statement, device and officer ids: letters and digits of any script (a case
# 案-2025-017, an officer 张三), then also ".", "_" and "-"; never a separator or a control character
RECORD_ID = re.compile(r"[^\W_][\w.-]{0,79}")


class InputError(ValueError):
    """A typed value is empty, too long, has control characters or is not of its form."""


def clean_text(value: str | None, field: str, *, max_len: int = 2000, required: bool = True,
               multiline: bool = False) -> str | None:
    """``value`` stripped; refused when empty (if required), over ``max_len`` characters, or
    holding control characters (newlines and tabs allowed only when ``multiline``)."""
    text = (value or "").strip()
    if not text:
        if required:
            raise InputError(_("{field} must not be empty").format(field=field))
        return None
    if len(text) > max_len:
        raise InputError(_("{field} is too long ({n} characters; at most {max})").format(
            field=field, n=len(text), max=max_len))
    allowed = "\n\t" if multiline else ""
    for ch in text:
        if ch not in allowed and (unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn")
                                  or ch in "\u2028\u2029"):
            raise InputError(_("{field} contains a control character (U+{code:04X})").format(
                field=field, code=ord(ch)))
    return text.replace("\r\n", "\n")


def pattern(value: str | None, field: str, regex: re.Pattern) -> str:
    """``value`` when it matches ``regex`` whole; the value is never echoed back (it may be hostile)."""
    text = (value or "").strip()
    if not regex.fullmatch(text):
        raise InputError(_("{field} is not valid").format(field=field))
    return text


def sha256(value: str | None, field: str = "sha256") -> str:
    return pattern((value or "").lower(), field, SHA256)


def record_id(value: str | None, field: str) -> str:
    return pattern(value, field, RECORD_ID)


def user_id(value: str | None, field: str = "user") -> str:
    return pattern((value or "").lower(), field, USER_ID)
