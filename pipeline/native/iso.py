"""ISO 9660 images of a folder (Joliet, Rock Ridge, UDF 2.60) and reading them back, with pycdlib.

Interchange level 3, so files of 4 GiB and more are stored as multi-extent files. The plain
ISO 9660 names are upper-cased 30-character approximations (old readers only); Joliet, Rock
Ridge and UDF carry the real names, and reading back uses UDF, then Joliet, then Rock Ridge.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import BinaryIO

import pycdlib
from pycdlib.pycdlibexception import PyCdlibException

from pipeline.archive.publish import publish, temp_beside

IsoError = PyCdlibException


def write_iso(folder: Path, image: Path, volume_id: str, *, volume_set: str = "",
              udf: bool = True, sparse: bool = False) -> None:
    """Master ``folder``'s tree into ``image`` (written under a temporary name, then renamed).

    ``sparse`` leaves runs of zero bytes as holes in the image file (large-file tests).
    """
    folder, image = Path(folder), Path(image)
    iso = pycdlib.PyCdlib()
    # the same identifier goes into the Joliet descriptor, which holds 16 characters
    iso.new(interchange_level=3, vol_ident=_d_chars(volume_id)[:16], sys_ident="LINUX",
            vol_set_ident=_d_chars(volume_set)[:128] or " ", app_ident_str="fieldrec",
            joliet=3, rock_ridge="1.09", udf="2.60" if udf else None)
    iso_names: dict[str, str] = {"": ""}                  # relative path -> ISO 9660 path
    used: dict[str, set[str]] = {}
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        rel_dir = Path(root).relative_to(folder).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        parent_iso = iso_names[rel_dir]
        taken = used.setdefault(rel_dir, set())
        for name in dirs:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            iso_names[rel] = f"{parent_iso}/{_unique(_dir_id(name), taken)}"
            iso.add_directory(iso_path=iso_names[rel], rr_name=name, joliet_path="/" + rel,
                              udf_path="/" + rel if udf else None)
        for name in sorted(files):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            iso.add_file(str(Path(root) / name), iso_path=f"{parent_iso}/{_unique(_file_id(name), taken)};1",
                         rr_name=name, joliet_path="/" + rel, udf_path="/" + rel if udf else None,
                         file_mode=0o100444)
    tmp = temp_beside(image)
    try:
        with open(tmp, "wb") as fh:
            out = _HoleWriter(fh) if sparse else fh
            iso.write_fp(out)
            out.flush()
    finally:
        iso.close()
    publish(tmp, image, fsync=False)


class _HoleWriter:
    """A file whose all-zero writes become seeks, so they stay holes."""

    def __init__(self, fh: BinaryIO):
        self.fh = fh
        self.end = 0

    def write(self, data) -> int:
        if data.count(b"\0") != len(data):
            self.fh.write(data)
        else:
            self.fh.seek(len(data), os.SEEK_CUR)
        self.end = max(self.end, self.fh.tell())
        return len(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self.fh.seek(offset, whence)

    def tell(self) -> int:
        return self.fh.tell()

    def flush(self) -> None:
        self.fh.truncate(self.end)
        self.fh.flush()


class IsoTree:
    """A read-only view of an image's files by their full names (no mounting)."""

    def __init__(self, image: Path):
        self.image = Path(image)
        self.iso = pycdlib.PyCdlib()
        self.iso.open(str(self.image))
        # Read through UDF, then Joliet: pycdlib 1.22 resolves a Rock Ridge name of a
        # multi-extent (over 4 GiB) file to its last extent only.
        present = self.namespaces()
        self.namespace = next((ns for ns in ("udf_path", "joliet_path", "rr_path") if ns in present), "iso_path")

    def namespaces(self) -> list[str]:
        present = [("rr_path", self.iso.has_rock_ridge()), ("joliet_path", self.iso.has_joliet()),
                   ("udf_path", self.iso.has_udf())]
        return [name for name, has in present if has]

    def files(self, namespace: str | None = None) -> list[str]:
        """Paths of the regular files, relative, with '/' separators."""
        namespace = namespace or self.namespace
        found = []
        for dirpath, _dirs, files in self.iso.walk(**{namespace: "/"}):
            base = dirpath.strip("/")
            for name in files:
                if namespace == "iso_path":
                    name = name.split(";")[0]
                found.append(f"{base}/{name}" if base else name)
        return sorted(found)

    def open(self, rel: str) -> BinaryIO:
        return self.iso.open_file_from_iso(**{self.namespace: "/" + rel})

    def close(self) -> None:
        self.iso.close()

    def __enter__(self) -> "IsoTree":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def is_iso(path: Path) -> bool:
    """An ISO 9660 image has 'CD001' at byte 32769 (the first volume descriptor)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(32769)
            return fh.read(5) == b"CD001"
    except OSError:
        return False


def _d_chars(text: str) -> str:
    return re.sub(r"[^A-Z0-9_]", "_", text.upper())


def _dir_id(name: str) -> str:
    return _d_chars(name)[:31] or "_"


def _file_id(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    ext = _d_chars(ext)[:8]
    return f"{(_d_chars(stem) or '_')[:30 - len(ext)]}.{ext}"


def _unique(ident: str, taken: set[str]) -> str:
    """``ident``, or it with a counter worked into its end, not yet used in the directory."""
    candidate, n = ident, 1
    while candidate in taken:
        n += 1
        stem, dot, ext = ident.rpartition(".")
        suffix = f"_{n}"
        candidate = (f"{stem[:30 - len(ext) - len(suffix)]}{suffix}.{ext}" if dot
                     else f"{ident[:31 - len(suffix)]}{suffix}")
    taken.add(candidate)
    return candidate


