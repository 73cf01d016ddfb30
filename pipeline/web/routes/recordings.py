"""A recording's page (metadata, gaps, keyframe strip, proxy playback) and its content, under a grant."""

from __future__ import annotations

from starlette.responses import Response

from pipeline.common import inputs
from pipeline.web import content, site
from pipeline.web.guard import ALL_ROLES, Ctx, NotFound, Page

MAX_THUMB_INDEX = 100_000


def _sha(ctx: Ctx) -> str:
    try:
        return inputs.sha256(ctx.param("sha"))
    except inputs.InputError:
        raise NotFound() from None


def recording(ctx: Ctx) -> Response:
    sha = _sha(ctx)
    reader, config = ctx.reader, ctx.service.config
    row = reader.recording(sha)
    if row is None:
        raise NotFound()
    allowed, grant = ctx.service.content_grant(ctx.user, sha, reader=reader)
    thumbs = reader.thumbnails(sha)
    proxy = reader.proxy(sha)
    gaps = reader.gaps_of(sha)
    for g in gaps:
        g["start_utc"] = site.device_to_site(g["start_time"], g["device_id"], config)
    now = ctx.now
    mine = [r for r in ctx.service.requests(reader).values()
            if r.requested_by == ctx.user.user_id and r.row["target_kind"] == "recording" and r.row["target"] == sha]
    cases = sorted(ctx.service.cases_holding(sha, reader))
    offset = (proxy or {}).get("time_offset_s") or 0.0
    return ctx.render("recording.html", rec=row, sha=sha, allowed=allowed, grant=grant, thumbs=thumbs, proxy=proxy,
                      offset=offset, gaps=gaps, mine=mine, status_of=lambda r: r.status(now), cases=cases,
                      start_utc=site.device_to_site(row["start_time"], row["device_id"], config),
                      end_utc=site.device_to_site(row["end_time"], row["device_id"], config))


def thumbnail(ctx: Ctx) -> Response:
    sha = _sha(ctx)
    index = ctx.param("index")
    if not index.isdigit() or int(index) > MAX_THUMB_INDEX:
        raise NotFound()
    return content.thumbnail(ctx, sha, int(index))


def proxy(ctx: Ctx) -> Response:
    return content.proxy(ctx, _sha(ctx), download=False)


def proxy_download(ctx: Ctx) -> Response:
    return content.proxy(ctx, _sha(ctx), download=True)


PAGES = [
    Page("/recordings/{sha}", recording, ALL_ROLES),
    Page("/recordings/{sha}/thumbnails/{index}", thumbnail, ALL_ROLES),
    Page("/recordings/{sha}/proxy", proxy, ALL_ROLES),
    Page("/recordings/{sha}/proxy/download", proxy_download, ALL_ROLES),
]
