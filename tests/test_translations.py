"""The Chinese catalog is complete: every message the code shows people has its translation.

The messages are extracted from the code exactly as ``make messages`` does (Babel, ``babel.cfg``:
Python sources and the review service's templates), then held against
``pipeline/locale/zh_CN/LC_MESSAGES/fieldrec.po``. A scan of the command-line and report modules
also finds text shown to people that never reached the translation seam.
"""

from __future__ import annotations

import ast
import re
import string
from functools import lru_cache
from pathlib import Path

import pytest

from pipeline.common import i18n

REPO = Path(__file__).resolve().parents[1]
CATALOG = REPO / "pipeline" / "locale" / "zh_CN" / "LC_MESSAGES" / "fieldrec.po"
CJK = re.compile(r"[\u3400-\u9fff]")
EXTRA_KEYWORDS = {"NP_": ((1, "c"), 2)}             # as the Makefile's `-k NP_:1c,2`


@lru_cache(maxsize=None)
def extracted() -> dict[tuple[str | None, str], tuple[str, str | None]]:
    """(context, msgid) -> (where, plural msgid) for every message in the code, as Babel extracts them."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with open(REPO / "babel.cfg", encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    keywords = {**DEFAULT_KEYWORDS, **EXTRA_KEYWORDS}
    found = {}
    for filename, lineno, message, _comments, context in extract_from_dir(REPO, method_map, options_map,
                                                                          keywords=keywords):
        msgid, plural = (message, None) if isinstance(message, str) else (message[0], message[1])
        found.setdefault((context, msgid), (f"{filename}:{lineno}", plural))
    return found


@lru_cache(maxsize=None)
def catalog():
    from babel.messages.pofile import read_po

    with open(CATALOG, "rb") as fh:
        return read_po(fh, locale="zh_CN")


def placeholders(text: str) -> set[str]:
    """The named fields a message fills in: ``{name}`` (str.format) and ``%(name)s`` (templates)."""
    fields = {f"%({m})" for m in re.findall(r"%\((\w+)\)[sdr]", text)}
    fields |= {f"%{kind}#{i}" for i, kind in enumerate(re.findall(r"%([sdr])", text))}
    try:
        fields |= {f"{{{name}}}" for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError:
        fields.add("<unbalanced braces>")
    return fields


def test_make_messages_extracts_with_the_same_keywords():
    assert "-k NP_:1c,2" in (REPO / "Makefile").read_text()


def test_babel_finds_the_messages_of_every_room():
    where = {w.split(":")[0].split("/")[1] for w, _ in extracted().values()}
    assert {"cli.py", "commands", "report", "disc", "records", "web", "runs", "archive", "common"} <= where
    assert (None, "Times are shown in %(zone)s.") in extracted()          # the templates too
    assert ("column", "device_id") in extracted()                           # and table headings


def test_every_message_has_its_chinese_translation():
    entries = {(m.context, m.id if isinstance(m.id, str) else m.id[0]): m for m in catalog() if m.id}
    missing, untranslated = [], []
    for key, (where, _plural) in sorted(extracted().items(), key=lambda kv: kv[1][0]):
        message = entries.get(key)
        if message is None:
            missing.append(f"{where}: {key[1][:70]!r}")
        elif message.fuzzy or not (message.string if isinstance(message.string, str) else all(message.string)):
            untranslated.append(f"{where}: {key[1][:70]!r}")
    assert not missing, f"{len(missing)} message(s) not in {CATALOG.name} (run `make messages`):\n" + "\n".join(missing)
    assert not untranslated, f"{len(untranslated)} message(s) untranslated or fuzzy:\n" + "\n".join(untranslated)


def test_translations_keep_every_placeholder_and_read_as_chinese():
    wrong = []
    for message in catalog():
        if not message.id or not message.string:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        for text in strings:
            # Chinese has one plural form: it stands for every n, so it fills what the plural msgid fills
            expected = placeholders(ids[-1])
            if placeholders(text) != expected:
                wrong.append(f"{ids[0][:60]!r}: {sorted(expected)} became {sorted(placeholders(text))}")
            # argparse %-formats help texts: a "%" the English has not breaks --help (headings may have one)
            if message.context != "column" and text.count("%") != ids[-1].count("%"):
                wrong.append(f"{ids[0][:60]!r}: its translation has a '%' the message has not: {text[:60]!r}")
            if not CJK.search(text) and re.search(r"[A-Za-z]{3,}\s+[A-Za-z]{3,}", text) and text != ids[0]:
                wrong.append(f"{ids[0][:60]!r}: translated into English words only: {text[:60]!r}")
    assert not wrong, "\n".join(wrong)


def test_the_catalog_translates_at_run_time():
    try:
        i18n.use_language("zh-CN")
        assert i18n._("Sign out") != "Sign out" and CJK.search(i18n._("Sign out"))
        assert CJK.search(i18n.pgettext("column", "device_id"))
        assert i18n.pgettext("column", "not a column") == "not a column"
    finally:
        i18n.use_language("en")
    assert i18n.pgettext("column", "device_id") == "device_id"


def test_run_summaries_keep_their_label_column_in_chinese():
    """A run's summary is a column of labels ("  files      ...", "  gaps       ..."): the Chinese
    label fills the same terminal columns, so the values still line up under each other."""
    from pipeline.common.text import display_width

    label = re.compile(r"^  ([a-z]+(?: [a-z]+)?) +(?=\S)")
    checked = []
    for message in catalog():
        if not isinstance(message.id, str) or not message.string or not label.match(message.id):
            continue
        english = label.match(message.id).group(0)
        if len(english) != 13:                  # not one of the summaries' 11-column labels
            continue
        chinese = re.match(r"^  \S+ +", message.string)
        assert chinese and display_width(chinese.group(0)) == 13, f"{message.id[:40]!r} -> {message.string[:30]!r}"
        checked.append(message.id)
    assert len(checked) >= 15                   # ingest, transcode and verify summaries


# Words the Chinese interface does not use, and the glossary's term (docs/glossary.md) it uses instead:
# one thing, one name, in every message.
NOT_OUR_WORDS = {
    r"(?<!字符)(?<!块)设备": "执法记录仪 / 记录仪 (a device file: 字符设备, 块设备)",
    r"执法仪|摄像机|摄像头": "执法记录仪",
    r"间断|断档": "中断",
    r"解释": "说明 (中断说明)",
    r"警员|民警": "执法人员",
    r"常规保存|普通保存": "一般保存",
    r"视频记录|录像记录": "音像记录",
    r"交接|移交": "领用 / 归还",
    r"保留期限|(?<!最短)保存期(?![限内])": "保存期限 (保存期内: retained; 最短保存期: the floor)",
    r"(?<!终)结案": "案件终结",
    r"调阅": "调取",
    r"清除": "删除 (到期删除)",
}


def test_the_chinese_interface_keeps_to_the_glossary():
    glossary = (REPO / "docs" / "glossary.md").read_text(encoding="utf-8")
    for term in ("台账", "中断说明", "案件终结", "刻录光盘长期保存", "调取审批", "执法记录仪", "执法证号", "保存期限"):
        assert term in glossary, term
    off = []
    for message in catalog():
        strings = [message.string] if isinstance(message.string, str) else list(message.string or ())
        for text in strings:
            for pattern, ours in NOT_OUR_WORDS.items():
                if text and re.search(pattern, text):
                    off.append(f"{str(message.id)[:50]!r}: {re.search(pattern, text).group(0)} -> {ours}")
    assert not off, "\n".join(off)


# -- text shown to people that never reached the seam --------------------------------------------------
SCANNED = ["pipeline/cli.py", *sorted(str(p.relative_to(REPO)) for p in (REPO / "pipeline" / "commands").glob("*.py")),
           *sorted(str(p.relative_to(REPO)) for p in (REPO / "pipeline" / "report").glob("*.py")
                   if p.name != "assets.py"),                           # a style sheet and a script, no text
           "pipeline/disc/bag.py", "pipeline/records/bag.py",
           # run summaries and progress, and the reasons the per-file stages store for people to read
           "pipeline/runs/ingest.py", "pipeline/runs/transcode.py", "pipeline/runs/verify.py", "pipeline/runs/progress.py",
           "pipeline/stages/checksum.py", "pipeline/stages/demux.py", "pipeline/stages/gaps.py",
           "pipeline/stages/transcode.py", "pipeline/stages/fixity.py", "pipeline/stages/thumbnails.py",
           "pipeline/runs/discover.py", "pipeline/native/thumbs.py", "pipeline/native/transcode.py"]
MARKS = ("_", "N_", "ngettext", "pgettext", "gettext")
# A line may say why its text is not for translation: ``# untranslated: <why>`` (SQL, a file's
# machine-read name, a tag another program reads).
OPT_OUT = "# untranslated:"
WORDS = re.compile(r"[A-Za-z]{2,}[,.:;'()]?\s+\(?[A-Za-z]{2,}")           # two words: a phrase
WORD = re.compile(r"\b[A-Za-z]{2,}\b")


def shows_words(text: str) -> bool:
    """A phrase; in a piece of HTML, any word outside its tags (a heading, a cell, a label)."""
    if "<" not in text and ">" not in text:
        return bool(WORDS.search(text))
    visible = re.sub(r"<[^<>]*>", " ", text)
    visible = re.sub(r"<[^<>]*$", " ", re.sub(r"^[^<>]*>", " ", visible))     # tags cut between two literals
    return bool(WORD.search(visible))


def untranslated_literals(source: str) -> list[tuple[int, str]]:
    """String literals with English words in ``source`` that are not inside ``_()`` (or a marker),
    not a docstring, not a dictionary key or subscript, and not on a line marked ``# untranslated:``."""
    tree = ast.parse(source)
    lines = source.splitlines()
    parent = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}

    def marked(node) -> bool:
        while node in parent:
            node = parent[node]
            if isinstance(node, ast.Call):
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                if name in MARKS:
                    return True
        return False

    def opted_out(node) -> bool:
        return any(OPT_OUT in lines[n - 1] for n in range(node.lineno, (node.end_lineno or node.lineno) + 1))

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        else:
            continue
        above = parent.get(node)
        if isinstance(above, (ast.JoinedStr, ast.Expr)) or not shows_words(text):
            continue                                            # a part of an f-string; a docstring
        if isinstance(above, ast.Dict) and node in above.keys or isinstance(above, ast.Subscript):
            continue
        if isinstance(above, ast.Compare) or marked(node) or opted_out(node):
            continue
        found.append((node.lineno, text))
    return found


