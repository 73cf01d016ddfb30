"""Pictures, sound and statements, served only under a grant and logged before the first byte leaves.

A request's log row (user, grant, content, byte range, address) goes into the service's spool,
fsynced, before the response starts; if the spool cannot be written, nothing is served. Proxies
are found through the ``derivatives`` table, never through a path in the URL, and must resolve
inside ``ARCHIVE/proxies``. Range requests (seeking) are answered by Starlette's FileResponse.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

from starlette.responses import FileResponse, Response

from pipeline.common.clock import new_id
from pipeline.common.i18n import _
from pipeline.web.guard import Ctx, NotFound, Refused

RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
MEDIA = {"webp": "image/webp", "jpeg": "image/jpeg", "jpg": "image/jpeg", "png": "image/png"}


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The bytes a Range header asks for (first, last inclusive), clipped to the file; None: all of it."""
    if not header:
        return None
    m = RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None                       # several ranges or nonsense: Starlette answers; logged as all
    if not m.group(1):
        first = max(0, size - int(m.group(2)))
        return first, size - 1
    first = int(m.group(1))
    last = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
    return first, last


def log_access(ctx: Ctx, *, sha256: str, content: str, size: int, grant, rng: tuple[int, int] | None,
               action: str = "view") -> None:
    """Durably record one serving of content (before it is served)."""
    ctx.service.record({"access_log": [{
        "access_id": new_id("access"), "action": action, "sha256": sha256, "size": size,
        "destination": ctx.client, "approval_ref": grant.request_id if grant else None, "by": ctx.user.user_id,
        "reason": grant.row["reason"] if grant else _("role allows viewing"), "at": ctx.now,
        "host": socket.gethostname(), "request_id": grant.request_id if grant else None, "content": content,
        "byte_range": f"{rng[0]}-{rng[1]}" if rng else (f"0-{size - 1}" if size else None), "client": ctx.client,
    }]}, now=False)


def require_grant(ctx: Ctx, sha256: str, action: str = "view"):
    allowed, grant = ctx.service.content_grant(ctx.user, sha256, action, reader=ctx.reader)
    if not allowed:
        raise Refused(_("You have no current grant to {action} this recording; ask for one on the recording's page.")
                      .format(action=_(action)))
    return grant


def thumbnail(ctx: Ctx, sha256: str, index: int) -> Response:
    grant = require_grant(ctx, sha256)
    import pyarrow.dataset as ds

    rows = ctx.service.catalog.rows("thumbnails", ["pts_s", "format", "image"], filter=ds.field("sha256") == sha256)
    rows = sorted({r["pts_s"]: r for r in rows}.values(), key=lambda r: r["pts_s"])
    if not 0 <= index < len(rows) or rows[index]["image"] is None:
        raise NotFound()
    image = rows[index]["image"]
    log_access(ctx, sha256=sha256, content="thumbnail", size=len(image), grant=grant, rng=None)
    return Response(image, media_type=MEDIA.get(rows[index]["format"] or "", "application/octet-stream"),
                    headers={"cache-control": "no-store"})


def proxy_path(ctx: Ctx, row: dict) -> Path:
    root = (ctx.service.archive / "proxies").resolve()
    path = (ctx.service.archive / (row["archive_path"] or "")).resolve()
    if root not in path.parents or not path.is_file():
        raise NotFound()
    return path


def proxy(ctx: Ctx, sha256: str, *, download: bool) -> Response:
    action = "export" if download else "view"
    grant = require_grant(ctx, sha256, action)
    row = ctx.reader.proxy(sha256)
    if row is None:
        raise NotFound()
    path = proxy_path(ctx, row)
    size = path.stat().st_size
    rng = byte_range(ctx.request.headers.get("range"), size)
    if rng is not None and rng[0] > rng[1]:
        rng = None
    served = (rng[1] - rng[0] + 1) if rng else size
    log_access(ctx, sha256=sha256, content="proxy", size=served, grant=grant, rng=rng,
               action="download" if download else "view")
    media = "audio/mp4" if row["kind"] == "proxy-audio" else "video/mp4"
    headers = {"cache-control": "no-store"}
    if download:
        headers["content-disposition"] = f'attachment; filename="{sha256[:16]}-proxy.{"m4a" if media.startswith("audio") else "mp4"}"'
    return FileResponse(path, media_type=media, headers=headers, content_disposition_type="attachment" if download else "inline")
