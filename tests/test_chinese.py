"""Chinese first, end to end: the main commands in Chinese, and Chinese input unchanged everywhere.

One archive per module: a dock folder named in Chinese, recordings of officer 张三 (an enforcement
certificate number kept as text), a case with a Chinese title, an explanation and a device ledger
entry typed in Chinese. Each of them must come back byte for byte through the catalog, CSV, JSON,
the report, an export bag and a staged disc (folder and ISO image), and the commands must speak
Chinese when asked (``--lang zh-CN``, the archive's ``site.language``, the environment).
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from catalog.store import Catalog
from pipeline.common import i18n
from pipeline.common.text import display_width
from tests.helpers import cli, ingest, lean_config
from tests.recorder_drops import clip
from tests.webkit import grant

CJK = re.compile(r"[\u4e00-\u9fff]")
DOCK = "采集站一"
OFFICER = "张三"
NAMES = ("CAMZ1_张三_20250602090000_0001.MP4", "CAMZ1_张三_20250602090100_0002.MP4")
CASE = "案-2025-017"
TITLE = "市场街占道经营执法（第一次）"
REASON = "更换电池，暂停录像"
UNIT = "城管执法一中队"
T0 = datetime(2025, 6, 2, 9, 0, 0)                  # Beijing wall clock of the first file


@pytest.fixture(scope="module")
def archive(tmp_path_factory, ray_local) -> Path:
    """Two recordings of 张三 with a 30 s pause between them (a gap inside one recording session)."""
    root = tmp_path_factory.mktemp("chinese")
    clip(root / "drop" / DOCK, NAMES[0], T0, 30)
    clip(root / "drop" / DOCK, NAMES[1], T0 + timedelta(seconds=60), 30)
    ingest([root / "drop"], root / "archive", lean_config())
    return root / "archive"


@pytest.fixture(scope="module")
def typed(archive) -> dict:
    """The Chinese a clerk types: a case, its recordings, an explanation, a registration."""
    import pytest as _pytest

    capsys = _Capture()
    a = ["--archive", archive]
    gap = _gaps(archive)[0]["gap_id"]
    for argv in (["case", "open", CASE, "--title", TITLE, "--by", "李警官"],
                 ["case", "assign", CASE, "--device", "CAMZ1", "--from", "2025-06-02 08:00", "--to",
                  "2025-06-02 10:00", "--by", "李警官"],
                 ["explain", gap, "--reason", REASON, "--by", OFFICER, "--approved-by", "王警长"],
                 ["device", "register", "CAMZ1", "--unit", UNIT, "--by", "装备室"]):
        code, _out, err = capsys.run(*argv, *a)
        if code != 0:
            _pytest.fail(f"{argv}: {err}")
    return {"gap": gap}


class _Capture:
    """``fieldrec`` in-process for module fixtures (pytest's capsys is per test)."""

    def run(self, *argv):
        import contextlib

        from pipeline.cli import main

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in argv])
            except SystemExit as exc:
                code = exc.code
        i18n.use_language("en")
        return code, out.getvalue(), err.getvalue()


def _gaps(archive: Path) -> list[dict]:
    return json.loads(_Capture().run("gaps", "--archive", archive, "--format", "json")[1])


# -- Chinese input, unchanged ---------------------------------------------------------------------------
def test_chinese_names_and_folders_are_cataloged_unchanged(archive):
    recordings = {r["source_name"]: r for r in Catalog(archive).rows("recordings")}
    assert set(recordings) == set(NAMES)
    assert {r["officer_id"] for r in recordings.values()} == {OFFICER}
    assert {r["source_name_bytes"] for r in recordings.values()} == {n.encode() for n in NAMES}
    sightings = Catalog(archive).rows("sightings")
    assert all(f"/{DOCK}/" in s["source_path"] for s in sightings)


def test_typed_chinese_reaches_the_catalog_unchanged(archive, typed):
    catalog = Catalog(archive)
    assert [(c["case_id"], c["title"], c["by"]) for c in catalog.rows("cases")] == [(CASE, TITLE, "李警官")]
    [explanation] = catalog.rows("explanations")
    assert (explanation["reason"], explanation["explained_by"], explanation["approved_by"]) == (REASON, OFFICER,
                                                                                                 "王警长")
    [event] = catalog.rows("device_events")
    assert (event["unit"], event["by"]) == (UNIT, "装备室")


