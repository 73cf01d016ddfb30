"""The CPU floor of thumbnails: decode exactly the keyframes that get thumbnails, nothing else.

For every video of a drop, the keyframes the thumbnail stage would choose (its interval, from the
container's index) are decoded as that stage decodes them (``fast_decode``), and dropped: no
scaling, no encoding, no copy. One process per CPU, largest file first. Prints, as JSON, the CPU
seconds of the decoding alone (the figure the bench adds to the floor's CPU seconds for the CPU
floor C) beside the files and keyframes decoded.

    python bench/keyframes.py DROP [--jobs N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline.config import load_config                         # noqa: E402
from pipeline.native import media, thumbs                        # noqa: E402
from pipeline.stages.thumbnails import choose_keyframes          # noqa: E402


def decode_chosen(path: Path) -> tuple[int, float]:
    """(keyframes decoded, CPU seconds of decoding them) for one file; (0, 0) if it has no video."""
    cfg = load_config().thumbnails
    try:
        info = media.demux(path, indexed=path.suffix.lower() in (".mp4", ".mov"))
    except media.MediaError:
        return 0, 0.0
    video = [s for s in info.streams if s.type == "video" and not s.attached_pic]
    if not video:
        return 0, 0.0
    times = info.packets[video[0].index]
    key_pts = np.where(np.isfinite(times.pts), times.pts, times.dts)[times.key]
    picked = key_pts[choose_keyframes(key_pts, cfg.interval_s)]
    t0 = time.thread_time()
    thumbs.decode_keyframes(path, video[0].index, picked, max_side=cfg.max_side, fast=cfg.fast_decode,
                            previews=False, indexed=media.is_indexed(info.format_name))
    return len(picked), time.thread_time() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("drop", type=Path)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    files = sorted((p for p in args.drop.rglob("*") if p.is_file()), key=lambda p: -p.stat().st_size)
    with ProcessPoolExecutor(args.jobs) as pool:
        done = list(pool.map(decode_chosen, files))
    print(json.dumps({"files": len(files), "keyframes": sum(n for n, _ in done),
                      "decode_cpu_s": round(sum(s for _, s in done), 3)}))


if __name__ == "__main__":
    main()
