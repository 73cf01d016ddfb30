"""Typed text is checked on the way in and made safe on the way out."""

from __future__ import annotations

import argparse

import pytest

from pipeline.common import text


@pytest.mark.parametrize("value", ["", "   ", "a\nb", "CASE\x1b[2J", "x" * 129, "INC\u202e17"],
                         ids=["empty", "blank", "newline", "escape", "too-long", "bidi-override"])
def test_identifier_refuses(value):
    with pytest.raises(text.TextProblem):
        text.identifier(value)


def test_identifier_keeps_chinese_and_trims():
    assert text.identifier("  案件-2026-17 ") == "案件-2026-17"


def test_person_must_not_be_empty():
    with pytest.raises(text.TextProblem, match="empty"):
        text.person(" ")
    assert text.person("张三") == "张三"


def test_free_text_keeps_lines_escapes_controls_and_is_bounded():
    assert text.free_text("battery\nswap\tat van\x1b[31m") == "battery\nswap\tat van\\x1b[31m"
    with pytest.raises(text.TextProblem, match="at most"):
        text.free_text("x" * 100_001)


def test_terminal_and_csv_outputs_are_neutralised():
    assert text.for_terminal("a\x1b]0;pwned\x07b\nc") == "a\\x1b]0;pwned\\x07b\\x0ac"
    assert [text.csv_cell(v) for v in ("=1+1", "+1", "-1", "@SUM(A1)", "ok", "")] == \
        ["'=1+1", "'+1", "'-1", "'@SUM(A1)", "ok", ""]


def test_argparse_type_names_the_option():
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("--by", type=text.arg(text.person))
    with pytest.raises(argparse.ArgumentError, match="--by"):
        parser.parse_args(["--by", ""])
