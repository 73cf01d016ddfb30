"""A disc plan: which files go on which disc under which name, as a JSON document.

``disc plan`` writes it, ``disc stage`` carries it out. The plan names every file by archive
path and SHA-256 and fixes its path on the disc, so staging is mechanical and repeatable.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from catalog.schema import TABLES
from catalog.store import Catalog
from pipeline.disc import pack as packing
from pipeline.common.i18n import _
from pipeline.common.text import display_width, pad
from pipeline.common.units import human_bytes
from pipeline.archive.objects import ObjectStore
from pipeline.common.clock import now_utc
from pipeline.archive.publish import write_atomic

PLAN_FORMAT = "fieldrec-disc-plan/1"
LABEL_CHARS = 16
DERIVATIVE_TABLES = (("proxies", "proxy"), ("thumbnails", "thumbnail"), ("derivatives", "proxy"))
DERIVATIVE_PATH_COLUMNS = ("archive_path", "path", "proxy_path", "thumbnail_path")


class PlanError(ValueError):
    """The plan cannot be made as asked; the message says what to do."""


@dataclass(frozen=True)
class Request:
    media: str
    capacity_bytes: int
    reserve_pct: float = 2.0
    with_derivatives: bool = False
    skip_oversize: bool = False
    label_prefix: str = "FR"


def build(archive: Path, selected: dict[str, list[str]], recordings: dict[str, dict],
          request: Request, selection: dict, *, now: datetime | None = None) -> dict:
    """Pack the selected originals (``{sha256: [group, ...]}``) onto discs."""
    now = now or now_utc()
    store = ObjectStore(archive)
    derivatives = _derivatives(Catalog(archive), set(selected)) if request.with_derivatives else {}
    usable = packing.usable_bytes(request.capacity_bytes, request.reserve_pct)
    if usable <= 0:
        raise PlanError(_("--reserve {pct}% leaves no room on a {media} disc").format(pct=request.reserve_pct,
                                                                                    media=request.media))
    refused, entries, items, taken = [], {}, [], set()
    group_order = list(dict.fromkeys(g for groups in selected.values() for g in groups[:1]))
    for sha in sorted(selected, key=lambda s: (group_order.index(selected[s][0]), _order(recordings[s]))):
        row = recordings[sha]
        if not store.exists(sha):
            refused.append(_refusal(row, _("the original is not in the object store (unreadable at ingest?)")))
            continue
        files = [_original(row)] + derivatives.get(sha, [])
        if files[0]["disc_path"] in taken:                 # same device, start, officer, sha8
            files[0]["disc_path"] = files[0]["disc_path"].replace(sha[:8], sha)
        taken.add(files[0]["disc_path"])
        files = [dict(f, group=selected[sha][0], cases=selected[sha]) for f in files]
        cost = sum(packing.on_disc(f["size"]) + packing.PER_FILE_OVERHEAD for f in files)
        cost += 2 * len(json.dumps(row, default=str))        # its catalog row, as CSV and Parquet
        entries[sha] = files
        items.append(packing.Item(sha, cost, selected[sha][0], _order(row)))
    oversize = [i for i in items if i.cost > usable]
    if oversize and not request.skip_oversize:
        raise PlanError(_oversize_message(oversize, recordings, request, usable))
    for item in oversize:
        refused.append(_refusal(recordings[item.key], _("larger than one {media} disc").format(media=request.media)))
    items = [i for i in items if i.cost <= usable]
    if not items:
        raise PlanError(_("nothing to put on disc: {why}").format(
            why="; ".join(r["reason"] + ": " + r["name"] for r in refused) or _("the selection is empty")))
    result = packing.pack(items, usable)
    set_id = hashlib.sha256(f"{sorted(entries)}{request}{now.isoformat()}".encode()).hexdigest()[:6].upper()
    width = 2 if result.count < 100 else 3
    # Joliet (what Windows shows) holds 16 characters of volume label: PREFIX_SETID_NN fits
    prefix = re.sub(r"[^A-Z0-9]+", "_", request.label_prefix.upper()).strip("_")[:LABEL_CHARS - 8 - width] or "FR"
    discs = []
    for n, disc in enumerate(result.discs, start=1):
        files = [f for item in sorted(disc.items, key=lambda i: (group_order.index(i.group), i.order))
                 for f in entries[item.key]]
        discs.append({
            "label": f"{prefix}_{set_id}_{n:0{width}d}",
            "index": n, "count": result.count,
            "case_ids": list(dict.fromkeys(c for f in files for c in f["cases"] if c != "selection")),
            "files": files,
            "payload_bytes": sum(f["size"] for f in files),
            "estimated_bytes": disc.used + packing.FIXED_OVERHEAD,
            "fill": round((disc.used + packing.FIXED_OVERHEAD) / request.capacity_bytes, 4),
        })
    return {
        "format": PLAN_FORMAT, "set_id": set_id, "created": now.isoformat(),
        "archive": str(Path(archive).resolve()), "selection": selection,
        "media": request.media, "capacity_bytes": request.capacity_bytes,
        "reserve_pct": request.reserve_pct, "usable_bytes": usable,
        "with_derivatives": request.with_derivatives,
        "lower_bound": packing.lower_bound(items, usable), "disc_count": result.count,
        "order_kept": result.order_kept,
        "files": sum(len(d["files"]) for d in discs), "payload_bytes": sum(d["payload_bytes"] for d in discs),
        "refused": refused, "discs": discs,
    }


def disc_name(row: dict) -> str:
    """``DEVICE/START_OFFICER_SHA8.ext``: readable without fieldrec, unique by the hash."""
    device = _safe(row.get("device_id")) or "UNKNOWN-DEVICE"
    officer = _safe(row.get("officer_id")) or "UNKNOWN-OFFICER"
    start = row.get("start_time")
    start = start.strftime("%Y%m%dT%H%M%S") if isinstance(start, datetime) else "NOTIME"
    ext = Path(row.get("source_name") or "").suffix.lower()
    ext = ext if re.fullmatch(r"\.[a-z0-9]{1,8}", ext) else ".bin"
    return f"{device}/{start}_{officer}_{row['sha256'][:8]}{ext}"


def _original(row: dict) -> dict:
    return {"sha256": row["sha256"], "role": "original", "source": ObjectStore.relpath(row["sha256"]),
            "disc_path": "data/" + disc_name(row), "size": row["size"],
            "device_id": row.get("device_id"), "officer_id": row.get("officer_id"),
            "start_time": _iso(row.get("start_time")), "source_name": row.get("source_name")}


def _derivatives(catalog: Catalog, shas: set[str]) -> dict[str, list[dict]]:
    """Proxies and thumbnails of the originals, from their tables when the schema has them."""
    found: dict[str, list[dict]] = {}
    tables = [(t, role) for t, role in DERIVATIVE_TABLES if t in TABLES]
    if not tables:
        raise PlanError(_("this archive's catalog has no proxies or thumbnails tables yet; plan without "
                          "--with-derivatives"))
    originals = {sha: disc_name(row) for sha, row in (
        (r["sha256"], r) for r in catalog.rows("recordings") if r["sha256"] in shas)}
    for table, role in tables:
        data = catalog.read(table)
        column = next((c for c in DERIVATIVE_PATH_COLUMNS if c in data.column_names), None)
        key = "parent_sha256" if "parent_sha256" in data.column_names else "sha256"   # derivatives: own sha256
        if column is None or key not in data.column_names:
            continue
        for k, row in enumerate(data.to_pylist()):
            if row.get("status", "ok") != "ok":
                continue                   # a proxy declined or failed: nothing to carry
            row = {**row, "sha256": row[key]}
            if row["sha256"] not in shas or not row.get(column):
                continue
            path = catalog.archive / row[column]
            if not path.is_file():
                continue
            stem = originals[row["sha256"]].rsplit(".", 1)[0]
            n = sum(1 for f in found.get(row["sha256"], []) if f["role"] == role)
            ext = path.suffix.lower() or ".bin"
            found.setdefault(row["sha256"], []).append({
                "sha256": row["sha256"], "role": role, "source": row[column],
                "disc_path": f"data/_{role}/{stem}.{role}{n + 1 if n else ''}{ext}",
                "size": row.get("size") or path.stat().st_size})
    return found


def _order(row: dict) -> tuple:
    return (row.get("device_id") or "", _iso(row.get("start_time")) or "", row["sha256"])


def _iso(t) -> str | None:
    return t.isoformat() if isinstance(t, datetime) else None


def _safe(value) -> str:
    """A name part on disc: letters and digits of any script (an officer 张三 stays 张三), "." and "-";
    anything else (a separator, "_" which separates the parts) becomes "-"."""
    return re.sub(r"(?:[^\w.-]|_)+", "-", str(value)).strip("-.") if value else ""


def _refusal(row: dict, reason: str) -> dict:
    return {"sha256": row["sha256"], "name": _describe(row), "size": row["size"], "reason": reason}


def _describe(row: dict) -> str:
    return f"{row.get('source_name') or '?'} ({disc_name(row)}, {human_bytes(row['size'])})"


def _oversize_message(oversize, recordings, request: Request, usable: int) -> str:
    biggest = max(i.cost for i in oversize)
    fits = [m for m, c in packing.MEDIA.items()
            if not m.startswith("mdisc") and packing.usable_bytes(c, request.reserve_pct) >= biggest]
    names = "; ".join(_describe(recordings[i.key]) for i in oversize)
    advice = (_("plan on larger media (--media {media})").format(media=fits[0]) if fits
              else _("no disc is large enough for it: keep it on tape or disk"))
    return _("{n} file(s) do not fit on one {media} disc ({usable} usable with --reserve {pct}%): {names}. To do: "
             "{advice}, or add --skip-oversize to plan the rest and list these as refused.").format(
        n=len(oversize), media=request.media, usable=human_bytes(usable), pct=request.reserve_pct, names=names,
        advice=advice)


def write(plan: dict, path: Path) -> None:
    write_atomic(Path(path), json.dumps(plan, indent=1) + "\n")


def read(path: Path) -> dict:
    try:
        plan = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PlanError(_("cannot read the plan {path}: {why}").format(path=path, why=exc)) from None
    if not isinstance(plan, dict) or plan.get("format") != PLAN_FORMAT:
        raise PlanError(_("{path} is not a fieldrec disc plan (expected format {format}); make one with "
                          "`fieldrec disc plan --out`").format(path=path, format=PLAN_FORMAT))
    return plan


def render(plan: dict, *, files: bool = True) -> str:
    lines = [_("disc plan {set_id}: {files} files, {size} on {discs} x {media} (lower bound {lower}, {usable} usable "
               "per disc, reserve {pct}%)").format(
        set_id=plan["set_id"], files=plan["files"], size=human_bytes(plan["payload_bytes"]), discs=plan["disc_count"],
        media=plan["media"], lower=plan["lower_bound"], usable=human_bytes(plan["usable_bytes"]),
        pct=plan["reserve_pct"])]
    head = [_("label"), _("disc"), _("files"), _("payload"), _("fill"), _("cases")]
    widths = [24, 7, 6, 10, 6]
    lines.append("  " + " ".join(pad(h, w) if i == 0 else " " * (w - display_width(h)) + h
                                 for i, (h, w) in enumerate(zip(head, widths))) + "  " + head[-1])
    for d in plan["discs"]:
        lines.append(f"  {d['label']:<24} {d['index']:>3}/{d['count']:<3} {len(d['files']):>6} "
                     f"{human_bytes(d['payload_bytes']):>10} {d['fill']:>6.1%}  {', '.join(d['case_ids']) or '-'}")
        if files:
            lines += [f"      {f['disc_path']}  {human_bytes(f['size'])}" for f in d["files"]]
    kept = [g for g, k in plan["order_kept"].items() if not k]
    if kept:
        lines.append(_("  recording order not kept (it would cost a disc) for: {groups}").format(groups=", ".join(kept)))
    for r in plan["refused"]:
        lines.append(_("  REFUSED {name}: {reason}").format(name=r["name"], reason=r["reason"]))
    return "\n".join(lines)
