"""Chinese first: the translation seam, language choice, wide-character tables, real UTF-8 JSON."""

from __future__ import annotations

import io
import json

import pytest

from pipeline.commands.options import emit
from pipeline.common import i18n
from pipeline.common.text import display_width, pad

PO = '''msgid ""
msgstr ""
"Language: zh_CN\\n"
"Content-Type: text/plain; charset=UTF-8\\n"
"Plural-Forms: nplurals=1; plural=0;\\n"

msgid "gap"
msgstr "中断"

msgid "{n} file"
msgid_plural "{n} files"
msgstr[0] "{n} 个文件"
'''


@pytest.fixture
def catalog_dir(tmp_path, monkeypatch):
    folder = tmp_path / "zh_CN" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "fieldrec.po").write_text(PO, encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n._load.cache_clear()
    yield
    i18n._load.cache_clear()
    i18n.use_language("en")


@pytest.mark.parametrize("given, expected", [("zh-CN", "zh_CN"), ("zh_CN.UTF-8", "zh_CN"), ("zh", "zh_CN"),
                                             ("en_US.UTF-8", "en"), ("C", "en"), ("fr_FR", None), ("", None)])
def test_language_names_normalise(given, expected):
    assert i18n.normalize(given) == expected


def test_environment_order_is_gettexts():
    assert i18n.from_environment({"LANG": "en_US.UTF-8", "LC_MESSAGES": "zh_CN.UTF-8"}) == "zh_CN"
    assert i18n.from_environment({"LC_ALL": "C", "LANG": "zh_CN.UTF-8"}) == "en"
    assert i18n.from_environment({}) is None


def test_messages_translate_from_the_po_file(catalog_dir):
    assert i18n.use_language("zh-CN") == "zh_CN"
    assert i18n._("gap") == "中断"
    assert i18n.ngettext("{n} file", "{n} files", 3).format(n=3) == "3 个文件"
    assert i18n._("not in the catalog") == "not in the catalog"
    assert i18n.use_language("en") == "en" and i18n._("gap") == "gap"


def test_unknown_language_falls_back_to_english(catalog_dir):
    assert i18n.use_language("fr") == "en"
    assert i18n._("gap") == "gap"


def test_table_columns_align_with_chinese_cells():
    out = io.StringIO()
    emit([{"officer": "张三", "device": "CAM1"}, {"officer": "O117", "device": "CAM22"}], ["officer", "device"],
         "table", out)
    lines = out.getvalue().splitlines()
    starts = {display_width(line[: line.index(cell)]) for line, cell in zip(lines, ("device", "CAM1", "CAM22"))}
    assert starts == {9}, lines                  # "officer" is 7 wide, 张三 is 4: the next column lines up
    assert pad("张三", 6) == "张三  " and display_width("张三") == 4


def test_json_output_is_real_utf8():
    out = io.StringIO()
    emit([{"title": "市场街执法"}], ["title"], "json", out)
    assert "市场街执法" in out.getvalue() and "\\u" not in out.getvalue()
    assert json.loads(out.getvalue()) == [{"title": "市场街执法"}]


def test_lang_option_is_taken_anywhere_on_the_line_and_checked(capsys):
    from pipeline.cli import choose_language, main

    try:
        assert choose_language(["gaps", "--archive", "A", "--lang", "zh-CN"]) == ["gaps", "--archive", "A"]
        assert i18n.current_language() == "zh_CN"
        assert choose_language(["compliance", "--late"]) == ["compliance", "--late"]
    finally:
        i18n.use_language("en")
    with pytest.raises(SystemExit) as exc:
        main(["--lang", "fr", "gaps"])
    assert exc.value.code == 2 and "--lang" in capsys.readouterr().err


def test_the_archive_language_is_read_without_arrow(tmp_path):
    """The archive's site.language is read before the parser is built (and before the local
    engine's workers start): from its settings file alone, importing no Arrow, numpy or DuckDB."""
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "fieldrec.toml").write_text('[site]\nlanguage = "zh-CN"\n')
    script = ("import sys, json; import pipeline.cli as c; from pipeline.common import i18n; "
              f"c.choose_language(['gaps', '--archive', {str(tmp_path)!r}]); "
              "print(json.dumps([i18n.current_language(), sorted(m for m in ('pyarrow', 'numpy', 'duckdb', 'av') "
              "if m in sys.modules)]))")
    done = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[1], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["zh_CN", []]
