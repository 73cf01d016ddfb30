"""Proxy speed in x real time per CPU core, fieldrec (PyAV) next to the ffmpeg CLI, same file, same settings.

    .venv/bin/python bench/transcode_speed.py [--seconds 20] [--repeat 2]

The input is 1080p30 H.264 at about 8 Mb/s with stereo AAC, made once and cached in
bench/cache/. CPU time counts every thread; x real time per core = media seconds / CPU seconds.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pipeline.config import load_config  # noqa: E402
from pipeline.stages.transcode import settings  # noqa: E402
from pipeline.native.transcode import make_proxy  # noqa: E402

CACHE = Path(__file__).resolve().parent / "cache"


def source(seconds: int) -> Path:
    """A panning, textured 1080p30 scene at 8 Mb/s: as costly to decode as body-camera footage."""
    path = CACHE / f"bwc_1080p30_8mbps_{seconds}s.mp4"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    w, h, fps = 1920, 1080, 30
    texture = rng.integers(16, 235, size=(h + 64, w * 2), dtype=np.uint8)
    texture = ((texture.astype(np.uint16) + np.roll(texture, 1, 1) + np.roll(texture, 1, 0)) // 3).astype(np.uint8)
    tmp = path.with_suffix(".part")
    with av.open(str(tmp), "w", format="mp4") as out:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        v.bit_rate = 8_000_000
        v.options = {"preset": "veryfast", "maxrate": "8M", "bufsize": "16M", "g": "30"}
        a = out.add_stream("aac", rate=48000, layout="stereo")
        a.bit_rate = 128_000
        chroma = np.full((h // 2, w), 128, np.uint8)
        samples = 0
        for i in range(seconds * fps):
            x = (i * 7) % w                                   # a steady pan, like walking
            luma = texture[(i // 4) % 64:(i // 4) % 64 + h, x:x + w]
            frame = av.VideoFrame.from_ndarray(np.vstack([luma, chroma]), format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(v.encode(frame))
            while samples < (i + 1) * 48000 // fps:
                noise = (rng.standard_normal((2, 1024)) * 0.05).astype(np.float32)
                af = av.AudioFrame.from_ndarray(noise, format="fltp", layout="stereo")
                af.sample_rate, af.pts, af.time_base = 48000, samples, Fraction(1, 48000)
                out.mux(a.encode(af))
                samples += 1024
        out.mux(v.encode(None))
        out.mux(a.encode(None))
    tmp.rename(path)
    return path


def run_pyav(src: Path, dst: Path, cfg) -> tuple[float, float]:
    cpu0, t0 = time.process_time(), time.monotonic()
    make_proxy(src, dst, settings(cfg))
    return time.process_time() - cpu0, time.monotonic() - t0


def run_ffmpeg(src: Path, dst: Path, cfg, threads: int) -> tuple[float, float]:
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-threads", str(threads),
           "-i", str(src), "-map", "0:v:0", "-map", "0:a:0", "-fps_mode", "passthrough",
           "-vf", f"scale={cfg.long_side}:-2:flags=bicubic", "-c:v", "libx264", "-preset", cfg.preset,
           "-crf", str(cfg.crf), "-pix_fmt", "yuv420p", "-threads", str(threads),
           "-c:a", "aac", "-b:a", str(cfg.audio_bitrate), "-movflags", "+faststart", str(dst)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    subprocess.run(cmd, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), time.monotonic() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=20, help="length of the generated 1080p30 input")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each, alternating; the best counts")
    args = parser.parse_args()
    cfg = load_config().transcode
    threads = settings(cfg).threads
    src = source(args.seconds)
    with av.open(str(src)) as c:
        media_s = float(c.duration) / 1e6
        mbps = c.bit_rate / 1e6
    has_ffmpeg = shutil.which("ffmpeg") is not None
    results: dict[str, list[tuple[float, float]]] = {"fieldrec (PyAV)": [], "ffmpeg CLI": []}
    for _ in range(args.repeat):
        results["fieldrec (PyAV)"].append(run_pyav(src, CACHE / "proxy_pyav.mp4", cfg))
        if has_ffmpeg:
            results["ffmpeg CLI"].append(run_ffmpeg(src, CACHE / "proxy_ffmpeg.mp4", cfg, threads))
    print(f"input  {src.name}: {media_s:.1f} s of 1080p30 H.264, {mbps:.1f} Mb/s; proxy: long side "
          f"{cfg.long_side}, crf {cfg.crf}, {cfg.preset}, AAC {cfg.audio_bitrate // 1000} kb/s, {threads} threads; "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    best = {}
    for name, runs in results.items():
        if not runs:
            print(f"{name:16s} skipped: `ffmpeg` is not installed (apt-get install ffmpeg)")
            continue
        cpu, wall = min(runs)                   # the least disturbed run: the machine may be shared
        median = sorted(c for c, _ in runs)[len(runs) // 2]
        best[name] = media_s / cpu
        print(f"{name:16s} {media_s / cpu:5.2f}x real time per core  ({cpu:.1f} CPU-s, "
              f"{cpu / media_s * 60:.0f} CPU-s per source minute, wall {wall:.1f} s; median run "
              f"{media_s / median:.2f}x; runs: " + ", ".join(f"{c:.1f}" for c, _ in runs) + " CPU-s)")
    if len(best) == 2:
        ratio = best["fieldrec (PyAV)"] / best["ffmpeg CLI"]
        print(f"ratio            fieldrec / ffmpeg CLI = {ratio:.2f} (goal: >= 0.90)")
    if has_ffmpeg:
        print(f"ffmpeg           {subprocess.run(['ffmpeg', '-version'], capture_output=True, text=True).stdout.splitlines()[0]}")
    print(f"PyAV             {av.__version__}, libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))}")


if __name__ == "__main__":
    main()
