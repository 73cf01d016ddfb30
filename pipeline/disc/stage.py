"""Staging a whole plan: each disc bagged, re-verified, optionally imaged, and recorded.

A disc is recorded in the ``discs`` and ``disc_files`` tables as soon as it is complete, so an
interrupted run keeps its finished discs; running the same plan again skips discs whose
folder (and image, when asked for) already verify.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pipeline
from catalog.store import Catalog
from pipeline.common.i18n import _
from pipeline.common.times import Zones
from pipeline.disc.bag import StageError, stage_disc
from pipeline.disc.select import recordings as read_recordings
from pipeline.disc.verify import Report, verify
from pipeline.native.hashing import sha256_path
from pipeline.native.iso import write_iso
from pipeline.common.clock import now_utc


@dataclass
class DiscOutcome:
    label: str
    folder: str
    image: str | None
    files: int
    bytes: int
    image_bytes: int | None
    image_sha256: str | None
    skipped: bool = False           # already staged by an earlier run

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def stage_plan(archive: Path, plan: dict, out: Path, *, iso: bool, reverify: bool = True,
               fsync: bool = True, say: Callable[[str], None] = lambda line: None,
               zones: Zones | None = None) -> list[DiscOutcome]:
    catalog = Catalog(archive, fsync=fsync).create()
    known = read_recordings(catalog)
    recorded = latest_discs(catalog)
    missing = sorted({f["sha256"] for d in plan["discs"] for f in d["files"]} - set(known))
    if missing:
        raise StageError(_("{n} planned recording(s) are not in this archive's catalog (first: {first}); is "
                           "--archive the archive the plan was made for ({archive})?").format(
            n=len(missing), first=missing[0], archive=plan["archive"]))
    out.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for disc in plan["discs"]:
        label = disc["label"]
        folder, image = out / label, (out / f"{label}.iso" if iso else None)
        if folder.exists():
            report = _require_ok(verify(folder), _("staged folder"))
            if label in recorded and recorded[label]["manifest_sha256"] != report.manifest_sha256:
                raise StageError(_("{folder} is not the disc recorded as {label}; move it away and stage again").format(
                    folder=folder, label=label))
            say(_("{label}: already staged, verified").format(label=label))
            staged_files, staged_bytes, manifest = report.files_checked, None, report.manifest_sha256
            rows = None
        else:
            say(_("{label}: staging {n} files").format(label=label, n=len(disc["files"])))
            staged = stage_disc(archive, plan, disc, out, known, fsync=fsync, zones=zones)
            if reverify:
                _require_ok(verify(folder), _("staged folder"))
            staged_files, staged_bytes, manifest, rows = staged.files, staged.bytes, staged.manifest_sha256, staged.rows
        image_sha = image_bytes = None
        if image is not None:
            if not image.exists():
                say(_("{label}: writing {image}").format(label=label, image=image.name))
                write_iso(folder, image, label, volume_set=f"FIELDREC_{plan['set_id']}")
            if _require_ok(verify(image), _("ISO image")).manifest_sha256 != manifest:
                raise StageError(_("{image} holds other files than {folder}; delete the image and stage again").format(
                    image=image, folder=folder))
            image_bytes = image.stat().st_size
            if image_bytes > plan["capacity_bytes"]:
                raise StageError(_("{image} is {bytes} bytes, more than a {media} disc holds ({capacity}); plan again "
                                   "with a larger --reserve").format(image=image, bytes=image_bytes, media=plan["media"],
                                                                    capacity=plan["capacity_bytes"]))
            image_sha = sha256_path(image)
        outcome = DiscOutcome(label, str(folder), str(image) if image else None, staged_files,
                              staged_bytes if staged_bytes is not None else disc["payload_bytes"],
                              image_bytes, image_sha, skipped=rows is None)
        if label not in recorded:
            catalog.commit({"discs": [_disc_row(plan, disc, outcome, manifest)],
                            "disc_files": rows or _rows_from_plan(disc, label)}, tag=f"disc-{label}")
        elif image_sha and recorded[label]["image_sha256"] != image_sha:
            # an image made after the folder: a new row for the label (the latest row wins)
            catalog.commit({"discs": [_disc_row(plan, disc, outcome, manifest)]}, tag=f"disc-{label}")
        outcomes.append(outcome)
    return outcomes


def record_verification(archive: Path, report: Report, *, fsync: bool = True) -> list[str]:
    """Append a ``disc_verifications`` row; returns problems found by comparing with ``discs``."""
    catalog = Catalog(archive, fsync=fsync).create()
    notes = []
    recorded = latest_discs(catalog).get(report.label)
    if recorded and report.manifest_sha256 and recorded["manifest_sha256"] != report.manifest_sha256:
        notes.append("changed: " + _("the manifest differs from the one recorded when {label} was staged").format(
            label=report.label))
    catalog.commit({"disc_verifications": [{
        "label": report.label, "verified_at": now_utc(), "target": report.target,
        "target_kind": report.kind, "result": "ok" if report.ok and not notes else "failed",
        "files_checked": report.files_checked, "bytes_checked": report.bytes_checked,
        "problems": report.problems + notes, "manifest_sha256": report.manifest_sha256,
        "host": socket.gethostname()}]}, tag=f"verify-{report.label or 'unknown'}")
    return notes


def latest_discs(catalog: Catalog) -> dict[str, dict]:
    """The ``discs`` row of each label; a label re-recorded (an image added later) keeps its latest."""
    return {r["label"]: r for r in sorted(catalog.rows("discs"), key=lambda r: r["created"])}


def _require_ok(report: Report, what: str) -> Report:
    if not report.ok:
        raise StageError(_("the {what} {target} does not verify: {problems}. Delete it and stage again.").format(
            what=what, target=report.target, problems="; ".join(report.problems[:5])))
    return report


def _disc_row(plan: dict, disc: dict, outcome: DiscOutcome, manifest: str | None) -> dict:
    entry = {k: v for k, v in disc.items() if k != "files"}
    entry["file_sha256s"] = [f["sha256"] for f in disc["files"]]
    return {"label": disc["label"], "set_id": plan["set_id"], "disc_index": disc["index"],
            "disc_count": disc["count"], "media": plan["media"], "capacity_bytes": plan["capacity_bytes"],
            "case_ids": disc["case_ids"], "files": outcome.files, "bytes": outcome.bytes,
            "manifest_sha256": manifest, "image_sha256": outcome.image_sha256,
            "image_bytes": outcome.image_bytes, "staged_path": outcome.folder,
            "created": now_utc(), "plan_json": json.dumps(entry),
            "fieldrec_version": pipeline.__version__}


def _rows_from_plan(disc: dict, label: str) -> list[dict]:
    return [{"label": label, "sha256": f["sha256"], "role": f["role"], "disc_path": f["disc_path"],
             "size": f["size"], "file_sha256": f["sha256"] if f["role"] == "original" else None}
            for f in disc["files"]]
