"""The floor: copy every byte once into a folder while hashing it with SHA-256, nothing else.

Files run in parallel, one thread per core (OpenSSL's SHA-256 and file I/O release the GIL), the
largest first; the same read size as fieldrec. SHA-256 comes from hashlib, i.e. OpenSSL, which uses
the CPU's SHA instructions where it has them: the fastest SHA-256 a Python program can call.
Each copy is fsynced (as fieldrec does by default) unless ``--no-fsync``.

    python bench/floor.py SRC DST [--jobs N] [--no-fsync]     # prints {"files":..,"bytes":..} as JSON
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CHUNK = 4 * 1024 * 1024


def copy_and_sha256(src: Path, dst: Path, fsync: bool) -> int:
    dst.parent.mkdir(parents=True, exist_ok=True)
    sha = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    size = 0
    with open(src, "rb", buffering=0) as fin, open(dst, "wb", buffering=0) as fout:
        while n := fin.readinto(buf):
            sha.update(view[:n])
            fout.write(view[:n])
            size += n
        if fsync:
            os.fsync(fout.fileno())
    dst.with_name(dst.name + ".sha256").write_text(sha.hexdigest() + "\n")
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-fsync", dest="fsync", action="store_false")
    args = parser.parse_args()
    files = sorted((p for p in args.src.rglob("*") if p.is_file()), key=lambda p: -p.stat().st_size)
    with ThreadPoolExecutor(args.jobs) as pool:
        sizes = list(pool.map(lambda p: copy_and_sha256(p, args.dst / p.relative_to(args.src), args.fsync),
                              files))
    print(json.dumps({"files": len(sizes), "bytes": sum(sizes)}))


if __name__ == "__main__":
    main()
