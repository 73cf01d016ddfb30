"""The review report as one self-contained HTML file: summary, SVG timelines, thumbnails, lists.

No network, no framework: inline CSS, inline SVG laid out here, thumbnails as data URIs, and a
small inline script for hover tooltips and zooming the timelines to a time range. Without the
script the page still shows everything (tooltips fall back to the SVG ``<title>``).
"""

from __future__ import annotations

import html
import shlex
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path

from pipeline.common.i18n import _
from pipeline.common.times import as_utc, offset_label, zone_label
from pipeline.common.units import human_bytes
from pipeline.config import Config
from pipeline.report.data import Gap, Recording, ReportData, load
from pipeline.report.assets import CSS, SCRIPT
from pipeline.archive.publish import write_atomic

W = 1100                      # timeline width in SVG units (scaled to the page width)
LANE_H, LANE_GAP, AXIS_H, LABEL_H = 18, 4, 20, 16
TICK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
              86400, 172800, 604800, 2592000)
EPOCH = datetime(1970, 1, 1)
TICK_LABEL_MARGIN = 25       # tick labels closer to an edge than this would be cut off: not drawn
CHAR_W = 5.6                 # average width of a character of a 10 px label
LANE_OVERLAP_S = 2.0         # overlaps this short (segment rounding) stay in one lane; the gaps stage reports longer ones
OPEN_DETAILS_UP_TO = 300      # recordings per device shown expanded; more start collapsed
KIND_LABEL = {"within_file": "within file", "between_files": "between files", "overlap": "overlap",
              "clock": "clock", "damaged_tail": "damaged tail"}


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def epoch(t: datetime) -> float:
    return (t.replace(tzinfo=None) - EPOCH).total_seconds()