def calls_inside_fstrings(source: str) -> list[tuple[int, str]]:
    """``_("...")`` inside an f-string's braces: Babel's extractor does not look there, so the message
    would never reach the catalog (and stay English)."""
    tree = ast.parse(source)
    parent = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        name = getattr(node, "func", None)
        name = getattr(name, "id", getattr(name, "attr", None))
        literal = isinstance(node, ast.Call) and any(isinstance(a, ast.Constant) and isinstance(a.value, str)
                                                     for a in node.args)
        if literal and name in MARKS:                # _(VARIABLE) translates text marked N_ elsewhere
            up = parent.get(node)
            while up is not None and not isinstance(up, ast.JoinedStr):
                up = parent.get(up)
            if up is not None:
                found.append((node.lineno, ast.unparse(node)))
    return found


def test_no_message_hides_inside_an_fstring():
    assert calls_inside_fstrings('x = f"<b>{_(\'hidden\')}</b>"\ny = _("seen")\n') == [(1, "_('hidden')")]
    hidden = [f"{path.relative_to(REPO)}:{n}: {call}" for path in sorted((REPO / "pipeline").rglob("*.py"))
              for n, call in calls_inside_fstrings(path.read_text(encoding="utf-8"))]
    assert not hidden, "translated text inside an f-string (Babel cannot extract it):\n" + "\n".join(hidden)


def test_the_scan_finds_a_planted_untranslated_message():
    planted = ('from pipeline.common.i18n import _\n'
               'def f(x):\n'
               '    """A docstring is not shown."""\n'
               '    print(_("translated text here"))\n'
               '    print(f"left in English {x} here")\n'
               '    return {"a key": _("a value")}["a key"]\n'
               '    q = "SELECT a FROM b"  # untranslated: SQL\n'
               '    return "pipeline.commands.ingest", "--retry-failed", "<th>files</th>"\n')
    assert untranslated_literals(planted) == [(5, "left in English {} here"), (8, "<th>files</th>")]


@pytest.mark.parametrize("module", SCANNED)
def test_cli_and_report_text_goes_through_the_seam(module):
    found = untranslated_literals((REPO / module).read_text(encoding="utf-8"))
    assert not found, "text shown to people without _():\n" + "\n".join(f"{module}:{n}: {t[:80]!r}" for n, t in found)
