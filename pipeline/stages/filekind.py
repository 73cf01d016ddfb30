"""Tell what a file is from its first bytes (content, not extension)."""

from __future__ import annotations

from dataclasses import dataclass

PHOTO_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}
AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P "}


@dataclass(frozen=True)
class Signature:
    family: str          # photo | video | audio | unknown: what the bytes claim to be
    format: str          # jpeg, isobmff, matroska, mpegts, wav, …; "" when unknown


UNKNOWN = Signature("unknown", "")

# File name extensions that recorders, phones and docks give to audio, video and photos.
MEDIA_EXTENSIONS = frozenset("""
    mp4 m4v m4a mov qt 3gp 3g2 mj2 ts mts m2ts trp avi mkv mka webm flv f4v mpg mpeg vob asf wmv wma
    wav mp3 aac adts amr ogg oga opus flac h264 264 h265 265 hevc dav
    jpg jpeg jpe png gif tif tiff webp heic heif avif bmp dng
""".split())


def media_extension(name: str) -> str | None:
    """The extension of ``name`` when it claims audio, video or a photo (``.MP4`` -> ``mp4``), else None."""
    stem, dot, ext = name.rpartition(".")
    ext = ext.lower()
    return ext if dot and stem and ext in MEDIA_EXTENSIONS else None


def sniff(head: bytes) -> Signature:
    """The container family claimed by a file's first bytes."""
    if not head:
        return UNKNOWN
    if head.startswith(b"\xff\xd8\xff"):
        return Signature("photo", "jpeg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Signature("photo", "png")
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return Signature("photo", "tiff")
    if head.startswith((b"GIF87a", b"GIF89a")):
        return Signature("photo", "gif")
    if head[:4] == b"RIFF" and len(head) >= 12:
        return {b"WEBP": Signature("photo", "webp"), b"AVI ": Signature("video", "avi"),
                b"WAVE": Signature("audio", "wav")}.get(head[8:12], UNKNOWN)
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in PHOTO_BRANDS:
            return Signature("photo", "heif")
        if brand in AUDIO_BRANDS:
            return Signature("audio", "isobmff")
        return Signature("video", "isobmff")
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return Signature("video", "isobmff")         # QuickTime without an ftyp box
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Signature("video", "matroska")
    if _is_transport_stream(head):
        return Signature("video", "mpegts")
    if head.startswith(b"\x00\x00\x01\xba"):
        return Signature("video", "mpeg-ps")
    if head.startswith(b"FLV"):
        return Signature("video", "flv")
    if head.startswith(b"OggS"):
        return Signature("audio", "ogg")
    if head.startswith(b"fLaC"):
        return Signature("audio", "flac")
    if head.startswith(b"#!AMR"):
        return Signature("audio", "amr")
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b"\xff\xfa"):
        return Signature("audio", "mp3")
    if head[:2] in (b"\xff\xf1", b"\xff\xf9"):
        return Signature("audio", "adts")
    return UNKNOWN


def _is_transport_stream(head: bytes) -> bool:
    for packet, offset in ((188, 0), (192, 4)):
        if len(head) >= offset + 2 * packet + 1 and all(head[offset + i * packet] == 0x47 for i in range(3)):
            return True
    return False