def fmt_time(t: datetime | None) -> str:
    """Site time with its offset: the report's times are aware, in the site's zone."""
    if not t:
        return "—"
    return t.strftime("%Y-%m-%d %H:%M:%S") + (f" {offset_label(t.utcoffset())}" if t.tzinfo else "")


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = float(seconds)
    if abs(seconds) < 60:
        return f"{seconds:.1f} s" if abs(seconds) < 10 and seconds != int(seconds) else f"{seconds:.0f} s"
    if abs(seconds) < 3600:
        minutes, rest = int(seconds // 60), int(round(seconds % 60))
        return f"{minutes} min {rest:02d} s" if rest else f"{minutes} min"
    if abs(seconds) < 172800:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    return f"{seconds / 86400:.1f} days"


# -- the time axis (the script's layout() does the same when zooming) -------------------------------
class Scale:
    def __init__(self, t0: float, t1: float):
        self.t0, self.t1 = t0, max(t1, t0 + 1)

    def x(self, t: float) -> float:
        return (t - self.t0) / (self.t1 - self.t0) * W

    def span(self, s: float, e: float, min_w: float) -> tuple[float, float]:
        x0, x1 = self.x(s), self.x(e)
        if x1 - x0 < min_w:
            c = (x0 + x1) / 2
            x0, x1 = c - min_w / 2, c + min_w / 2
        return x0, x1 - x0

    def ticks(self) -> list[tuple[float, str]]:
        span = self.t1 - self.t0
        step = next((s for s in TICK_STEPS if span / s <= 10), TICK_STEPS[-1])
        first = -(-self.t0 // step) * step
        out, t = [], first
        while t <= self.t1:
            iso = (EPOCH + timedelta(seconds=t)).strftime("%Y-%m-%dT%H:%M:%S")
            out.append((self.x(t), iso[:10] if step >= 86400 else iso[11:16] if step >= 60 else iso[11:19]))
            t += step
        return out


def label_x(x: float, text: str) -> float:
    """Centre of a gap's label, kept far enough from the edges to be read whole."""
    half = len(text) * CHAR_W / 2 + 2
    return min(max(x, half), W - half)


def readable_labels(labels: list[tuple[float, str]]) -> list[bool]:
    """Which labels (centre x, text) to show so that none overlaps another, left to right."""
    order = sorted(range(len(labels)), key=lambda i: labels[i][0])
    shown = [False] * len(labels)
    right = float("-inf")
    for i in order:
        x, text = labels[i]
        half = len(text) * CHAR_W / 2
        if x - half >= right + 6:
            shown[i] = True
            right = x + half
    return shown


def lanes(recordings: list[Recording]) -> dict[str, int]:
    """Lane per recording so that overlapping recordings of one device never hide each other."""
    ends: list[float] = []
    lane_of = {}
    for rec in recordings:
        s, e = epoch(rec.start), epoch(rec.end or rec.start)
        for i, end in enumerate(ends):
            if s >= end - LANE_OVERLAP_S:
                ends[i] = e
                lane_of[rec.sha256] = i
                break
        else:
            ends.append(e)
            lane_of[rec.sha256] = len(ends) - 1
    return lane_of


def _tip(*lines) -> str:
    return "<title>" + esc("\n".join(l for l in lines if l)) + "</title>"


def recording_tip(rec: Recording) -> str:
    late = f"late upload: ingested {fmt_duration(rec.late_by_s)} after it ended" if rec.late_by_s else ""
    return _tip(rec.source_name, f"{rec.status} · device {rec.device_id or '?'} · officer {rec.officer_id or '?'}",
                f"{fmt_time(rec.start)} → {fmt_time(rec.end)} ({fmt_duration(rec.duration_s)})",
                rec.error_message or "", late, f"sha256 {rec.sha256}")


def gap_state(gap: Gap) -> str:
    """explained | unexplained | pause (between recording sessions: needs no explanation)."""
    if gap.explained:
        return "explained"
    return "unexplained" if gap.needs_explanation else "pause"


def explanation_text(gap: Gap) -> str:
    if gap.explanation == "unexplained":
        return "UNEXPLAINED" if gap.needs_explanation else f"no explanation needed: {gap.need_reason}"
    who = f" (by {gap.explained_by}" + (f", approved by {gap.approved_by})" if gap.approved_by else ")")
    return f"{gap.explanation}: {gap.explanation_reason}{who}"


def gap_tip(gap: Gap, by_sha: dict[str, Recording]) -> str:
    names = [by_sha[s].source_name for s in (gap.before_sha256, gap.sha256, gap.after_sha256) if s in by_sha]
    return _tip(f"gap {gap.gap_id}", f"{KIND_LABEL.get(gap.kind, gap.kind)} · {fmt_duration(gap.duration_s)}"
                + (f" · {gap.reason}" if gap.reason else ""),
                f"{fmt_time(gap.start)} → {fmt_time(gap.end)}", gap.detail or "", " / ".join(names),
                explanation_text(gap))


def device_svg(device: str, recs: list[Recording], gaps: list[Gap], scale: Scale,
               by_sha: dict[str, Recording]) -> str:
    timed = [r for r in recs if r.start is not None]
    lane_of = lanes(timed)
    n_lanes = max(lane_of.values(), default=0) + 1
    band_h = n_lanes * (LANE_H + LANE_GAP)
    height = AXIS_H + band_h + LABEL_H
    top = AXIS_H
    parts = [f'<svg class="timeline" viewBox="0 0 {W} {height}" data-device="{esc(device)}" '
             f'role="img" aria-label="timeline of device {esc(device)}">',
             '<g class="axis">']
    for x, label in scale.ticks():
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="14" y2="{height}"/>')
        if TICK_LABEL_MARGIN <= x <= W - TICK_LABEL_MARGIN:
            parts.append(f'<text x="{x:.1f}" y="11">{label}</text>')
    parts.append("</g>")
    labels = []
    for gap in gaps:                                 # behind the bars
        if gap.start is None or gap.end is None or gap.kind == "clock":
            continue
        s, e = epoch(gap.start), epoch(gap.end or gap.start)
        x, w = scale.span(s, e, 3)
        state = gap_state(gap)
        parts.append(f'<rect class="gap {esc(gap.kind)} {state}" data-gap="{esc(gap.gap_id)}" data-s="{s}" data-e="{e}" '
                     f'data-min="3" x="{x:.2f}" y="{top - 2}" width="{w:.2f}" height="{band_h + 2}">'
                     f"{gap_tip(gap, by_sha)}</rect>")
        kind = KIND_LABEL.get(gap.kind, gap.kind)
        text = f"{fmt_duration(gap.duration_s)} · {kind}" if gap.duration_s is not None else kind
        labels.append((label_x(scale.x((s + e) / 2), text), s, e, state, text))
    shown = readable_labels([(x, text) for x, *_, text in labels])
    for (x, s, e, state, text), visible in zip(labels, shown):
        hidden = "" if visible else ' visibility="hidden"'
        parts.append(f'<text class="gaplabel {state}" data-s="{s}" data-e="{e}" x="{x:.2f}" '
                     f'y="{top + band_h + 12}"{hidden}>{esc(text)}</text>')
    for rec in timed:
        s, e = epoch(rec.start), epoch(rec.end or rec.start)
        x, w = scale.span(s, e, 1.5)
        y = top + lane_of[rec.sha256] * (LANE_H + LANE_GAP)
        parts.append(f'<rect class="rec st-{esc(rec.status)}" data-rec="{esc(rec.sha256)}" data-s="{s}" '
                     f'data-e="{e}" data-min="1.5" x="{x:.2f}" y="{y}" width="{w:.2f}" height="{LANE_H}" rx="2">'
                     f"{recording_tip(rec)}</rect>")
        if rec.late_by_s:
            parts.append(f'<rect class="late" data-s="{s}" data-e="{e}" data-min="1.5" x="{x:.2f}" '
                         f'y="{y + LANE_H - 4}" width="{w:.2f}" height="4"/>')
    for gap in gaps:                                 # point markers on top
        if gap.start is None or gap.kind not in ("clock", "damaged_tail", "within_file"):
            continue
        s = epoch(gap.start)
        state = gap_state(gap)
        label = "clock" if gap.kind == "clock" else "!"
        parts.append(f'<g class="mark {esc(gap.kind)} {state}" data-gap="{esc(gap.gap_id)}" data-s="{s}" '
                     f'transform="translate({scale.x(s):.2f},0)">{gap_tip(gap, by_sha)}'
                     f'<path d="M-6 {top - 9} L6 {top - 9} L0 {top - 1} Z"/>'
                     f'<text x="8" y="{top - 2}">{label}</text></g>')
    parts.append(f'<rect class="brush" x="0" y="0" width="0" height="{height}" style="display:none"/></svg>')
    return "".join(parts)


# -- sections -----------------------------------------------------------------------------------------
def summary_section(data: ReportData) -> str:
    recs = data.recordings
    files, secs, size = Counter(), Counter(), Counter()
    for r in recs:
        files[r.status] += 1
        secs[r.status] += r.duration_s or 0.0
        size[r.status] += r.size
    late = [r for r in recs if r.late_by_s]
    unexplained = [g for g in data.gaps if g.waiting]
    clock = [g for g in data.gaps if g.kind == "clock"]
    times = [t for r in recs if not r.clock_problem for t in (r.start, r.end) if t]
    rows = "".join(
        f'<tr class="st-{esc(s)}"><th><span class="swatch st-{esc(s)}"></span>{esc(s)}</th><td>{files[s]}</td>'
        f"<td>{secs[s] / 3600:.2f}</td><td>{esc(human_bytes(size[s]))}</td></tr>"
        for s in sorted(files, key=lambda s: ("ok", "damaged", "unreadable", s).index(s) if s in ("ok", "damaged", "unreadable") else 9))
    rows += (f"<tr class='total'><th>all</th><td>{len(recs)}</td><td>{sum(secs.values()) / 3600:.2f}</td>"
             f"<td>{esc(human_bytes(sum(size.values())))}</td></tr>")
    cards = [
        ("devices", len({r.device_id for r in recs if r.device_id})),
        ("officers", len({r.officer_id for r in recs if r.officer_id})),
        ("late uploads", len(late)),
        ("unexplained gaps", len(unexplained)),
        ("gaps (all)", len(data.gaps)),
        ("pauses between sessions", sum(not g.needs_explanation for g in data.gaps)),
        ("clock anomalies", len(clock)),
        ("ingest runs", len(data.runs)),
    ]
    if data.unreadable_sources:
        cards.append(("sources not readable at all", len(data.unreadable_sources)))
    if data.unattributed:
        cards.append(("unattributed recordings", len(data.unattributed)))
    if data.conflicts:
        cards.append(("names that disagree", len(data.conflicts)))
    alerts = ("unexplained gaps", "late uploads", "unattributed recordings", "names that disagree")
    card_html = "".join(f'<div class="card{" alert" if label in alerts and n else ""}">'
                        f'<b>{n}</b><span>{esc(label)}</span></div>' for label, n in cards)
    span = f"{fmt_time(min(times))} → {fmt_time(max(times))}" if times else "no timed recordings"
    return (f'<section id="summary"><h2>Run summary</h2><div class="cards">{card_html}</div>'
            f'<table class="status"><thead><tr><th>status</th><th>files</th><th>hours</th><th>bytes</th></tr></thead>'
            f"<tbody>{rows}</tbody></table><p class='muted'>Time covered (site time): {esc(span)}. "
            f"Late upload: ingested more than {data.late_after_hours:g} h after the recording ended (compliance.late_after_hours).</p></section>")


def timeline_section(data: ReportData) -> str:
    # A recording whose clock cannot be right (reset to 2000, ahead of the archive) is shown apart:
    # on a device's timeline it would stretch the axis from 1999 to 2027 and hide everything else.
    apart = [r for r in data.recordings if r.clock_problem]
    apart_sha = {r.sha256 for r in apart}
    timed = [r for r in data.recordings if r.start is not None and r.sha256 not in apart_sha]
    points = [epoch(t) for r in timed for t in (r.start, r.end) if t]
    points += [epoch(t) for g in data.gaps for t in (g.start, g.end) if t and g.sha256 not in apart_sha]
    if not points:
        return '<section id="timelines"><h2>Timelines</h2><p class="muted">No recording has a time.</p></section>'
    t0, t1 = min(points), max(points)
    pad = max((t1 - t0) * 0.02, 5)
    scale = Scale(t0 - pad, t1 + pad)
    by_device: dict[str, list[Recording]] = defaultdict(list)
    for r in data.recordings:
        if r.sha256 not in apart_sha:
            by_device[r.device_id or "(unknown device)"].append(r)
    gaps_by_device: dict[str, list[Gap]] = defaultdict(list)
    for g in data.gaps:
        if g.sha256 not in apart_sha or g.kind != "clock":
            gaps_by_device[g.device_id or "(unknown device)"].append(g)
    by_sha = data.by_sha
    rows = []
    untimed_elsewhere = 0
    for device in sorted(set(by_device) | set(gaps_by_device)):
        recs, gaps = by_device.get(device, []), gaps_by_device.get(device, [])
        if not gaps and all(r.start is None for r in recs):
            untimed_elsewhere += len(recs)
            continue
        officers = sorted({r.officer_id for r in recs if r.officer_id})
        untimed = sum(1 for r in recs if r.start is None)
        callouts = []
        for g in gaps:
            if g.kind == "clock":
                what = (g.detail or g.reason or "clock anomaly").split(": ", 1)[-1]
                callouts.append(f'<span class="callout clock" title="{esc(g.gap_id)}">⚠ clock: {esc(what)}</span>')
        n_unexpl = sum(1 for g in gaps if g.waiting)
        rows.append(
            f'<div class="device" id="dev-{esc(device)}"><div class="devhead"><h3>{esc(device)}</h3>'
            f'<span class="muted">officer {esc(", ".join(officers) or "?")} · {len(recs)} recording(s)'
            f'{f" · {untimed} without time" if untimed else ""}'
            f'{f" · <b class=bad>{n_unexpl} unexplained gap(s)</b>" if n_unexpl else ""}</span>'
            f'{"".join(callouts)}</div>{device_svg(device, recs, gaps, scale, by_sha)}</div>')
    legend = ('<div class="legend"><span><i class="swatch st-ok"></i>ok</span><span><i class="swatch st-damaged"></i>damaged</span>'
              '<span><i class="swatch st-unreadable"></i>unreadable</span><span><i class="swatch late"></i>late upload (underlined)</span>'
              '<span><i class="swatch gap unexplained"></i>unexplained gap</span><span><i class="swatch gap explained"></i>explained gap</span>'
              '<span><i class="swatch gap pause"></i>pause between recording sessions (needs no explanation)</span>'
              '<span><i class="swatch gap overlap"></i>overlap</span><span class="mk">▼ clock / damaged tail / gap in file</span></div>')
    controls = ('<div class="controls"><label>from <input id="zoom-from" size="19"></label> '
                '<label>to <input id="zoom-to" size="19"></label> <button id="zoom-apply">zoom</button> '
                '<button id="zoom-out">zoom out</button> <button id="zoom-reset">whole range</button> '
                '<span class="muted">drag across a timeline to zoom in; click a recording to see its thumbnails; '
                'a link ending in #t=FROM,TO opens zoomed</span></div>')
    if untimed_elsewhere:
        rows.append(f'<p class="muted">{untimed_elsewhere} recording(s) without a device or a time are not on a '
                    'timeline; see the lists below.</p>')
    return (f'<section id="timelines" data-t0="{scale.t0}" data-t1="{scale.t1}" data-w="{W}" data-charw="{CHAR_W}">'
            f'<h2>Timelines ({esc(_zone_title(data))})</h2>'
            f'{controls}{legend}{"".join(rows)}{clock_apart(apart)}</section>')


def _zone_title(data: ReportData) -> str:
    if data.zone is None:
        return "UTC"
    offset = offset_label(as_utc(data.generated_at).astimezone(data.zone).utcoffset())
    return _("site time, {zone}, UTC{offset}").format(zone=zone_label(data.zone), offset=offset)


def clock_apart(apart: list[Recording]) -> str:
    """Recordings whose device clock cannot be right, listed apart from the timelines."""
    if not apart:
        return ""
    rows = [[_rec_link({r.sha256: r}, r.sha256), esc(r.device_id), esc(fmt_time(r.start)),
             esc(fmt_time(r.ingested_at)), esc(r.clock_problem)] for r in apart]
    return ('<div class="device clock-apart" id="clock-apart"><h3>'
            + esc(_("Clock problems, shown apart ({n})").format(n=len(apart))) + '</h3><p class="muted">'
            + esc(_("These recordings carry a device time that cannot be right; they are left off the timelines. "
                    "Their retention counts from when they reached the archive.")) + "</p>"
            + _table("clock", [_("file"), _("device"), _("device clock says"), _("reached the archive"), _("problem")],
                     rows, "")
            + "</div>")


def _table(cls: str, head: list[str], rows: list[list[str]], empty: str) -> str:
    if not rows:
        return f'<p class="muted {cls}">{esc(empty)}</p>'
    h = "".join(f"<th>{esc(c)}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="list {cls}"><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>'


def _rec_link(by_sha: dict[str, Recording], sha: str | None) -> str:
    if not sha:
        return ""
    rec = by_sha.get(sha)
    return f'<a href="#rec-{esc(sha)}" title="{esc(sha)}">{esc(rec.source_name if rec else sha[:12])}</a>'


def lists_section(data: ReportData) -> str:
    by_sha = data.by_sha
    unexplained = [g for g in data.gaps if g.waiting]
    archive = shlex.quote(data.archive)
    gap_rows = [[f'<code class="id">{esc(g.gap_id)}</code>', esc(g.device_id), esc(g.officer_id),
                 esc(KIND_LABEL.get(g.kind, g.kind)) + (f'<br><span class="muted">{esc(g.reason)}</span>' if g.reason else "")
                 + (f'<br><span class="muted">{esc(g.need_reason)}</span>' if g.need_reason else ""),
                 esc(fmt_time(g.start)), esc(fmt_time(g.end)), esc(fmt_duration(g.duration_s)),
                 " → ".join(x for x in (_rec_link(by_sha, g.before_sha256), _rec_link(by_sha, g.sha256),
                                        _rec_link(by_sha, g.after_sha256)) if x)
                 + (f'<br><span class="muted">{esc(g.detail)}</span>' if g.detail else ""),
                 esc(g.explanation) + (f'<br><span class="muted">{esc(g.explanation_reason)}</span>'
                                       if g.explanation_reason else "")] for g in unexplained]
    how = (f'<p class="muted">To explain a gap: <code class="cmd">fieldrec explain GAP --archive {esc(archive)} '
           '--reason "…" --by NAME</code> (add <code>--spoken</code> for a note spoken when recording resumed, '
           'or <code>--approved-by LEAD</code>).</p>' if unexplained else "")
    explained_rows = [[f'<code class="id">{esc(g.gap_id)}</code>', esc(g.device_id), esc(KIND_LABEL.get(g.kind, g.kind)),
                       esc(fmt_time(g.start)), esc(fmt_duration(g.duration_s)), esc(g.explanation_reason),
                       esc(g.explained_by), esc(g.approved_by or "spoken note")]
                      for g in data.gaps if g.explained]
    pauses = [[f'<code class="id">{esc(g.gap_id)}</code>', esc(g.device_id), esc(fmt_time(g.start)),
               esc(fmt_duration(g.duration_s)),
               " → ".join(x for x in (_rec_link(by_sha, g.before_sha256), _rec_link(by_sha, g.after_sha256)) if x)]
              for g in data.gaps if not g.needs_explanation and not g.explained]
    damaged = [r for r in data.recordings if r.status != "ok"]
    damaged_rows = [[f'<code class="id" title="{esc(r.sha256)}">{esc(r.sha256[:16])}</code>', _rec_link(by_sha, r.sha256),
                     esc(r.device_id), f'<span class="badge st-{esc(r.status)}">{esc(r.status)}</span>',
                     esc(r.error_stage), esc(r.error_message)] for r in damaged]
    damaged_rows += [["<code class='id'>—</code>", esc(s.get("source_path")), "", '<span class="badge st-unreadable">'
                      f'{esc(s.get("status"))}</span>', "read", esc(s.get("error_message"))]
                     for s in data.unreadable_sources]
    late = sorted((r for r in data.recordings if r.late_by_s), key=lambda r: -(r.late_by_s or 0))
    late_rows = [[f'<code class="id" title="{esc(r.sha256)}">{esc(r.sha256[:16])}</code>', _rec_link(by_sha, r.sha256),
                  esc(r.device_id), esc(r.officer_id), esc(fmt_time(r.end)),
                  esc(fmt_time(r.ingested_at)),
                  esc(fmt_duration(r.late_by_s))] for r in late]
    return (
        f'<section id="unexplained-gaps"><h2>Unexplained gaps ({len(unexplained)})</h2>'
        + _table("gaps", ["gap", "device", "officer", "kind", "from", "to", "length", "files", "explanation"],
                 gap_rows, "No unexplained gaps.") + how
        + f"<details><summary>Explained gaps ({len(explained_rows)})</summary>"
        + _table("explained", ["gap", "device", "kind", "from", "length", "reason", "by", "approved by"],
                 explained_rows, "None.") + "</details>"
        + f"<details><summary>Pauses between recording sessions, no explanation needed ({len(pauses)})</summary>"
        + _table("pauses", ["gap", "device", "from", "length", "between"], pauses, "None.") + "</details></section>"
        + attribution_section(data)
        + f'<section id="damaged"><h2>Damaged and unreadable files ({len(damaged_rows)})</h2>'
        + _table("damaged", ["sha256", "file", "device", "status", "stage", "what is wrong"], damaged_rows,
                 "No damaged files.") + "</section>"
        + f'<section id="late"><h2>Late uploads ({len(late_rows)})</h2>'
        + _table("late", ["sha256", "file", "device", "officer", "ended", "reached the archive", "after"],
                 late_rows, "No late uploads.") + "</section>")


def attribution_section(data: ReportData) -> str:
    """Recordings no naming profile attributed, and identical bytes docked under names that disagree."""
    by_sha = data.by_sha
    loose = [[f'<code class="id" title="{esc(r.sha256)}">{esc(r.sha256[:16])}</code>', _rec_link(by_sha, r.sha256),
              esc(r.kind), esc(fmt_time(r.start)), esc(fmt_time(r.ingested_at))] for r in data.unattributed]
    how = (f'<p class="muted">To attribute one: <code class="cmd">fieldrec attribute SHA --archive '
           f'{esc(shlex.quote(data.archive))} --device D --officer O --by NAME --reason "…"</code></p>' if loose else "")
    names = [[_rec_link(by_sha, c["sha256"]), esc(", ".join(c["fields"])),
              "<br>".join(esc(f"{src}: device {dev or '-'}, officer {off or '-'}, "
                              f"{when:%Y-%m-%d %H:%M:%S}" if when else f"{src}: device {dev or '-'}, officer {off or '-'}")
                          for src, dev, off, when in c["names"])] for c in data.conflicts]
    return (f'<section id="unattributed"><h2>Unattributed recordings ({len(loose)})</h2>'
            + _table("unattributed", ["sha256", "file", "kind", "start", "reached the archive"], loose,
                     "Every recording is attributed to a device.") + how
            + f'<h3 id="conflicts">Names that disagree ({len(names)})</h3>'
            + _table("conflicts", ["file", "disagree on", "names"], names, "No two names of the same bytes disagree.")
            + "</section>")


def recordings_section(data: ReportData) -> str:
    by_device: dict[str, list[Recording]] = defaultdict(list)
    for r in data.recordings:
        by_device[r.device_id or "(unknown device)"].append(r)
    blocks = []
    for device in sorted(by_device):
        recs = by_device[device]
        items = []
        for r in recs:
            thumbs = data.thumbs.get(r.sha256, [])
            figs = "".join(
                f'<figure><img class="thumb" loading="lazy" decoding="async" src="{t.data_uri}" width="{t.width}" '
                f'height="{t.height}" alt="{esc(r.source_name)} at {t.pts_s:.1f} s">'
                f"<figcaption>{esc(_at(r, t.pts_s))}</figcaption></figure>" for t in thumbs)
            if not figs:
                figs = f'<p class="muted">{"no thumbnails" if r.kind in ("video", "photo") else esc(r.kind)}</p>'
            late = ' <span class="badge late">late upload</span>' if r.late_by_s else ""
            items.append(
                f'<div class="recording" id="rec-{esc(r.sha256)}"><div class="rechead">'
                f'<span class="badge st-{esc(r.status)}">{esc(r.status)}</span>{late} <b>{esc(r.source_name)}</b> '
                f'<span class="muted">{esc(fmt_time(r.start))} → {esc(fmt_time(r.end))} · {esc(fmt_duration(r.duration_s))}'
                f' · officer {esc(r.officer_id or "?")} · {esc(human_bytes(r.size))} · <code>{esc(r.sha256[:16])}</code></span>'
                f'</div><div class="strip">{figs}</div></div>')
        opened = " open" if len(recs) <= OPEN_DETAILS_UP_TO else ""
        blocks.append(f'<details class="devrecs"{opened}><summary>{esc(device)} — {len(recs)} recording(s)</summary>'
                      f'{"".join(items)}</details>')
    return f'<section id="recordings"><h2>Recordings</h2>{"".join(blocks) or "<p class=muted>No recordings.</p>"}</section>'


def _at(rec: Recording, pts_s: float) -> str:
    if rec.start is None:
        return f"+{pts_s:.1f} s"
    return f"{(rec.start + timedelta(seconds=pts_s)):%H:%M:%S} (+{pts_s:.1f} s)"


def render(data: ReportData) -> str:
    filters = []
    if data.devices:
        filters.append("devices " + ", ".join(data.devices))
    if data.since:
        filters.append(f"since {fmt_time(as_utc(data.since).astimezone(data.zone) if data.zone else data.since)}")
    notes = "".join(f'<p class="note">{esc(n)}</p>' for n in data.notes)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
        f"<title>fieldrec report — {esc(data.archive)}</title><style>{CSS}</style></head><body>"
        f'<header><h1>fieldrec report</h1><p class="muted">archive <code>{esc(data.archive)}</code> · generated '
        f'{esc(fmt_time(as_utc(data.generated_at).astimezone(data.zone) if data.zone else data.generated_at))}'
        f'{" · " + esc("; ".join(filters)) if filters else ""}</p>'
        '<nav><a href="#summary">summary</a><a href="#timelines">timelines</a><a href="#unexplained-gaps">gaps</a>'
        '<a href="#unattributed">unattributed</a><a href="#damaged">damaged</a><a href="#late">late uploads</a><a href="#recordings">recordings</a></nav>'
        f"{notes}</header><main>"
        + summary_section(data) + timeline_section(data) + lists_section(data) + recordings_section(data)
        + '</main><div id="tip" hidden></div>'
        f"<script>{SCRIPT}</script></body></html>")


def write_report(archive: Path, out: Path, config: Config, *, since: datetime | None = None,
                 devices: tuple[str, ...] = ()) -> ReportData:
    """Load and render the report of ``archive`` into the HTML file ``out`` (written whole, then renamed)."""
    data = load(archive, config, since=since, devices=devices)
    out = Path(out)
    write_atomic(out, render(data))
    return data
