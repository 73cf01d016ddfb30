"""Device ledger attribution, device clocks and upload delays, driven directly (no archive)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from pipeline.common.times import place, zone_named
from pipeline.config import ComplianceConfig, ConfigError, load_config, parse_utc_offset
from pipeline.rules.custody import attribute, holder_at, holder_periods, upload_delay_h, upload_lateness

UTC = timezone.utc


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


HANDOVERS = [
    {"device_id": "CAM1", "officer_id": "O2", "at": t("2026-03-02T08:00")},
    {"device_id": "CAM1", "officer_id": "O1", "at": t("2026-03-01T08:00")},
    {"device_id": "CAM2", "officer_id": "O3", "at": t("2026-03-01T00:00")},
]


def test_holder_periods_in_time_order():
    periods = holder_periods(HANDOVERS)
    assert [(p.officer_id, p.start, p.end) for p in periods["CAM1"]] == [
        ("O1", t("2026-03-01T08:00"), t("2026-03-02T08:00")), ("O2", t("2026-03-02T08:00"), None)]


@pytest.mark.parametrize("name_officer, start, officer, source, ledger, mismatch", [
    pytest.param(None, "2026-03-01T09:00", "O1", "ledger", "O1", False, id="no-name-officer-first-holder"),
    pytest.param(None, "2026-03-02T08:00", "O2", "ledger", "O2", False, id="at-the-handover-the-new-holder"),
    pytest.param(None, "2026-02-28T09:00", None, "none", None, False, id="before-any-handover-unattributed"),
    pytest.param("O1", "2026-03-01T09:00", "O1", "filename", "O1", False, id="name-agrees-with-ledger"),
    pytest.param("O9", "2026-03-02T09:00", "O9", "filename", "O2", True, id="name-disagrees-flagged"),
    pytest.param("O9", "2026-02-28T09:00", "O9", "filename", None, False, id="name-without-ledger-not-flagged"),
])
def test_attribution(name_officer, start, officer, source, ledger, mismatch):
    got = attribute(name_officer, t(start), holder_periods(HANDOVERS)["CAM1"])
    assert (got.officer_id, got.source, got.ledger_officer, got.mismatch) == (officer, source, ledger, mismatch)


def test_holder_at_unknown_device():
    assert attribute(None, t("2026-03-01T09:00"), None).source == "none"
    assert holder_at([], t("2026-03-01")) is None


@pytest.mark.parametrize("device_time, zone, utc", [
    pytest.param("2026-03-01T10:00", "+02:00", "2026-03-01T08:00", id="east-of-utc"),
    pytest.param("2026-03-01T01:00", "-05:30", "2026-03-01T06:30", id="west-half-hour"),
    pytest.param("2026-03-01T10:00", "UTC", "2026-03-01T10:00", id="utc"),
    pytest.param("2026-12-01T06:00", "Asia/Shanghai", "2026-11-30T22:00", id="beijing"),
    pytest.param("2026-07-01T12:00", "Europe/Berlin", "2026-07-01T10:00", id="summer-time"),
])
def test_device_clock_to_utc(device_time, zone, utc):
    placed = place(datetime.fromisoformat(device_time), local=True, zone=zone_named(zone))
    assert placed.instant == t(utc) and placed.wall == datetime.fromisoformat(device_time)


def test_upload_delay_hours_never_negative():
    assert upload_delay_h(t("2026-03-01T10:00"), t("2026-03-02T10:30")) == pytest.approx(24.5)
    assert upload_delay_h(None, t("2026-03-02T10:30")) is None
    assert upload_delay_h(t("2026-03-01T10:00:05"), t("2026-03-01T10:00")) == 0.0


def test_a_clock_problem_is_never_a_late_upload():
    got = upload_lateness(t("2000-01-01T00:00"), t("2026-12-02T04:30"), 24.0, "before_earliest")
    assert (got.delay_s, got.late, got.clock_problem) == (None, False, "before_earliest")
    got = upload_lateness(t("2026-11-30T22:00"), t("2026-12-02T00:30"), 24.0)
    assert (got.delay_s, got.late) == (26.5 * 3600, True)


def test_device_zones_from_config_old_keys_still_read(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[compliance]\ndevice_utc_offset_hours = 1.0\ndevice_utc_offsets = ["CAM042=+02:00", "CAM7=-0530"]\n'
                    '[site]\ndevice_time_zones = ["CAM7=Europe/Berlin"]\n')
    zones = load_config(path).zones()
    offsets = {d: zones.device(d)[0].utcoffset(datetime(2026, 1, 1)).total_seconds() / 3600 for d in ("CAM042", "CAM7", "CAM1")}
    assert offsets == {"CAM042": 2.0, "CAM7": 1.0, "CAM1": 1.0}      # CAM7: the new key wins
    assert [zones.device(d)[1] for d in ("CAM042", "CAM7", "CAM1")] == ["legacy", "device", "legacy"]
    default = load_config().zones()
    assert (default.site, default.device("CAM1")[1]) == ("Asia/Shanghai", "site")


@pytest.mark.parametrize("text, key", [
    pytest.param('[site]\ntime_zone = "Asia/Shangai"', "site.time_zone", id="misspelt-zone"),
    pytest.param('[site]\ntime_zone = "../../etc/passwd"', "site.time_zone", id="path-as-zone"),
    pytest.param('[site]\ntime_zone = ""', "site.time_zone", id="empty-zone"),
    pytest.param('[site]\ntime_zone = "+25:00"', "site.time_zone", id="offset-too-far"),
    pytest.param('[site]\ntime_zone = 8', "site.time_zone", id="number"),
    pytest.param('[site]\ndevice_time_zones = ["CAM1"]', "site.device_time_zones", id="no-zone"),
    pytest.param('[site]\ndevice_time_zones = ["CAM1=Mars/Olympus"]', "site.device_time_zones", id="unknown-device-zone"),
    pytest.param('[site]\ndevice_time_zones = ["CAM1=UTC", "CAM1=+08:00"]', "site.device_time_zones", id="twice"),
    pytest.param('[identity]\ncontainer_time = "beijing"', "identity.container_time", id="container-time"),
    pytest.param('[identity.profiles.x]\npatterns = ["("]', "identity.profiles.x.patterns", id="bad-profile-regex"),
    pytest.param('[identity.profiles.x]\npatterns = ["^a$"]\ncontainer_time = "x"', "identity.profiles.x.container_time",
                 id="bad-profile-container-time"),
    pytest.param('[compliance]\nlate_after_hours = 0', "compliance.late_after_hours", id="late-zero"),
    pytest.param('[compliance]\nlate_after_hours = nan', "compliance.late_after_hours", id="late-nan"),
])
def test_bad_time_settings_fail_at_start_naming_the_key(tmp_path, text, key):
    path = tmp_path / "c.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(path)


@pytest.mark.parametrize("entry", [pytest.param("CAM1", id="no-offset"), pytest.param("CAM1=+25:00", id="too-far"),
                                   pytest.param("=+02:00", id="no-device"), pytest.param("CAM1=2h", id="garbled")])
def test_bad_device_offsets_refused_at_start(tmp_path, entry):
    path = tmp_path / "c.toml"
    path.write_text(f'[compliance]\ndevice_utc_offsets = ["{entry}"]\n')
    with pytest.raises(ConfigError, match="compliance.device_utc_offsets"):
        load_config(path)


def test_parse_utc_offset():
    assert parse_utc_offset("Z") == 0.0 and parse_utc_offset("+2") == 2.0 and parse_utc_offset("-03:30") == -3.5
    assert ComplianceConfig().late_after_hours == 24.0
