"""Recorders as they really name files: every shipped naming profile on a generated drop, a site's
own profile, a file no profile attributes (counted, listed, attributed by a person), and identical
bytes docked under names that disagree (flagged, both shown) or agree (nothing to say)."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest

from catalog.store import Catalog
from pipeline.config import ConfigError, load_config
from tests.helpers import by_name, cli, copy_of, ingest, listed, table
from tests.recorder_drops import AGREEING_COPY, CONFLICTING_COPY, PROFILE_FILES, SITE_CONFIG, profiles_drop


@pytest.fixture(scope="module")
def built(tmp_path_factory, ray_local):
    root = tmp_path_factory.mktemp("recorders")
    (root / "site.toml").write_text(SITE_CONFIG)
    config = load_config(root / "site.toml")
    profiles_drop(root / "drop")
    first = ingest([root / "drop" / "dock1"], root / "archive", config)
    again = ingest([root / "drop" / "dock2"], root / "archive", config)     # the copies, docked later
    return {"root": root, "archive": root / "archive", "config": config, "summary": first, "again": again,
            "site": root / "site.toml"}


@pytest.fixture
def archive(built, tmp_path):
    return copy_of(built["archive"], tmp_path)


@pytest.mark.parametrize("name", sorted(PROFILE_FILES))
def test_each_profile_names_device_officer_time_sequence_and_mark(built, name):
    want = PROFILE_FILES[name]
    row = by_name(built["archive"])[name]
    got = (row["device_id"], row["officer_id"], row["start_time"] if want.start else None, row["sequence"],
           bool(row["important"]), row["naming_profile"])
    assert got == (want.device, want.officer, want.start, want.seq, want.important, want.profile)


def test_a_site_profile_reads_its_recorders_local_container_time(built):
    row = by_name(built["archive"])["ZFY0042-20250602090000.MP4"]
    assert row["container_time_zone"] == "local" and row["utc_offset_s"] == 8 * 3600


def test_the_ingest_summary_counts_what_needs_a_person(built):
    summary, again = built["summary"], built["again"]
    assert summary.files_unattributed == 1 and summary.unattributed[0].endswith("MOV0001.MP4")
    assert summary.conflicting == 0 and again.conflicting == 1 and again.files_unattributed == 0
    text = summary.render()
    assert "1 new recording(s) matched no naming profile" in text and "MOV0001.MP4" in text
    assert "1 file(s) docked under names that disagree" in again.render()
    assert summary.to_dict()["files_unattributed"] == 1 and again.to_dict()["files_conflicting"] == 1


def test_identical_bytes_keep_both_identities_and_a_disagreement_is_shown(built, capsys):
    sightings = table(built["archive"], "sightings")
    (copy,) = [r for r in sightings if r["source_path"].endswith(CONFLICTING_COPY)]
    assert (copy["device_id"], copy["officer_id"], copy["naming_profile"]) == ("CAMZ", "OF9", "default")
    ledger = {d["device_id"]: d for d in listed(capsys, "ledger", "--archive", built["archive"])}
    (conflict,) = ledger["CAMA"]["conflicts"]           # the recording stays with its first name's device
    assert "CAMZ" not in ledger
    assert conflict["disagree_on"] == ["device_id", "officer_id", "name_time"]
    assert {(n["device_id"], n["officer_id"]) for n in conflict["names"]} == {("CAMA", "OF7"), ("CAMZ", "OF9")}
    assert sum(r["source_path"].endswith(AGREEING_COPY) for r in sightings) == 2
    assert not ledger["DSJ-A8"]["conflicts"]                       # the same name docked twice agrees
    code, out, _ = cli(capsys, "ledger", "--archive", built["archive"], "--device", "CAMA")
    assert code == 0 and "names that disagree on device_id, officer_id, name_time" in out and CONFLICTING_COPY in out


def test_an_unattributed_recording_is_listed_reported_and_attributed_by_a_person(built, archive, capsys, tmp_path):
    from pipeline.report.html import write_report

    (loose,) = [d for d in listed(capsys, "ledger", "--archive", archive) if d["device_id"] is None]
    assert loose["section"] == "unattributed" and [f["source_name"] for f in loose["files"]] == ["MOV0001.MP4"]
    data = write_report(archive, tmp_path / "r.html", built["config"])
    assert [r.source_name for r in data.unattributed] == ["MOV0001.MP4"]
    page = (tmp_path / "r.html").read_text()
    assert 'id="unattributed"' in page and "MOV0001.MP4" in page and "Names that disagree (1)" in page

    sha = loose["files"][0]["sha256"]
    code, out, err = cli(capsys, "attribute", sha[:10], "--archive", archive, "--device", "CAMA", "--officer", "OF7",
                         "--by", "Clerk Zhao", "--reason", "docked from CAMA's card (dock log 3)")
    assert code == 0 and "attributed to device CAMA, officer OF7" in out, err
    (row,) = table(archive, "attributions")
    assert (row["sha256"], row["device_id"], row["officer_id"], row["by"]) == (sha, "CAMA", "OF7", "Clerk Zhao")
    rec = by_name(archive)["MOV0001.MP4"]
    assert rec["device_id"] is None and rec["source_name"] == "MOV0001.MP4"       # the original row is kept
    ledger = {d["device_id"]: d for d in listed(capsys, "ledger", "--archive", archive)}
    assert ledger[None]["files"] == [] and ledger["CAMA"]["recordings"] == 2      # its own and MOV0001
    manifest = sorted((archive / "manifests").glob("*.json"))[-1].read_text()
    assert "attribute" in manifest and "catalog/attributions/" in manifest         # sealed
    assert cli(capsys, "verify", "--archive", archive)[0] == 0


@pytest.mark.parametrize("argv, problem", [
    pytest.param(["--device", "CAM\nA"], "control character", id="device-newline"),
    pytest.param(["--device", "C" * 200], "at most 128", id="device-too-long"),
    pytest.param(["--device", "CAMA", "--reason", "x" * 100_001], "at most", id="reason-100kB"),
    pytest.param(["--device", "CAMA", "--by", " "], "empty", id="by-blank"),
    pytest.param(["--device", "CAMA", "--sha", "zz"], "not a SHA-256", id="not-a-sha"),
    pytest.param(["--device", "CAMA", "--sha", "0000000000"], "no recording", id="unknown-sha"),
])
def test_attribute_refuses_bad_input_and_writes_nothing(archive, capsys, argv, problem):
    sha = next(r["sha256"] for r in table(archive, "recordings") if r["source_name"] == "MOV0001.MP4")
    args = {"--sha": sha, "--by": "Clerk", "--reason": "dock log"}
    rest = []
    for i in range(0, len(argv), 2):
        args[argv[i]] = argv[i + 1] if argv[i] in args else args.get(argv[i])
        if argv[i] not in ("--sha", "--by", "--reason"):
            rest += argv[i:i + 2]
    code, _, err = cli(capsys, "attribute", args["--sha"], "--archive", archive, "--by", args["--by"],
                       "--reason", args["--reason"], *rest)
    assert code == 2 and problem in err
    assert table(archive, "attributions") == []


def test_a_copy_named_by_its_recorder_attributes_an_unnamed_first_sighting(tmp_path, fast_config, ray_local):
    from pipeline.records import attribution
    from tests.recorder_drops import T, clip

    first, second = tmp_path / "first", tmp_path / "second"
    named = clip(first, "CAMA_OF7_20250602100000_0001.MP4", T, 1.0)
    first.joinpath("CAMA_OF7_20250602100000_0001.MP4").rename(first / "copy.bin")
    second.mkdir()
    shutil.copyfile(first / "copy.bin", second / named.name)
    ingest([first], tmp_path / "a", fast_config)
    ingest([second], tmp_path / "a", fast_config)
    catalog = Catalog(tmp_path / "a")
    (row,) = attribution.load(catalog).apply(catalog.rows("recordings"))
    assert (row["source_name"], row["name_device_id"], row["device_id"], row["officer_id"], row["attributed_by"]) == \
        ("copy.bin", None, "CAMA", "OF7", "other name")


@pytest.mark.parametrize("toml, key", [
    pytest.param('[identity]\norder = ["nosuch"]', "identity.order", id="unknown-profile-in-order"),
    pytest.param('[identity]\norder = ["default", "default"]', "identity.order", id="named-twice"),
    pytest.param('[identity.profiles.x]\npatterns = ["^(?P<device>A)$"]\nexample = "B"', "identity.profiles.x.example",
                 id="example-not-matched"),
    pytest.param('[identity.profiles.default]\npatterns = ["^a$"]', "identity.profiles.default", id="default-taken"),
    pytest.param('[identity.profiles.x]\npatterns = ["^(?P<camera>A)$"]', "identity.profiles.x.patterns[0]",
                 id="unknown-group"),
    pytest.param('[identity.profiles.x]\npatterns = ["^a$"]\nenabled = false', "identity.profiles.x", id="unknown-key"),
])
def test_bad_profiles_fail_at_start_up_naming_the_key(tmp_path, toml, key):
    bad = tmp_path / "bad.toml"
    bad.write_text(toml + "\n")
    with pytest.raises(ConfigError, match=key.replace(".", r"\.").replace("[", r"\[")):
        load_config(bad)


def test_a_site_profile_adds_to_the_shipped_ones_and_order_can_narrow_them(tmp_path, built):
    from pipeline.stages.naming import match_name, profiles

    site = built["config"]
    assert [p.name for p in profiles(site.identity)] == ["zfy", "prefixed", "vendor", "default"]
    assert all(p.example is None or match_name(p.example, site.identity)[0].name == p.name
               for p in profiles(site.identity))
    narrow = tmp_path / "narrow.toml"
    narrow.write_text('[identity]\norder = ["default"]\n')
    config = load_config(narrow)
    assert match_name("DSJ-A8_012345_20250602090000_0001.MP4", config.identity) == (None, {})
    assert match_name("CAMA_OF7_20250602090000_0001.MP4", config.identity)[0].name == "default"
    assert json.dumps(dataclasses.asdict(config.identity), ensure_ascii=False)      # still plain data


def test_profiles_belong_to_the_archive_a_config_may_repeat_not_change_them(built, archive, capsys, tmp_path):
    assert cli(capsys, "ledger", "--archive", archive, "--config", built["site"])[0] == 0      # repeats them
    other = tmp_path / "other.toml"
    other.write_text(built["site"].read_text().replace("ZFY", "ZFX"))
    code, _, err = cli(capsys, "ledger", "--archive", archive, "--config", other)
    assert code == 2 and "identity.profiles" in err and "fieldrec config set" in err
    code, _, err = cli(capsys, "config", "set", "identity.order", '["vendor", "default"]', "--archive", archive,
                       "--by", "Desk", "--reason", "only our two makes")
    assert code == 0, err
    from pipeline.archive import settings
    from pipeline.stages.naming import profiles

    assert [p.name for p in profiles(settings.load(archive).identity)] == ["vendor", "default"]
