"""CPU cost of keyframe thumbnails, per media hour of 1080p30 footage (8 Mb/s, noisy, GOP 1 s).

    .venv/bin/python bench/thumbs_cost.py [--seconds 60] [--copies 5] [--repeat 5]

Prints CPU-seconds per media hour for demux, demux + thumbnails (the ingest stages), decoding
the same chosen keyframes alone, and ``ffmpeg -skip_frame nokey`` with a 10-s select filter
making the same thumbnails (when the ffmpeg CLI is installed). Each figure is the least of
``--repeat`` runs: the machine is shared and other load only ever adds time. The clip is 60 s of
encoded footage repeated 5 times (packets copied), so 30 thumbnails are timed, not 6.
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline.config import load_config                         # noqa: E402
from pipeline.native import thumbs                               # noqa: E402
from pipeline.stages import demux, thumbnails                    # noqa: E402
from pipeline.stages.filekind import sniff                       # noqa: E402

CACHE = Path(__file__).resolve().parent / "cache"


def encode_clip(path: Path, seconds: int) -> None:
    """1080p30 H.264 (CABAC, deblocking, 2 B-frames) of moving noise at ~8 Mb/s, GOP 1 s.

    x264 'ultrafast' with CABAC and the loop filter turned back on: decoding costs what camera
    footage costs (~35-45 ms a keyframe on a 2-core machine) while encoding takes about real time.
    The VBV cap keeps the first keyframe near the others' size (rate control would make it 4x).
    """
    w, h, fps = 1920, 1080, 30
    rng = np.random.default_rng(1)
    noise = [rng.integers(0, 48, (h * 3 // 2, w), dtype=np.uint8) for _ in range(8)]
    yy, xx = np.mgrid[0:h, 0:w]
    base = ((xx % 256) // 2 + (yy // 4) % 64).astype(np.uint8)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.bit_rate = 8_000_000
        stream.codec_context.gop_size = fps
        stream.codec_context.options = {"preset": "ultrafast", "keyint_min": str(fps), "sc_threshold": "0",
                                        "bf": "2", "x264-params": "cabac=1:deblock=0,0:vbv-maxrate=9000:vbv-bufsize=4000"}
        for i in range(seconds * fps):
            picture = noise[i % len(noise)].copy()
            picture[:h] += np.roll(base, 4 * i, axis=1)
            frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def repeat_clip(src: Path, dst: Path, copies: int) -> None:
    """``copies`` of ``src`` back to back, packets copied: a long clip for the price of a short one."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        source = inp.streams.video[0]
        stream = out.add_stream_from_template(source)
        span = round(inp.duration / 1e6 / source.time_base)
        packets = [p for p in inp.demux(source) if p.size]
        for n in range(copies):
            for p in packets:
                p.pts, p.dts, p.stream = p.pts + (span if n else 0), p.dts + (span if n else 0), stream
                out.mux(p)


def bench_clip(seconds: int, copies: int) -> Path:
    """The cached bench clip: ``seconds`` encoded once, repeated ``copies`` times."""
    CACHE.mkdir(parents=True, exist_ok=True)
    once = CACHE / f"thumbs_1080p30_{seconds}s_gop1_8M_vbv.mp4"
    if not once.exists():
        print(f"encoding the bench clip ({seconds} s of 1080p30, about {seconds} s) ...", file=sys.stderr)
        encode_clip(once.with_suffix(".tmp.mp4"), seconds)
        once.with_suffix(".tmp.mp4").rename(once)
    if copies == 1:
        return once
    path = CACHE / f"thumbs_1080p30_{seconds}s_gop1_8M_vbv_x{copies}.mp4"
    if not path.exists():
        repeat_clip(once, path.with_suffix(".tmp.mp4"), copies)
        path.with_suffix(".tmp.mp4").rename(path)
    return path


