"""Staging one disc of a plan as a BagIt bag: copied from the archive, hashed as written.

The bag is built under a hidden name beside its final folder and renamed into place only when
complete, so a folder named after a disc label is always a whole disc.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

import pipeline
from catalog.schema import RECORDINGS
from catalog.store import fsync_dir
from pipeline.archive.bagit import Bag, BagMismatch
from pipeline.archive.publish import publish
from pipeline.common.units import human_bytes
from pipeline.common.clock import now_utc
from pipeline.common.i18n import _
from pipeline.common.times import Zones, iso, local_day, show, zone_label
from pipeline.rules.clocks import placed_start

EXPORT_SCHEMA = RECORDINGS.append(pa.field("disc_path", pa.string()))


class StageError(RuntimeError):
    """A copy did not match the archive, or the staging folder could not be written."""


@dataclass
class Staged:
    label: str
    path: Path
    files: int = 0
    bytes: int = 0
    manifest_sha256: str = ""
    rows: list[dict] = field(default_factory=list)      # disc_files rows


def stage_disc(archive: Path, plan: dict, disc: dict, out: Path, recordings: dict[str, dict], *,
               chunk_bytes: int = 4 * 1024 * 1024, fsync: bool = True,
               now: datetime | None = None, zones: Zones | None = None) -> Staged:
    """Write ``out/<label>/`` for one disc of the plan; raises StageError on any mismatch.
    Dates people read (README, bag-info) are in the site's zone of ``zones``."""
    now = now or now_utc()
    zones = zones or Zones()
    label = disc["label"]
    final = Path(out) / label
    work = Path(out) / f".{label}.partial"
    if work.exists():
        shutil.rmtree(work)                     # an interrupted earlier attempt
    work.mkdir(parents=True)
    staged = Staged(label, final)
    bag = Bag(work, chunk_bytes=chunk_bytes, fsync=fsync)
    for f in disc["files"]:
        expected = f["sha256"] if f["role"] == "original" else None
        digest = _copy(bag, Path(archive) / f["source"], f["disc_path"], expected, label)
        if digest.size != f["size"]:
            raise StageError(_("{path}: read {size} bytes, the plan says {planned}; make a new plan").format(
                path=f["source"], size=digest.size, planned=f["size"]))
        staged.files += 1
        staged.bytes += digest.size
        staged.rows.append({"label": label, "sha256": f["sha256"], "role": f["role"],
                            "disc_path": f["disc_path"], "size": digest.size, "file_sha256": digest.sha256})
    staged.manifest_sha256 = hashlib.sha256(bag.manifest_text().encode()).hexdigest()
    originals = [f for f in disc["files"] if f["role"] == "original"]
    _export_catalog(bag, originals, recordings)
    bag.add_tag_file("README.txt", _readme(plan, disc, staged, originals, recordings, now, zones))
    bag.close(_bag_info(plan, disc, now, zones.site_zone))
    if fsync:
        for d in sorted({p.parent for p in work.rglob("*")} | {work}):
            fsync_dir(d)
    publish(work, final, fsync=fsync)
    return staged


def _copy(bag: Bag, src: Path, disc_path: str, expected: str | None, label: str):
    try:
        return bag.add_payload(src, disc_path.removeprefix("data/"), expected)
    except BagMismatch as exc:
        raise StageError(_("{path} in the archive no longer has SHA-256 {expected} (read {actual}): the original is "
                           "damaged; nothing was staged for {label}. Restore the object from a replica, then stage "
                           "again.").format(path=src, expected=exc.expected, actual=exc.actual, label=label)) from None
    except FileNotFoundError as exc:
        raise StageError(_("{path} is missing (the archive lacks a planned file); make a new plan").format(
            path=exc.filename)) from None
    except OSError as exc:
        raise StageError(_("cannot copy {path} into {folder}: {why}").format(path=src, folder=bag.root,
                                                                            why=exc.strerror)) from None