def test_csv_and_json_carry_chinese_as_typed(archive, typed, capsys):
    code, out, _ = cli(capsys, "case", "list", "--archive", archive, "--format", "csv")
    assert code == 0 and list(csv.DictReader(io.StringIO(out)))[0]["title"] == TITLE
    code, out, _ = cli(capsys, "case", "show", CASE, "--archive", archive, "--format", "json")
    assert code == 0 and "\\u" not in out
    assert {(r["source_name"], r["officer_id"]) for r in json.loads(out)} == {(n, OFFICER) for n in NAMES}
    code, out, _ = cli(capsys, "gaps", "--archive", archive, "--all", "--format", "csv")
    row = next(r for r in csv.DictReader(io.StringIO(out)) if r["gap_id"] == typed["gap"])
    assert (row["explanation_reason"], row["explained_by"], row["officer_id"]) == (REASON, OFFICER, OFFICER)
    code, out, _ = cli(capsys, "ledger", "--archive", archive, "--format", "json")
    assert json.loads(out)[0]["registration"]["unit"] == UNIT and "\\u" not in out


def test_the_report_shows_chinese_input_unchanged(archive, typed, tmp_path, capsys):
    out = tmp_path / "报告.html"
    code, said, err = cli(capsys, "report", "--archive", archive, "-o", out, "--lang", "zh-CN")
    assert code == 0, err
    page = out.read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in page and "报告.html" in said
    for text in (*NAMES, OFFICER, REASON, "审看报告", "运行汇总"):
        assert text in page, text


def test_an_export_bag_keeps_chinese_names_and_reasons(archive, typed, tmp_path, capsys):
    approval = grant(archive, "export", "case", CASE)
    dest = tmp_path / "调取"
    code, said, err = cli(capsys, "export", "--archive", archive, "--to", dest, "--approval", approval,
                          "--reason", "法院调取：占道经营案", "--lang", "zh-CN")
    assert code == 0, err
    assert "已导出 2 个文件" in said
    assert sorted(p.name for p in (dest / "data").iterdir() if p.is_file()) == sorted(NAMES)
    manifest = (dest / "manifest-sha256.txt").read_text(encoding="utf-8")
    assert all(f"data/{n}" in manifest for n in NAMES)
    info = (dest / "bag-info.txt").read_text(encoding="utf-8")
    assert "Export-Reason: 法院调取：占道经营案" in info and "Approval-Reference: " in info   # tags stay English
    readme = (dest / "README.txt").read_text(encoding="utf-8")
    assert approval in readme and "法院调取：占道经营案" in readme and "如何检查内容未被改动" in readme
    logged = [r for r in Catalog(archive).rows("access_log") if r["request_id"] == approval]
    assert {Path(r["destination"]).name for r in logged} == set(NAMES)


def test_a_staged_disc_keeps_chinese_names_in_folder_and_iso(archive, typed, tmp_path, capsys):
    from pipeline.native.iso import IsoTree

    plan, staging = tmp_path / "计划.json", tmp_path / "刻录"
    code, _, err = cli(capsys, "disc", "plan", "--archive", archive, "--case", CASE, "--capacity-bytes",
                       str(700 * 1024 * 1024), "--out", plan)
    assert code == 0, err
    code, _, err = cli(capsys, "disc", "stage", plan, "--archive", archive, "--out", staging, "--iso",
                       "--lang", "zh-CN")
    assert code == 0, err
    [folder] = [p for p in staging.iterdir() if p.is_dir()]
    on_disc = sorted(p.name for p in (folder / "data" / "CAMZ1").iterdir())
    assert len(on_disc) == 2 and all(f"_{OFFICER}_" in name for name in on_disc), on_disc
    info = (folder / "bag-info.txt").read_text(encoding="utf-8")
    assert f"Case-ID: {CASE}" in info and "Bag-Count: 1 of 1" in info
    rows = list(csv.DictReader(io.StringIO((folder / "catalog" / "recordings.csv").read_text(encoding="utf-8"))))
    assert {(r["source_name"], r["officer_id"]) for r in rows} == {(n, OFFICER) for n in NAMES}
    readme = (folder / "README.txt").read_text(encoding="utf-8")
    assert CASE in readme and "这是什么" in readme and "CAMZ1" in readme
    with IsoTree(staging / f"{folder.name}.iso") as tree:
        assert {f"data/CAMZ1/{n}" for n in on_disc} <= set(tree.files())
    code, out, err = cli(capsys, "disc", "verify", staging / f"{folder.name}.iso", "--lang", "zh-CN")
    assert code == 0 and "正常" in out, out + err