def least_cpu(variants: dict, repeat: int) -> dict:
    """Per variant: (least CPU seconds of this process, least wall seconds, a result), over
    ``repeat`` rounds that run every variant once each, so passing load hits all alike."""
    best = {name: [float("inf"), float("inf"), None] for name in variants}
    for _ in range(repeat):
        for name, fn in variants.items():
            c0, w0 = time.process_time(), time.perf_counter()
            result = fn()
            cpu, wall = time.process_time() - c0, time.perf_counter() - w0
            b = best[name]
            b[0], b[1], b[2] = min(b[0], cpu), min(b[1], wall), result
    return best


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ffmpeg_cpu(path: Path, interval_s: float, threads: int | None, repeat: int) -> tuple[float, int]:
    """Least CPU seconds (all threads) of the ffmpeg CLI making the same thumbnails, and their count."""
    best, count = float("inf"), 0
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as out:
            cmd = ["ffmpeg", "-nostdin", "-v", "error", "-skip_frame", "nokey",
                   *(["-threads", str(threads)] if threads else []), "-i", str(path),
                   "-vf", f"select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,{interval_s:g})',"
                          "scale=320:-2:flags=area",
                   "-fps_mode", "vfr", "-c:v", "libwebp", "-quality", "75", "-compression_level", "0",
                   f"{out}/%04d.webp"]
            before = children_cpu()
            subprocess.run(cmd, check=True)
            best = min(best, children_cpu() - before)
            count = len(list(Path(out).iterdir()))
    return best, count


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=60, help="seconds of footage to encode (default 60)")
    ap.add_argument("--copies", type=int, default=5, help="the clip is that footage this many times (default 5)")
    ap.add_argument("--repeat", type=int, default=5, help="runs per figure; the least is kept (default 5)")
    args = ap.parse_args()
    path = bench_clip(args.seconds, args.copies)
    config = load_config()
    cfg = config.thumbnails
    head = path.read_bytes()[:64]
    size = path.stat().st_size
    outcome = demux.demux_file(path, "0" * 64, sniff(head), size, config.demux)
    stream = outcome.media.streams[0]
    times = outcome.media.packets[stream.index]
    keys = times.pts[times.key]
    chosen = keys[thumbnails.choose_keyframes(keys, cfg.interval_s)]

    other = dataclasses.replace(cfg, format="jpeg" if cfg.format == "webp" else "webp")

    def stages():
        got = demux.demux_file(path, "0" * 64, sniff(head), size, config.demux)
        return thumbnails.make_thumbnails(path, "0" * 64, got, cfg)

    def bare(fast: bool, seek: bool = True):
        return lambda: thumbs.decode_keyframes(path, stream.index, chosen, max_side=cfg.max_side, fast=fast,
                                               previews=False, seek=seek)

    best = least_cpu({
        "demux": lambda: demux.demux_file(path, "0" * 64, sniff(head), size, config.demux),
        "stages": stages,
        "thumbs": lambda: thumbnails.make_thumbnails(path, "0" * 64, outcome, cfg),
        "thumbs_other": lambda: thumbnails.make_thumbnails(path, "0" * 64, outcome, other),
        "bare": bare(False),
        "bare_fast": bare(True),
        "in_order": bare(True, seek=False),
    }, args.repeat)
    (t_demux, _, _), (t_stages, w_stages, made), (t_thumbs, _, _) = best["demux"], best["stages"], best["thumbs"]
    t_other = best["thumbs_other"][0]
    (t_bare, _, plain), (t_bare_fast, _, _), (t_in_order, _, _) = best["bare"], best["bare_fast"], best["in_order"]
    assert plain.frames_decoded == len(chosen) == len(made.rows), (plain.frames_decoded, len(chosen), len(made.rows))
    duration = outcome.fields["duration_s"]
    per_hour = 3600.0 / duration
    n = len(made.rows)

    print(f"clip: {path.name}: {duration:.0f} s, {len(keys)} keyframes, {n} chosen (1 per {cfg.interval_s:g} s), "
          f"{outcome.fields['bit_rate'] / 1e6:.1f} Mb/s; thumbnails {cfg.format} q{cfg.quality}, "
          f"{made.rows[0]['width']}x{made.rows[0]['height']}")
    print(f"{'CPU-s per media hour':<58}{'CPU-s/h':>9}{'ms/thumb':>10}")

    def line(label, cpu):
        print(f"{label:<58}{cpu * per_hour:9.2f}{cpu / n * 1000:10.1f}")

    line("demux (every packet header)", t_demux)
    line("demux + thumbnails (the ingest stages)", t_stages)
    line(f"thumbnails alone (seek, decode, scale, encode {cfg.format})", t_thumbs)
    line(f"  the same encoding {other.format} instead", t_other)
    line("bare decode of the chosen keyframes (default decoder)", t_bare)
    line("bare decode of the chosen keyframes (fast decoder options)", t_bare_fast)
    line("  the same reading every packet in order instead of seeking", t_in_order)
    print(f"ratio to bare decode (default decoder): demux+thumbnails {t_stages / t_bare:.2f}, "
          f"thumbnails alone {t_thumbs / t_bare:.2f}; with {other.format}: "
          f"{(t_stages - t_thumbs + t_other) / t_bare:.2f}, {t_other / t_bare:.2f}")
    print(f"ratio to bare decode (same fast options): demux+thumbnails {t_stages / t_bare_fast:.2f}, "
          f"thumbnails alone {t_thumbs / t_bare_fast:.2f}")
    print(f"thumbnails per CPU-second: {n / t_stages:.1f}; per wall second, one process: {n / w_stages:.1f}")

    if shutil.which("ffmpeg") is None:
        print("ffmpeg CLI not installed: comparison skipped (apt-get install -y ffmpeg)")
        return 0
    for threads in (None, 1):
        t_ff, count = ffmpeg_cpu(path, cfg.interval_s, threads, max(1, args.repeat // 2))
        label = f"ffmpeg -skip_frame nokey + select 10 s ({'default threads' if threads is None else '-threads 1'})"
        line(label, t_ff)
        print(f"  -> {count} thumbnails; fieldrec uses {t_ff / t_stages:.1f}x less CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