def _export_catalog(bag: Bag, originals: list[dict], recordings: dict[str, dict]) -> None:
    """The catalog rows of the disc's originals, with their path on the disc."""
    rows = [dict(recordings[f["sha256"]], disc_path=f["disc_path"]) for f in originals]
    table = pa.Table.from_pylist(rows, schema=EXPORT_SCHEMA)
    for name, write in (("recordings.parquet", lambda sink: pq.write_table(table, sink, compression="zstd")),
                        ("recordings.csv", lambda sink: pacsv.write_csv(table, sink))):
        sink = pa.BufferOutputStream()
        write(sink)
        bag.add_tag_file(f"catalog/{name}", sink.getvalue().to_pybytes())


def _bag_info(plan: dict, disc: dict, now: datetime, zone) -> list[tuple[str, str]]:
    """bag-info.txt: the tag names (and the values programs read: dates, identifiers, Bag-Count's
    "N of T") as RFC 8493 has them; the descriptions people read in the site's language."""
    lines = [
        ("Source-Organization", _("fieldrec archive")),
        ("Bag-Software-Agent", f"fieldrec {pipeline.__version__}"),
        ("Bagging-Date", local_day(now, zone).isoformat()),
        ("Bagging-Time", iso(now, zone)),
        ("External-Identifier", disc["label"]),
        ("Bag-Group-Identifier", f"fieldrec disc set {plan['set_id']}"),       # untranslated: an identifier
        ("Bag-Count", f"{disc['index']} of {disc['count']}"),                  # untranslated: RFC 8493's form
        ("Bag-Size", human_bytes(sum(f["size"] for f in disc["files"]))),
        ("Disc-Media", plan["media"]),
    ]
    lines += [("Case-ID", case) for case in disc["case_ids"]]
    lines.append(("Internal-Sender-Description",
                  _("Original body-worn camera recordings, byte-identical to the archive's copies")))
    return lines


def _readme(plan: dict, disc: dict, staged: Staged, originals: list[dict], recordings: dict[str, dict],
            now: datetime, zones: Zones) -> str:
    devices = sorted({f["device_id"] or _("unknown") for f in originals})
    site = zones.site_zone
    starts = [placed_start(recordings[f["sha256"]], zones.device(f["device_id"])[0]) for f in originals
              if f["sha256"] in recordings]
    times = sorted(t for t in starts if t is not None)
    span = (_("{first} to {last} ({zone} time)").format(first=show(times[0], site), last=show(times[-1], site),
                                                       zone=zone_label(site)) if times else _("unknown"))
    cases = ", ".join(disc["case_ids"]) or _("none recorded (selected by hand)")
    return _readme_template().format(label=disc["label"], index=disc["index"], count=disc["count"], set_id=plan["set_id"],
                         written=show(now, site), version=pipeline.__version__, cases=cases, files=staged.files,
                         size=human_bytes(staged.bytes), n_devices=len(devices), devices=", ".join(devices[:20]),
                         span=span)


def _readme_template() -> str:
    """README.txt of a disc, in the site's language: a disc is read years later, by whoever finds it."""
    return _("""\
DISC {label} - disc {index} of {count} of set {set_id}
Written {written} by fieldrec {version}.

WHAT THIS IS
Original recordings from body-worn cameras (video, audio, photos), kept as evidence.
Every file under data/ is a byte-for-byte copy of what the recording device produced.
Cases: {cases}
Files: {files} ({size}) from {n_devices} device(s): {devices}
Recorded: {span}

WHERE THINGS ARE
data/DEVICE/START_OFFICER_HASH.ext   the recordings: device id, start time (YYYYMMDDThhmmss,
                                     the device's clock), officer id, first 8 digits of the SHA-256
catalog/recordings.csv               one line per recording: times, device, officer, codecs,
catalog/recordings.parquet           duration, SHA-256, original file name, path on this disc
manifest-sha256.txt                  the SHA-256 of every file under data/
bag-info.txt, bagit.txt              this disc is a BagIt bag (RFC 8493)

HOW TO CHECK NOTHING HAS CHANGED
In this folder run:   sha256sum -c manifest-sha256.txt     (Linux, macOS: shasum -a 256 -c)
or any BagIt validator (e.g. `bagit.py --validate .`). Every line must say OK.

HOW TO PLAY THE RECORDINGS
Most are MP4/MOV (H.264 or H.265 video, AAC audio): VLC or ffmpeg/ffplay play them.
Never edit the files here; copy them first.
""")
