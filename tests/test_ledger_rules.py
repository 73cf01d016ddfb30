"""Device ledger attribution, device clocks and upload delays, driven directly (no archive)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from pipeline.config import ComplianceConfig, ConfigError, load_config, parse_utc_offset
from pipeline.rules.custody import attribute, device_to_utc, holder_at, holder_periods, upload_delay_h

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


@pytest.mark.parametrize("device_time, offset, utc", [
    pytest.param("2026-03-01T10:00", 2.0, "2026-03-01T08:00", id="east-of-utc"),
    pytest.param("2026-03-01T01:00", -5.5, "2026-03-01T06:30", id="west-half-hour"),
    pytest.param("2026-03-01T10:00", 0.0, "2026-03-01T10:00", id="utc"),
])
def test_device_clock_to_utc(device_time, offset, utc):
    assert device_to_utc(datetime.fromisoformat(device_time), offset) == t(utc)


def test_upload_delay_hours():
    assert upload_delay_h(t("2026-03-01T10:00"), t("2026-03-02T10:30")) == pytest.approx(24.5)
    assert upload_delay_h(None, t("2026-03-02T10:30")) is None


def test_device_offsets_from_config(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[compliance]\ndevice_utc_offset_hours = 1.0\ndevice_utc_offsets = ["CAM042=+02:00", "CAM7=-0530"]\n')
    cfg = load_config(path).compliance
    assert (cfg.offset_hours("CAM042"), cfg.offset_hours("CAM7"), cfg.offset_hours("CAM1")) == (2.0, -5.5, 1.0)


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