# -- the main commands in Chinese -----------------------------------------------------------------------
MAIN = [
    (["gaps", "--all"], "中断编号"),
    (["case", "list"], "案件编号"),
    (["case", "show", CASE], "保存类别"),
    (["retention", "--all"], "保存至"),
    (["compliance"], "逾期上传"),
    (["ledger"], "登记"),
    (["config", "show"], "设置项"),
    (["sql", "SELECT count(*) AS n FROM recordings"], "（1 行）"),
    (["verify"], "fieldrec 完整性校验"),
]


@pytest.mark.parametrize("argv, expected", [pytest.param(a, e, id=a[0] + ("-" + a[1] if len(a) > 1 and
                                                                          not a[1].startswith("-") else ""))
                                           for a, e in MAIN])
def test_main_commands_speak_chinese(archive, typed, capsys, argv, expected):
    code, out, err = cli(capsys, *argv, "--archive", archive, "--lang", "zh-CN")
    assert code == 0, err
    assert expected in out + err
    lines = [line for line in out.splitlines() if line.strip()]
    if argv[0] in ("gaps", "case", "retention", "compliance", "config"):        # a table: headings in Chinese
        headings = lines[0].split()
        assert headings and all(CJK.search(h) or h == "SHA-256" for h in headings), headings
        # every row's columns start where the heading's do, counted in terminal columns
        starts = [display_width(lines[0][:lines[0].index(h)]) for h in headings[1:2]]
        assert all(display_width(line) >= starts[0] for line in lines[1:]), lines


def test_every_command_help_is_chinese_and_fits_the_terminal(capsys, monkeypatch):
    from pipeline.cli import COMMANDS

    monkeypatch.setenv("COLUMNS", "80")
    commands = ["ingest", "gaps", "explain", "case", "retention", "purge", "compliance", "device", "ledger",
                "attribute", "export", "verify", "keygen", "report", "sql", "thumbs", "transcode", "config",
                "quarantine", "serve", "user", "disc"]
    assert len(commands) >= len(COMMANDS)
    for command in commands:
        code, out, _ = cli(capsys, "--lang", "zh-CN", command, "--help")
        assert code == 0 and out.startswith("用法："), command
        options = out.split("\n选项:\n", 1)[-1]
        assert CJK.search(options), f"{command}: options not in Chinese"
        wide = [line for line in options.splitlines() if display_width(line) > 80]
        assert not wide, f"{command}: lines wider than the terminal: {wide}"


def test_argparse_own_words_and_our_errors_are_chinese(archive, capsys):
    code, _, err = cli(capsys, "--lang", "zh-CN", "gaps")
    assert code == 2 and "缺少必需的参数: --archive" in err
    code, _, err = cli(capsys, "--lang", "zh-CN", "gaps", "--archive", archive, "--format", "xml")
    assert code == 2 and "无效的选项" in err
    code, _, err = cli(capsys, "--lang", "zh-CN", "case", "open", "X", "--archive", archive, "--by", " ")
    assert code == 2 and "操作人姓名为空" in err
    code, _, err = cli(capsys, "--lang", "zh-CN", "explain", "nosuchgap", "--archive", archive, "--reason", "x",
                       "--by", "y")
    assert code == 2 and "本档案库中没有编号为" in err


# -- which language: --lang, the archive's setting, the environment ----------------------------------------
def test_the_archive_setting_chooses_the_language_and_lang_overrides_it(archive, tmp_path, capsys, monkeypatch):
    from tests.helpers import copy_of

    mine = copy_of(archive, tmp_path)
    english = "gap(s), "
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    code, _, err = cli(capsys, "gaps", "--archive", mine)
    assert code == 0 and "处中断" in err                                     # unset: the environment's
    code, _, err = cli(capsys, "config", "set", "site.language", "en", "--archive", mine, "--by", "赵文员",
                       "--reason", "英文界面")
    assert code == 0, err
    code, _, err = cli(capsys, "gaps", "--archive", mine)
    assert english in err                                                     # the archive's, over LANG
    code, _, err = cli(capsys, "gaps", "--archive", mine, "--lang", "zh-CN")
    assert "处中断" in err                                                    # --lang over the archive
    code, _, err = cli(capsys, "config", "set", "site.language", "zh-CN", "--archive", mine, "--by", "赵文员",
                       "--reason", "中文界面")
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    code, _, err = cli(capsys, "gaps", "--archive", mine)
    assert "处中断" in err
    code, out, _ = cli(capsys, "gaps", "--archive", mine, "--help")
    assert out.startswith("用法：")                                            # even --help
    changes = [c for c in Catalog(mine).rows("settings_changes") if c["key"] == "site.language"]
    assert [json.loads(c["new_value"]) for c in sorted(changes, key=lambda c: c["at"])] == ["en", "zh-CN"]


