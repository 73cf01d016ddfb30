"""The floor: copy every byte once into a folder while hashing it with SHA-256, nothing else.

Files run in parallel, one thread per core (OpenSSL's SHA-256 and file I/O release the GIL), the
largest first; the same read size as fieldrec. SHA-256 comes from hashlib, i.e. OpenSSL, which uses
the CPU's SHA instructions where it has them: the fastest SHA-256 a Python program can call.
Each copy is fsynced (as fieldrec does by default) unless ``--no-fsync``. ``--direct`` writes the
copies with O_DIRECT (aligned chunks; the tail through the page cache), as fieldrec writes a synced
copy: what the disk takes when the CPU does not copy every byte into the page cache as well.

    python bench/floor.py SRC DST [--jobs N] [--no-fsync] [--direct]   # prints {"files":..,"bytes":..} as JSON
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import mmap
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CHUNK = 4 * 1024 * 1024


def copy_and_sha256(src: Path, dst: Path, fsync: bool, direct: bool = False) -> int:
    dst.parent.mkdir(parents=True, exist_ok=True)
    sha = hashlib.sha256()
    view = memoryview(mmap.mmap(-1, CHUNK))          # page-aligned, as O_DIRECT wants
    size = 0
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        fd = os.open(dst, flags | (os.O_DIRECT if direct else 0), 0o644)
    except OSError:                                   # a file system without direct I/O (tmpfs)
        fd, direct = os.open(dst, flags, 0o644), False
    with open(src, "rb", buffering=0) as fin, open(fd, "wb", buffering=0) as fout:
        while n := fin.readinto(view):
            sha.update(view[:n])
            if direct and n % 4096:                    # the tail: through the page cache
                fcntl.fcntl(fout.fileno(), fcntl.F_SETFL, fcntl.fcntl(fout.fileno(), fcntl.F_GETFL) & ~os.O_DIRECT)
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
    parser.add_argument("--direct", action="store_true", help="write with O_DIRECT (as fieldrec does)")
    args = parser.parse_args()
    files = sorted((p for p in args.src.rglob("*") if p.is_file()), key=lambda p: -p.stat().st_size)
    with ThreadPoolExecutor(args.jobs) as pool:
        sizes = list(pool.map(lambda p: copy_and_sha256(p, args.dst / p.relative_to(args.src), args.fsync, args.direct),
                              files))
    print(json.dumps({"files": len(sizes), "bytes": sum(sizes)}))


if __name__ == "__main__":
    main()
