"""Today's docking (devices docked, late uploads, interruptions waiting) and a device's timeline."""

from __future__ import annotations

import re
from datetime import timedelta

from starlette.responses import Response

from pipeline.report.data import Gap, Recording
from pipeline.report.html import CHAR_W, W, Scale, device_svg, epoch
from pipeline.web import site
from pipeline.web.guard import ALL_ROLES, Ctx, NotFound, Page

DEVICE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def dashboard(ctx: Ctx) -> Response:
    zone, config = ctx.service.zone, ctx.service.config
    day = site.parse_day(ctx.query("day"), zone, ctx.now)
    start, end = site.day_bounds(day, zone)
    limit = config.service.page_rows
    reader = ctx.reader
    docked = reader.docking(start, end)
    late = reader.late_uploads(start, end, limit)
    for r in late:
        r["end_utc"] = site.device_to_site(r["end_time"] or r["start_time"], r["device_id"], config)
    officer = ctx.user.officer_id if ctx.user.has("officer") else None
    waiting, waiting_total = reader.waiting_gaps(limit)
    mine = [g for g in waiting if officer and g["officer_id"] == officer]
    for g in waiting:
        g["start_utc"] = site.device_to_site(g["start_time"], g["device_id"], config)
    return ctx.render("dashboard.html", day=day, prev_day=day - timedelta(days=1), next_day=day + timedelta(days=1),
                      docked=docked, late=late, waiting=waiting, waiting_total=waiting_total, mine=mine,
                      late_after=config.compliance.late_after_hours)


def _recording(row: dict, config, zone) -> Recording:
    """A catalog row as the report's timeline draws it, in the site's wall-clock time."""
    to_wall = lambda t: site.wall(site.device_to_site(t, row["device_id"], config), zone)    # noqa: E731
    late = row["delay_h"] is not None and row["delay_h"] > config.compliance.late_after_hours
    return Recording(sha256=row["sha256"], source_name=row["source_name"] or row["sha256"][:12],
                     kind=row["kind"] or "other", status=row["status"] or "ok", device_id=row["device_id"],
                     officer_id=row["officer_id"], start=to_wall(row["start_time"]), end=to_wall(row["end_time"]),
                     duration_s=row["duration_s"], size=row["size"] or 0, error_stage=row["error_stage"],
                     error_message=row["error_message"], ingested_at=row["ingested_at"],
                     late_by_s=row["delay_h"] * 3600 if late else None)


def _gap(row: dict, config, zone) -> Gap:
    to_wall = lambda t: site.wall(site.device_to_site(t, row["device_id"], config), zone)    # noqa: E731
    return Gap(gap_id=row["gap_id"], kind=row["kind"] or "unknown", device_id=row["device_id"],
               officer_id=row["officer_id"], start=to_wall(row["start_time"]), end=to_wall(row["end_time"]),
               duration_s=row["duration_s"], reason=row["reason"], detail=row["detail"], sha256=row["sha256"],
               before_sha256=row["before_sha256"], after_sha256=row["after_sha256"],
               explanation="explained" if row["explained"] else ("awaiting approval" if row["given"] else "unexplained"),
               explanation_reason=row["last_reason"], needs_explanation=row["needs_explanation"])


def device(ctx: Ctx) -> Response:
    device_id = ctx.param("device_id")
    if not DEVICE_ID.fullmatch(device_id):
        raise NotFound()
    zone, config = ctx.service.zone, ctx.service.config
    reader = ctx.reader
    days = sorted({site.today(t, zone) for t in reader.device_days(device_id)}, reverse=True)
    if not days:
        raise NotFound()
    day = site.parse_day(ctx.query("day"), zone, ctx.now) if ctx.query("day") else days[0]
    start, end = site.day_bounds(day, zone)
    rows, gap_rows = reader.device_span(device_id, start, end)
    recs = [_recording(r, config, zone) for r in rows]
    gaps = [_gap(g, config, zone) for g in gap_rows]
    svg, t0, t1 = "", None, None
    points = [epoch(t) for r in recs for t in (r.start, r.end) if t] + \
             [epoch(t) for g in gaps for t in (g.start, g.end) if t]
    if points:
        t0, t1 = min(points), max(points)
        pad = max((t1 - t0) * 0.02, 5)
        scale = Scale(t0 - pad, t1 + pad)
        t0, t1 = scale.t0, scale.t1
        svg = device_svg(device_id, recs, gaps, scale, {r.sha256: r for r in recs})
    return ctx.render("device.html", device_id=device_id, day=day, days=days[:30], recs=rows, gaps=gap_rows,
                      svg=svg, t0=t0, t1=t1, width=W, char_w=CHAR_W, prev_day=day - timedelta(days=1),
                      next_day=day + timedelta(days=1), to_site=lambda t, d=device_id: site.device_to_site(t, d, config))


def devices(ctx: Ctx) -> Response:
    return ctx.render("devices.html", devices=ctx.reader.devices())


PAGES = [
    Page("/", dashboard, ALL_ROLES),
    Page("/devices", devices, ALL_ROLES),
    Page("/devices/{device_id}", device, ALL_ROLES),
]