@pytest.mark.parametrize("value", ["fr", "klingon", "zh-CN\n"])
def test_a_language_the_ui_does_not_offer_is_refused_naming_the_key(archive, tmp_path, capsys, value):
    from tests.helpers import copy_of

    mine = copy_of(archive, tmp_path)
    code, _, err = cli(capsys, "config", "set", "site.language", json.dumps(value), "--archive", mine, "--by", "x",
                       "--reason", "y")
    assert code == 2 and "site.language" in err
    site = tmp_path / "site.toml"
    site.write_text(f"[site]\nlanguage = {json.dumps(value)}\n", encoding="utf-8")
    code, _, err = cli(capsys, "gaps", "--archive", tmp_path / "new", "--config", site)
    assert code == 2 and "site.language" in err


def test_a_new_archive_takes_its_language_from_its_first_configuration(tmp_path, capsys, ray_local):
    site = tmp_path / "site.toml"
    site.write_text('[site]\nlanguage = "zh-CN"\n\n[ingest]\nfsync = false\n', encoding="utf-8")
    clip(tmp_path / "drop", "CAMN_李四_20250602090000_0001.MP4", T0, 5)
    (tmp_path / "drop" / "CAMN_李四_20250602091000_0002.MP4").write_bytes(b"")      # a recorder that wrote nothing
    archive = tmp_path / "新档案库"
    code, out, err = cli(capsys, "ingest", tmp_path / "drop", "--archive", archive, "--config", site, "--quiet")
    assert code == 0, err
    assert "档案库" in out                                   # the creating run already speaks the archive's language
    assert "fieldrec 导入" in out and "：已完成" in out and "文件       发现 2 个" in out, out   # its summary too
    assert "seen," not in out and "already ingested" not in out
    # the reasons the workers write into the catalog read as the run does
    empty = next(r for r in Catalog(archive).rows("sightings") if r["source_path"].endswith("_0002.MP4"))
    assert empty["status"] == "damaged" and "空文件（0 字节）" in empty["error_message"], empty
    assert "空文件（0 字节）" in out
    assert {r["officer_id"] for r in Catalog(archive).rows("recordings")} == {"李四"}
    code, _, err = cli(capsys, "gaps", "--archive", archive)
    assert "处中断" in err


def test_progress_lines_speak_chinese():
    import io

    from pipeline.runs.progress import Progress

    i18n.use_language("zh-CN")
    ticks = iter([0.0, 30.0, 30.0, 30.0])
    bar = Progress(10, 1_000_000, stream=io.StringIO(), clock=lambda: next(ticks), env={"CI": "1"})
    bar.advance(4, 400_000)
    assert bar.log_line(30.0).startswith("导入：40% - 4/10 个文件")
    assert "预计剩余" in bar.line(30.0)


@pytest.mark.filterwarnings("ignore:Using `httpx`")
def test_the_review_service_pages_are_chinese_and_show_chinese_input(archive, typed, tmp_path):
    import shutil

    from starlette.testclient import TestClient

    from pipeline.web.app import create_app
    from tests.webkit import add_accounts, fast_config, sign_in

    copy = tmp_path / "archive"
    shutil.copytree(archive, copy)
    add_accounts(copy)
    i18n.use_language("zh-CN")                  # as `fieldrec serve` chooses it: --lang, site.language, environment
    app = create_app(copy, fast_config(), fsync=False, start_flusher=False)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        login = client.get("/login").text
        assert '<html lang="zh-CN"' in login and "<h2>登录</h2>" in login
        assert sign_in(client, "clerk.zhao").status_code == 303
        home = client.get("/").text
        assert "采集情况" in home and "逾期上传" in home and "待说明的中断" in home and "退出" in home
        device = client.get("/devices/CAMZ1").text
        assert NAMES[0] in device and ">正常</td>" in device           # a status in the regulation's words
        cases = client.get("/cases").text
        assert TITLE in cases and "<td>案件保存</td>" in cases          # typed in Chinese, shown unchanged
        for page in (login, home, device, cases):
            assert "Sign out" not in page and "Late uploads" not in page


def test_the_demo_site_is_chinese_and_the_makefile_uses_it():
    """``make demo`` builds its archive from configs/site-zh.toml: a Chinese site on Beijing time."""
    from pipeline.config import load_config

    root = Path(__file__).resolve().parents[1]
    site = load_config(root / "configs" / "site-zh.toml").site
    assert site.language == "zh-CN" and site.time_zone == "Asia/Shanghai"
    demo = (root / "Makefile").read_text(encoding="utf-8").split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    assert "--config configs/site-zh.toml" in demo
