"""Disc plan, stage, ISO and verify through the CLI, on an archive built directly (no Ray)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from catalog.store import Catalog
from pipeline.cli import main
from pipeline.disc.pack import FIXED_OVERHEAD
from pipeline.native.iso import IsoTree, write_iso
from pipeline.archive.objects import ObjectStore
from tests.helpers import table

# a few discs' worth: 8 MiB of estimated file-system overhead plus room for ~3 clips
CAPACITY = FIXED_OVERHEAD + 200_000


@dataclass(frozen=True)
class Clip:
    device: str
    officer: str
    start: str              # device time, YYYYmmddHHMMSS
    size: int
    ext: str = ".mp4"

    @property
    def name(self) -> str:
        return f"{self.device}_{self.officer}_{self.start}{self.ext}"


CLIPS = [
    Clip("CAM01", "OFF7", "20240314101500", 61_000),
    Clip("CAM01", "OFF7", "20240314103000", 45_000),
    Clip("CAM01", "OFF7", "20240314110000", 70_000),
    Clip("CAM02", "OFF9", "20240314101700", 52_000),
    Clip("CAM02", "OFF9", "20240314104500", 38_000, ".wav"),
    Clip("CAM03", "OFF2", "20240315080000", 20_000, ".jpg"),
    Clip("CAM03", "OFF2", "20240315090000", 83_000),
]


def build_archive(root: Path, clips=CLIPS) -> dict[str, Clip]:
    """Originals in the object store and their ``recordings`` rows, as an ingest leaves them."""
    store = ObjectStore(root, fsync=False).create()
    catalog = Catalog(root, fsync=False).create()
    rows, by_sha = [], {}
    for n, clip in enumerate(clips):
        data = hashlib.sha256(clip.name.encode()).digest() * (clip.size // 32 + 1)
        data = data[: clip.size]
        sha = hashlib.sha256(data).hexdigest()
        tmp = store.temp_path()
        tmp.write_bytes(data)
        store.commit(tmp, sha)
        start = datetime.strptime(clip.start, "%Y%m%d%H%M%S")
        rows.append({"sha256": sha, "size": clip.size, "kind": "video", "device_id": clip.device,
                     "officer_id": clip.officer, "start_time": start, "source_name": clip.name,
                     "status": "ok", "archive_path": ObjectStore.relpath(sha), "run_id": "test",
                     "ingested_at": datetime.now(timezone.utc), "tags_json": json.dumps({"n": n})})
        by_sha[sha] = clip
    catalog.commit({"recordings": rows}, tag="test")
    return by_sha


def fieldrec(*args) -> int:
    return main([str(a) for a in args])


@pytest.fixture
def archive(tmp_path) -> Path:
    root = tmp_path / "archive"
    build_archive(root)
    return root


@pytest.fixture
def staged(tmp_path, archive, capsys) -> dict:
    plan_path = tmp_path / "plan.json"
    assert fieldrec("disc", "plan", "--archive", archive, "--device", "CAM01", "--device", "CAM02",
                    "--device", "CAM03", "--capacity-bytes", CAPACITY, "--reserve", 0, "--out", plan_path) == 0
    plan = json.loads(plan_path.read_text())
    assert fieldrec("disc", "stage", plan_path, "--archive", archive, "--out", tmp_path / "out", "--iso") == 0
    capsys.readouterr()
    return plan


def test_plan_spreads_files_over_several_discs_each_once(staged):
    plan = staged
    assert plan["disc_count"] >= 3
    assert plan["disc_count"] <= plan["lower_bound"] + 1
    paths = [f["disc_path"] for d in plan["discs"] for f in d["files"]]
    assert len(paths) == len(set(paths)) == len(CLIPS)
    assert "data/CAM01/20240314T101500_OFF7_" in paths[0] and paths[0].endswith(".mp4")
    assert all(d["estimated_bytes"] <= CAPACITY for d in plan["discs"])


def test_staged_disc_is_a_complete_bag(tmp_path, archive, staged):
    disc = staged["discs"][0]
    folder = tmp_path / "out" / disc["label"]
    info = (folder / "bag-info.txt").read_text()
    assert f"Bag-Count: 1 of {staged['disc_count']}" in info
    size = sum(f["size"] for f in disc["files"])
    assert f"Payload-Oxum: {size}.{len(disc['files'])}" in info
    assert (folder / "bagit.txt").read_text().startswith("BagIt-Version: 1.0")
    manifest = (folder / "manifest-sha256.txt").read_text().splitlines()
    assert len(manifest) == len(disc["files"])
    for f in disc["files"]:
        assert (folder / f["disc_path"]).read_bytes() == (archive / f["source"]).read_bytes()
        assert f"{f['sha256']}  {f['disc_path']}" in manifest
    tags = (folder / "tagmanifest-sha256.txt").read_text()
    for name in ("bagit.txt", "bag-info.txt", "manifest-sha256.txt", "README.txt",
                 "catalog/recordings.csv", "catalog/recordings.parquet"):
        assert f"  {name}\n" in tags
    import pyarrow.parquet as pq

    exported = pq.read_table(folder / "catalog" / "recordings.parquet").to_pylist()
    assert sorted(r["disc_path"] for r in exported) == sorted(f["disc_path"] for f in disc["files"])
    assert "sha256sum -c manifest-sha256.txt" in (folder / "README.txt").read_text()


def test_archive_records_every_disc_and_file(tmp_path, archive, staged):
    discs = {r["label"]: r for r in table(archive, "discs")}
    assert sorted(discs) == [d["label"] for d in staged["discs"]]
    for d in staged["discs"]:
        image = tmp_path / "out" / f"{d['label']}.iso"
        row = discs[d["label"]]
        assert row["image_sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
        assert row["files"] == len(d["files"]) and row["image_bytes"] == image.stat().st_size
        assert row["image_bytes"] <= CAPACITY
    on_disc = table(archive, "disc_files")
    assert len(on_disc) == len(CLIPS) and len({r["sha256"] for r in on_disc}) == len(CLIPS)


def test_iso_reads_back_with_full_names_in_every_namespace(tmp_path, archive, staged):
    disc = staged["discs"][0]
    with IsoTree(tmp_path / "out" / f"{disc['label']}.iso") as iso:
        assert iso.namespaces() == ["rr_path", "joliet_path", "udf_path"]
        expected = sorted(["bagit.txt", "bag-info.txt", "manifest-sha256.txt", "tagmanifest-sha256.txt",
                           "README.txt", "catalog/recordings.csv", "catalog/recordings.parquet"]
                          + [f["disc_path"] for f in disc["files"]])
        for ns in iso.namespaces():
            assert iso.files(ns) == expected
        first = disc["files"][0]
        with iso.open(first["disc_path"]) as fh:
            assert fh.read() == (archive / first["source"]).read_bytes()


def test_staged_folders_and_images_verify(tmp_path, archive, staged, capsys):
    for d in staged["discs"]:
        for target in (tmp_path / "out" / d["label"], tmp_path / "out" / f"{d['label']}.iso"):
            assert fieldrec("disc", "verify", target, "--archive", archive) == 0, capsys.readouterr().out
    checks = table(archive, "disc_verifications")
    assert len(checks) == 2 * staged["disc_count"] and {c["result"] for c in checks} == {"ok"}
    capsys.readouterr()
    assert fieldrec("disc", "list", "--archive", archive, "--format", "json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["verifications"] for r in listed] == [2] * staged["disc_count"]


@dataclass(frozen=True)
class Damage:
    problem: str                 # the start of the reported problem


def flip_a_byte(folder: Path, disc: dict) -> None:
    path = folder / disc["files"][0]["disc_path"]
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def delete_a_file(folder: Path, disc: dict) -> None:
    (folder / disc["files"][-1]["disc_path"]).unlink()


def add_a_file(folder: Path, disc: dict) -> None:
    (folder / "data" / "CAM09").mkdir()
    (folder / "data" / "CAM09" / "planted.mp4").write_bytes(b"not from the archive")


def edit_the_readme(folder: Path, disc: dict) -> None:
    with open(folder / "README.txt", "a") as fh:
        fh.write("edited\n")


DAMAGE = [
    pytest.param(flip_a_byte, "changed: data/CAM01/", id="flipped-byte"),
    pytest.param(delete_a_file, "missing: data/", id="missing-file"),
    pytest.param(add_a_file, "extra: data/CAM09/planted.mp4", id="extra-file"),
    pytest.param(edit_the_readme, "changed: README.txt", id="edited-tag-file"),
]


@pytest.mark.parametrize("damage, problem", DAMAGE)
def test_damage_to_a_staged_folder_is_detected(tmp_path, staged, capsys, damage, problem):
    disc = staged["discs"][0]
    folder = tmp_path / "out" / disc["label"]
    damage(folder, disc)
    assert fieldrec("disc", "verify", folder) == 1
    assert problem in capsys.readouterr().out


@pytest.mark.parametrize("damage, problem", DAMAGE)
def test_damage_in_an_image_is_detected(tmp_path, staged, capsys, damage, problem):
    """An image mastered from a damaged copy of the folder: what a bad burn source looks like."""
    disc = staged["discs"][0]
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "out" / disc["label"], copy)
    damage(copy, disc)
    image = tmp_path / "damaged.iso"
    write_iso(copy, image, disc["label"])
    assert fieldrec("disc", "verify", image) == 1
    assert problem in capsys.readouterr().out


def test_a_flipped_byte_inside_an_image_is_detected(tmp_path, staged, capsys):
    disc = staged["discs"][0]
    image = tmp_path / "out" / f"{disc['label']}.iso"
    with IsoTree(image) as iso:
        offset, _length = iso.iso.get_file_byte_extents(rr_path="/" + disc["files"][0]["disc_path"])[0]
    with open(image, "r+b") as fh:
        fh.seek(offset + 100)
        byte = fh.read(1)
        fh.seek(offset + 100)
        fh.write(bytes([byte[0] ^ 0x80]))
    assert fieldrec("disc", "verify", image) == 1
    assert f"changed: {disc['files'][0]['disc_path']}" in capsys.readouterr().out


def test_staging_again_skips_finished_discs(tmp_path, archive, staged, capsys):
    assert fieldrec("disc", "stage", tmp_path / "plan.json", "--archive", archive,
                    "--out", tmp_path / "out", "--iso", "--json") == 0
    outcome = json.loads(capsys.readouterr().out)
    assert all(o["skipped"] for o in outcome)
    assert len(table(archive, "discs")) == staged["disc_count"]


def test_a_changed_original_stops_staging(tmp_path, archive, capsys):
    plan_path = tmp_path / "plan.json"
    assert fieldrec("disc", "plan", "--archive", archive, "--device", "CAM03",
                    "--capacity-bytes", CAPACITY, "--reserve", 0, "--out", plan_path) == 0
    source = archive / json.loads(plan_path.read_text())["discs"][0]["files"][0]["source"]
    os.chmod(source, 0o644)
    source.write_bytes(b"x" + source.read_bytes()[1:])
    assert fieldrec("disc", "stage", plan_path, "--archive", archive, "--out", tmp_path / "out") == 1
    assert "no longer has SHA-256" in capsys.readouterr().err
    assert not any((tmp_path / "out").glob("FR_*")) and table(archive, "discs") == []


def test_a_file_larger_than_a_disc_is_refused_by_name(tmp_path, archive, capsys):
    assert fieldrec("disc", "plan", "--archive", archive, "--device", "CAM03",
                    "--capacity-bytes", FIXED_OVERHEAD + 50_000, "--reserve", 0) == 2
    err = capsys.readouterr().err
    assert "CAM03_OFF2_20240315090000.mp4" in err and "--media dvd" in err and "--skip-oversize" in err
    assert fieldrec("disc", "plan", "--archive", archive, "--device", "CAM03", "--capacity-bytes",
                    FIXED_OVERHEAD + 50_000, "--reserve", 0, "--skip-oversize", "--format", "json") == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["files"] == 1 and "CAM03_OFF2_20240315090000.mp4" in plan["refused"][0]["name"]


def test_select_by_sha_prefix_and_device_window(tmp_path, archive, capsys):
    shas = sorted(r["sha256"] for r in table(archive, "recordings"))
    assert fieldrec("disc", "plan", "--archive", archive, "--sha", shas[0][:10], shas[1],
                    "--media", "dvd", "--format", "csv") == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3
    assert fieldrec("disc", "plan", "--archive", archive, "--device", "CAM01", "--since", "2024-03-14T10:20",
                    "--until", "2024-03-14T10:59", "--media", "dvd", "--format", "json") == 0
    plan = json.loads(capsys.readouterr().out)
    assert [f["start_time"] for f in plan["discs"][0]["files"]] == ["2024-03-14T10:30:00"]
    assert fieldrec("disc", "plan", "--archive", archive, "--device", "CAM99", "--media", "dvd") == 2
    assert "CAM99" in capsys.readouterr().err


def test_a_permanent_case_made_with_the_case_command_is_planned(archive, capsys):
    """`fieldrec case` (retention) and `fieldrec disc plan` agree on what a case and a class hold."""
    a = str(archive)
    assert fieldrec("case", "open", "MASS-9", "--archive", a, "--class", "permanent", "--by", "lead") == 0
    assert fieldrec("case", "assign", "MASS-9", "--archive", a, "--device", "CAM01",
                    "--from", "2024-03-14T00:00", "--to", "2024-03-14T23:59", "--by", "lead") == 0
    capsys.readouterr()
    cam1 = sorted(r["sha256"] for r in table(archive, "recordings") if r["device_id"] == "CAM01")
    for selector in (["--case", "MASS-9"], ["--class", "permanent"]):
        assert fieldrec("disc", "plan", "--archive", a, *selector, "--media", "dvd", "--format", "json") == 0
        plan = json.loads(capsys.readouterr().out)
        assert sorted(f["sha256"] for d in plan["discs"] for f in d["files"]) == cam1, selector
    assert fieldrec("disc", "plan", "--archive", a, "--case", "NOPE", "--media", "dvd") == 2


def test_cases_from_assignments_go_on_consecutive_discs(archive, capsys):
    a = str(archive)
    rows = table(archive, "recordings")
    cam3 = sorted(r["sha256"] for r in rows if r["device_id"] == "CAM03")
    for case, cls in (("MASS-1", "permanent"), ("MASS-2", "permanent"), ("MINOR-3", "case")):
        assert fieldrec("case", "open", case, "--archive", a, "--class", cls, "--by", "lead") == 0
    assert fieldrec("case", "assign", "MASS-1", "--archive", a, "--device", "CAM01", "--from", "2024-03-14",
                    "--to", "2024-03-15", "--by", "lead") == 0
    assert fieldrec("case", "assign", "MASS-2", "--archive", a, "--sha", cam3[0], "--by", "lead") == 0
    assert fieldrec("case", "assign", "MINOR-3", "--archive", a, "--device", "CAM02", "--from", "2024-01-01",
                    "--to", "2024-12-31", "--by", "lead") == 0
    capsys.readouterr()
    assert fieldrec("disc", "plan", "--archive", a, "--class", "permanent", "--capacity-bytes",
                    CAPACITY, "--reserve", 0, "--format", "json") == 0
    plan = json.loads(capsys.readouterr().out)
    files = [(d["index"], f) for d in plan["discs"] for f in d["files"]]
    assert sorted(f["device_id"] for _, f in files) == ["CAM01"] * 3 + ["CAM03"]
    for case in ("MASS-1", "MASS-2"):
        on = sorted({n for n, f in files if f["group"] == case})
        assert on == list(range(on[0], on[-1] + 1))


@pytest.mark.skipif(not os.environ.get("FIELDREC_LARGE_TESTS"),
                    reason="writes and reads a 4.2 GiB sparse image (about a minute); set FIELDREC_LARGE_TESTS=1")
def test_a_file_over_4_gib_survives_the_image(tmp_path):
    """ISO 9660 keeps a file length in 32 bits: larger files must become multi-extent files."""
    folder = tmp_path / "bag"
    big = folder / "data" / "CAM01" / "long.mp4"
    big.parent.mkdir(parents=True)
    size = 4 * 2**30 + 12_345
    with open(big, "wb") as fh:                # sparse: marks at both ends, holes between
        fh.write(b"start of the recording")
        fh.seek(size - 20)
        fh.write(b"end of the recording")
    from pipeline.native.hashing import sha256_path

    digest = sha256_path(big)
    (folder / "bagit.txt").write_text("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    (folder / "bag-info.txt").write_text(f"External-Identifier: BIG\nPayload-Oxum: {size}.1\n")
    (folder / "manifest-sha256.txt").write_text(f"{digest}  data/CAM01/long.mp4\n")
    tags = "".join(f"{hashlib.sha256((folder / n).read_bytes()).hexdigest()}  {n}\n"
                   for n in ("bagit.txt", "bag-info.txt", "manifest-sha256.txt"))
    (folder / "tagmanifest-sha256.txt").write_text(tags)
    image = tmp_path / "big.iso"
    write_iso(folder, image, "BIG", sparse=True)
    with IsoTree(image) as iso:
        extents = iso.iso.get_file_byte_extents(iso_path="/DATA/CAM01/LONG.MP4;1")
    assert len(extents) >= 2 and sum(n for _, n in extents) == size
    from pipeline.disc.verify import verify

    report = verify(image)
    assert report.ok, report.problems
    assert report.bytes_checked > size
    offset, length = extents[-1]
    with open(image, "r+b") as fh:             # damage the second extent: beyond 4 GiB
        fh.seek(offset + length - 5)
        fh.write(b"X")
    assert "changed: data/CAM01/long.mp4" in verify(image).problems[0]


def test_proxies_travel_with_their_original(tmp_path, archive, capsys, monkeypatch):
    """With a ``proxies`` table of the expected shape (sha256 of the original, archive_path, size)."""
    import pyarrow as pa

    from catalog import schema

    monkeypatch.setitem(schema.TABLES, "proxies", pa.schema([
        ("sha256", pa.string()), ("archive_path", pa.string()), ("size", pa.int64())]))
    original = next(r for r in table(archive, "recordings") if r["device_id"] == "CAM02")
    proxy = archive / "proxies" / f"{original['sha256']}.mp4"
    proxy.parent.mkdir()
    proxy.write_bytes(b"a small review copy" * 100)
    Catalog(archive, fsync=False).commit({"proxies": [
        {"sha256": original["sha256"], "archive_path": f"proxies/{proxy.name}", "size": 1900}]}, tag="test")
    plan_path = tmp_path / "plan.json"
    assert fieldrec("disc", "plan", "--archive", archive, "--sha", original["sha256"], "--media", "dvd",
                    "--with-derivatives", "--out", plan_path, "--format", "json") == 0
    files = json.loads(capsys.readouterr().out)["discs"][0]["files"]
    assert [f["role"] for f in files] == ["original", "proxy"]
    assert files[1]["disc_path"].startswith("data/_proxy/CAM02/") and files[1]["disc_path"].endswith(".proxy.mp4")
    assert fieldrec("disc", "stage", plan_path, "--archive", archive, "--out", tmp_path / "out") == 0
    label = json.loads(plan_path.read_text())["discs"][0]["label"]
    assert (tmp_path / "out" / label / files[1]["disc_path"]).read_bytes() == proxy.read_bytes()
    assert fieldrec("disc", "verify", tmp_path / "out" / label) == 0
