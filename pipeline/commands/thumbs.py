"""``fieldrec thumbs``: write a recording's keyframe thumbnails, or one contact sheet, to a folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.commands import RunError, UsageError
from pipeline.common.i18n import _

HELP = """\
Write the thumbnails ingest made of one recording into FOLDER, one file per thumbnail named by
its time in the file (H-MM-SS.mmm.webp, say), or with --sheet one contact sheet (a JPEG grid of
every thumbnail captioned with its time). The recording is named by its SHA-256 or a unique
prefix of it (see the `recordings` table). The archive is only read.

Thumbnails are made of the first keyframe and then at most one keyframe every
`thumbnails.interval_s` seconds (10 by default); photos have one, audio files none.
"""
EXTENSIONS = {"webp": "webp", "jpeg": "jpg"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("thumbs", help="write a recording's thumbnails or a contact sheet", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recording", metavar="SHA256_OR_PREFIX", help="the recording's SHA-256 or a unique prefix (6+ hex digits)")
    p.add_argument("--archive", required=True, type=Path, metavar="DIR", help="archive folder")
    p.add_argument("--out", required=True, type=Path, metavar="FOLDER", help="folder to write into (created if missing)")
    p.add_argument("--sheet", action="store_true", help="write one contact sheet instead of the single thumbnails")
    p.add_argument("--columns", type=int, default=6, metavar="N", help="thumbnails per row of the sheet (default 6)")
    p.set_defaults(handler=run)


def file_name(pts_s: float, fmt: str) -> str:
    """``H-MM-SS.mmm.ext``: sorts in time order for a file's usual times."""
    sign = "-" if pts_s < 0 else ""
    ms = round(abs(pts_s) * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    return f"{sign}{h}-{m:02d}-{rest // 1000:02d}.{rest % 1000:03d}.{EXTENSIONS.get(fmt, fmt)}"


def _recording(catalog, wanted: str) -> dict:
    from pipeline.records.lookup import LookupProblem, resolve_shas     # pyarrow: not for every command's start

    rows = {r["sha256"]: r for r in catalog.rows("recordings", ["sha256", "kind", "source_name", "status",
                                                                 "thumbnail_count", "decode_errors"]) if r["sha256"]}
    try:
        [sha] = resolve_shas([wanted], rows, describe=lambda s: rows[s]["source_name"])
    except LookupProblem as exc:
        raise UsageError(str(exc)) from None
    return rows[sha]


def run(args: argparse.Namespace) -> int:
    import pyarrow.dataset as ds

    from catalog.store import Catalog
    from pipeline.commands.options import outside_archive
    from pipeline.native import sheet

    if not (args.archive / "catalog").is_dir():
        raise UsageError(f"{args.archive} is not a fieldrec archive (no catalog/ folder in it)")
    if not 1 <= args.columns <= 100:
        raise UsageError(_("--columns must be from 1 to 100"))
    outside_archive(args.out, "--out", args.archive)
    catalog = Catalog(args.archive)
    rec = _recording(catalog, args.recording)
    sha = rec["sha256"]
    table = catalog.read("thumbnails", filter=ds.field("sha256") == sha).sort_by("pts_s")
    thumbs = {}
    for row in table.to_pylist():
        thumbs.setdefault(row["pts_s"], row)        # one per time, should a recording be cataloged twice
    if not thumbs:
        why = {"audio": "audio files get no thumbnails", "other": "it is not a video or a photo"}.get(
            rec["kind"], f"none were made (status {rec['status']}, decode errors {rec['decode_errors']}; "
                         "thumbnails are made during ingest when thumbnails.enabled is true)")
        raise RunError(f"recording {sha[:16]} ({rec['source_name']}, {rec['kind']}) has no thumbnails: {why}")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        if args.sheet:
            title = f"{rec['source_name']}  {sha[:16]}  {len(thumbs)} thumbnails"
            image = sheet.contact_sheet([(p, r["image"]) for p, r in thumbs.items()], columns=args.columns, title=title)
            path = args.out / f"{sha[:16]}-sheet.jpg"
            sheet.save(image, path)
            print(path)
            return 0
        for pts, row in thumbs.items():
            path = args.out / file_name(pts, row["format"])
            path.write_bytes(row["image"])
            print(path)
    except OSError as exc:
        raise RunError(f"cannot write into {args.out}: {exc.strerror or exc}") from None
    return 0
