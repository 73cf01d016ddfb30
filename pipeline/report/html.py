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

from pipeline.common.i18n import N_, _, html_lang, ngettext, pgettext
from pipeline.common.text import display_width
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
KIND_LABEL = {"within_file": N_("within file"), "between_files": N_("between files"), "overlap": N_("overlap"),
              "clock": N_("clock"), "damaged_tail": N_("damaged tail")}


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
        return _("{s} s").format(s=f"{seconds:.1f}" if abs(seconds) < 10 and seconds != int(seconds)
                                 else f"{seconds:.0f}")
    if abs(seconds) < 3600:
        minutes, rest = int(seconds // 60), int(round(seconds % 60))
        return (_("{m} min {s} s").format(m=minutes, s=f"{rest:02d}") if rest
                else _("{m} min").format(m=minutes))
    if abs(seconds) < 172800:
        return _("{h} h {m} min").format(h=int(seconds // 3600), m=f"{int(seconds % 3600 // 60):02d}")
    return _("{d} days").format(d=f"{seconds / 86400:.1f}")


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
    """Centre of a gap's label, kept far enough from the edges to be read whole (a Chinese
    character is two characters wide)."""
    half = display_width(text) * CHAR_W / 2 + 2
    return min(max(x, half), W - half)


def readable_labels(labels: list[tuple[float, str]]) -> list[bool]:
    """Which labels (centre x, text) to show so that none overlaps another, left to right."""
    order = sorted(range(len(labels)), key=lambda i: labels[i][0])
    shown = [False] * len(labels)
    right = float("-inf")
    for i in order:
        x, text = labels[i]
        half = display_width(text) * CHAR_W / 2
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
    late = (_("late upload: ingested {after} after it ended").format(after=fmt_duration(rec.late_by_s))
            if rec.late_by_s else "")
    return _tip(rec.source_name, _("{status} · device {device} · officer {officer}").format(
                    status=status_name(rec.status), device=rec.device_id or "?", officer=rec.officer_id or "?"),
                f"{fmt_time(rec.start)} → {fmt_time(rec.end)} ({fmt_duration(rec.duration_s)})",
                rec.error_message or "", late, f"sha256 {rec.sha256}")


def status_name(status: str) -> str:
    """ok, damaged, unreadable in the page's language."""
    return pgettext("value", status)


def kind_name(kind: str) -> str:
    return _(KIND_LABEL[kind]) if kind in KIND_LABEL else kind


def gap_state(gap: Gap) -> str:
    """explained | unexplained | pause (between recording sessions: needs no explanation)."""
    if gap.explained:
        return "explained"
    return "unexplained" if gap.needs_explanation else "pause"


def explanation_text(gap: Gap) -> str:
    if gap.explanation == "unexplained":
        return (_("UNEXPLAINED") if gap.needs_explanation
                else _("no explanation needed: {why}").format(why=gap.need_reason))
    who = (_("by {by}, approved by {approver}").format(by=gap.explained_by, approver=gap.approved_by)
           if gap.approved_by else _("by {by}").format(by=gap.explained_by))
    return pgettext("value", gap.explanation) + f": {gap.explanation_reason} ({who})"


def gap_tip(gap: Gap, by_sha: dict[str, Recording]) -> str:
    names = [by_sha[s].source_name for s in (gap.before_sha256, gap.sha256, gap.after_sha256) if s in by_sha]
    return _tip(_("gap {id}").format(id=gap.gap_id), f"{kind_name(gap.kind)} · {fmt_duration(gap.duration_s)}"
                + (" · " + pgettext("value", gap.reason) if gap.reason else ""),
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
    label = _("timeline of device {device}").format(device=device)
    parts = [f'<svg class="timeline" viewBox="0 0 {W} {height}" data-device="{esc(device)}" '
             f'role="img" aria-label="{esc(label)}">',
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
        kind = kind_name(gap.kind)
        text = f"{fmt_duration(gap.duration_s)} · {kind}" if gap.duration_s is not None else kind
        labels.append((label_x(scale.x((s + e) / 2), text), s, e, state, text))
    shown = readable_labels([(x, text) for x, *_rest, text in labels])
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
        label = kind_name("clock") if gap.kind == "clock" else "!"
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
        f'<tr class="st-{esc(s)}"><th><span class="swatch st-{esc(s)}"></span>{esc(status_name(s))}</th>'
        f"<td>{files[s]}</td><td>{secs[s] / 3600:.2f}</td><td>{esc(human_bytes(size[s]))}</td></tr>"
        for s in sorted(files, key=lambda s: ("ok", "damaged", "unreadable", s).index(s) if s in ("ok", "damaged", "unreadable") else 9))
    rows += ("<tr class='total'><th>" + esc(_("all")) + f"</th><td>{len(recs)}</td>"
             f"<td>{sum(secs.values()) / 3600:.2f}</td><td>{esc(human_bytes(sum(size.values())))}</td></tr>")
    # (label, count, an alert when not zero)
    cards = [
        (_("devices"), len({r.device_id for r in recs if r.device_id}), False),
        (_("officers"), len({r.officer_id for r in recs if r.officer_id}), False),
        (_("late uploads"), len(late), True),
        (_("unexplained gaps"), len(unexplained), True),
        (_("gaps (all)"), len(data.gaps), False),
        (_("pauses between sessions"), sum(not g.needs_explanation for g in data.gaps), False),
        (_("clock anomalies"), len(clock), False),
        (_("ingest runs"), len(data.runs), False),
    ]
    if data.unreadable_sources:
        cards.append((_("sources not readable at all"), len(data.unreadable_sources), False))
    if data.unattributed:
        cards.append((_("unattributed recordings"), len(data.unattributed), True))
    if data.conflicts:
        cards.append((_("names that disagree"), len(data.conflicts), True))
    card_html = "".join(f'<div class="card{" alert" if alert and n else ""}">'
                        f'<b>{n}</b><span>{esc(label)}</span></div>' for label, n, alert in cards)
    span = f"{fmt_time(min(times))} → {fmt_time(max(times))}" if times else _("no timed recordings")
    head = "".join(f"<th>{esc(h)}</th>" for h in (_("status"), _("files"), _("hours"), _("bytes")))
    covered = _("Time covered (site time): {span}.").format(span=span)
    late_rule = _("Late upload: ingested more than {hours} h after the recording ended "
                  "(compliance.late_after_hours).").format(hours=f"{data.late_after_hours:g}")
    return ('<section id="summary"><h2>' + esc(_("Run summary")) + f'</h2><div class="cards">{card_html}</div>'
            f'<table class="status"><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table><p class='muted'>{esc(covered)} {esc(late_rule)}</p></section>")


def timeline_section(data: ReportData) -> str:
    # A recording whose clock cannot be right (reset to 2000, ahead of the archive) is shown apart:
    # on a device's timeline it would stretch the axis from 1999 to 2027 and hide everything else.
    apart = [r for r in data.recordings if r.clock_problem]
    apart_sha = {r.sha256 for r in apart}
    timed = [r for r in data.recordings if r.start is not None and r.sha256 not in apart_sha]
    points = [epoch(t) for r in timed for t in (r.start, r.end) if t]
    points += [epoch(t) for g in data.gaps for t in (g.start, g.end) if t and g.sha256 not in apart_sha]
    if not points:
        return ('<section id="timelines"><h2>' + esc(_("Timelines")) + '</h2>'
                '<p class="muted">' + esc(_("No recording has a time.")) + "</p></section>")
    t0, t1 = min(points), max(points)
    pad = max((t1 - t0) * 0.02, 5)
    scale = Scale(t0 - pad, t1 + pad)
    unknown = _("(unknown device)")
    by_device: dict[str, list[Recording]] = defaultdict(list)
    for r in data.recordings:
        if r.sha256 not in apart_sha:
            by_device[r.device_id or unknown].append(r)
    gaps_by_device: dict[str, list[Gap]] = defaultdict(list)
    for g in data.gaps:
        if g.sha256 not in apart_sha or g.kind != "clock":
            gaps_by_device[g.device_id or unknown].append(g)
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
                what = (g.detail or g.reason or _("clock anomaly")).split(": ", 1)[-1]
                callout = _("clock: {what}").format(what=what)
                callouts.append(f'<span class="callout clock" title="{esc(g.gap_id)}">⚠ {esc(callout)}</span>')
        n_unexpl = sum(1 for g in gaps if g.waiting)
        about = _("officer {officers} · {n} recording(s)").format(officers=", ".join(officers) or "?", n=len(recs))
        if untimed:
            about += " · " + _("{n} without time").format(n=untimed)
        bad = (" · <b class=bad>" + esc(_("{n} unexplained gap(s)").format(n=n_unexpl)) + "</b>" if n_unexpl else "")
        rows.append(
            f'<div class="device" id="dev-{esc(device)}"><div class="devhead"><h3>{esc(device)}</h3>'
            f'<span class="muted">{esc(about)}{bad}</span>'
            f'{"".join(callouts)}</div>{device_svg(device, recs, gaps, scale, by_sha)}</div>')
    swatches = (("st-ok", status_name("ok")), ("st-damaged", status_name("damaged")),
                ("st-unreadable", status_name("unreadable")), ("late", _("late upload (underlined)")),
                ("gap unexplained", _("unexplained gap")),                                 # untranslated: classes
                ("gap explained", _("explained gap")),                                     # untranslated: classes
                ("gap pause", _("pause between recording sessions (needs no explanation)")),  # untranslated: classes
                ("gap overlap", _("overlap")))                                             # untranslated: classes
    legend = ('<div class="legend">' + "".join(f'<span><i class="swatch {cls}"></i>{esc(label)}</span>'
                                               for cls, label in swatches)
              + '<span class="mk">' + esc(_("▼ clock / damaged tail / gap in file")) + "</span></div>")
    controls = ('<div class="controls"><label>' + esc(_("from")) + ' <input id="zoom-from" size="19"></label> '
                '<label>' + esc(_("to")) + ' <input id="zoom-to" size="19"></label> '
                '<button id="zoom-apply">' + esc(_("zoom")) + '</button> '
                '<button id="zoom-out">' + esc(_("zoom out")) + '</button> '
                '<button id="zoom-reset">' + esc(_("whole range")) + '</button> <span class="muted">'
                + esc(_("drag across a timeline to zoom in; click a recording to see its thumbnails; a link ending in "
                        "#t=FROM,TO opens zoomed")) + "</span></div>")
    if untimed_elsewhere:
        rows.append('<p class="muted">' + esc(_("{n} recording(s) without a device or a time are not on a timeline; "
                                                "see the lists below.").format(n=untimed_elsewhere)) + "</p>")
    return (f'<section id="timelines" data-t0="{scale.t0}" data-t1="{scale.t1}" data-w="{W}" data-charw="{CHAR_W}">'
            + "<h2>" + esc(_("Timelines ({zone})").format(zone=_zone_title(data))) + "</h2>"
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


def _muted(text: str | None) -> str:
    return f'<br><span class="muted">{esc(text)}</span>' if text else ""


def _id(value: str, title: str | None = None) -> str:
    return f'<code class="id"{f" title={chr(34)}{esc(title)}{chr(34)}" if title else ""}>{esc(value)}</code>'


def _how(text: str, **commands: str) -> str:
    """A hint whose placeholders are commands: the words translated and escaped, the commands as code."""
    return (f'<p class="muted">'
            + esc(text).format(**{k: f'<code class="cmd">{esc(v)}</code>' for k, v in commands.items()}) + "</p>")


def lists_section(data: ReportData) -> str:
    by_sha = data.by_sha
    unexplained = [g for g in data.gaps if g.waiting]
    archive = shlex.quote(data.archive)
    gap_rows = [[_id(g.gap_id), esc(g.device_id), esc(g.officer_id),
                 esc(kind_name(g.kind)) + _muted(g.reason and pgettext("value", g.reason)) + _muted(g.need_reason),
                 esc(fmt_time(g.start)), esc(fmt_time(g.end)), esc(fmt_duration(g.duration_s)),
                 " → ".join(x for x in (_rec_link(by_sha, g.before_sha256), _rec_link(by_sha, g.sha256),
                                        _rec_link(by_sha, g.after_sha256)) if x) + _muted(g.detail),
                 esc(pgettext("value", g.explanation)) + _muted(g.explanation_reason)] for g in unexplained]
    how = (_how(_("To explain a gap: {command} (add {spoken} for a note spoken when recording resumed, or "
                  "{approved})."),
                command=f'fieldrec explain GAP --archive {archive} --reason "…" --by NAME',  # untranslated: a command
                spoken="--spoken", approved="--approved-by LEAD") if unexplained else "")  # untranslated: options
    explained_rows = [[_id(g.gap_id), esc(g.device_id), esc(kind_name(g.kind)),
                       esc(fmt_time(g.start)), esc(fmt_duration(g.duration_s)), esc(g.explanation_reason),
                       esc(g.explained_by), esc(g.approved_by or _("spoken note"))]
                      for g in data.gaps if g.explained]
    pauses = [[_id(g.gap_id), esc(g.device_id), esc(fmt_time(g.start)), esc(fmt_duration(g.duration_s)),
               " → ".join(x for x in (_rec_link(by_sha, g.before_sha256), _rec_link(by_sha, g.after_sha256)) if x)]
              for g in data.gaps if not g.needs_explanation and not g.explained]
    damaged = [r for r in data.recordings if r.status != "ok"]
    damaged_rows = [[_id(r.sha256[:16], r.sha256), _rec_link(by_sha, r.sha256),
                     esc(r.device_id), f'<span class="badge st-{esc(r.status)}">{esc(status_name(r.status))}</span>',
                     esc(r.error_stage), esc(r.error_message)] for r in damaged]
    damaged_rows += [[_id("—"), esc(s.get("source_path")), "",
                      f'<span class="badge st-unreadable">{esc(status_name(s.get("status") or ""))}</span>',
                      esc(_("read")), esc(s.get("error_message"))]
                     for s in data.unreadable_sources]
    late = sorted((r for r in data.recordings if r.late_by_s), key=lambda r: -(r.late_by_s or 0))
    late_rows = [[_id(r.sha256[:16], r.sha256), _rec_link(by_sha, r.sha256),
                  esc(r.device_id), esc(r.officer_id), esc(fmt_time(r.end)),
                  esc(fmt_time(r.ingested_at)),
                  esc(fmt_duration(r.late_by_s))] for r in late]
    none = _("None.")
    return (
        '<section id="unexplained-gaps"><h2>' + esc(_("Unexplained gaps ({n})").format(n=len(unexplained))) + "</h2>"
        + _table("gaps", [_("gap"), _("device"), _("officer"), _("kind"), _("from"), _("to"), _("length"),
                          pgettext("gap", "files"), _("explanation")], gap_rows, _("No unexplained gaps.")) + how
        + "<details><summary>" + esc(_("Explained gaps ({n})").format(n=len(explained_rows))) + "</summary>"
        + _table("explained", [_("gap"), _("device"), _("kind"), _("from"), _("length"), _("reason"), _("by"),
                               _("approved by")], explained_rows, none) + "</details>"
        + "<details><summary>"
        + esc(_("Pauses between recording sessions, no explanation needed ({n})").format(n=len(pauses)))
        + "</summary>"
        + _table("pauses", [_("gap"), _("device"), _("from"), _("length"), _("between")], pauses, none)
        + "</details></section>"
        + attribution_section(data)
        + '<section id="damaged"><h2>' + esc(_("Damaged and unreadable files ({n})").format(n=len(damaged_rows)))
        + "</h2>"
        + _table("damaged", ["sha256", _("file"), _("device"), _("status"), _("stage"), _("what is wrong")],
                 damaged_rows, _("No damaged files.")) + "</section>"
        + '<section id="late"><h2>' + esc(_("Late uploads ({n})").format(n=len(late_rows))) + "</h2>"
        + _table("late", ["sha256", _("file"), _("device"), _("officer"), _("ended"), _("reached the archive"),
                          _("after")], late_rows, _("No late uploads.")) + "</section>")


def attribution_section(data: ReportData) -> str:
    """Recordings no naming profile attributed, and identical bytes docked under names that disagree."""
    by_sha = data.by_sha
    loose = [[_id(r.sha256[:16], r.sha256), _rec_link(by_sha, r.sha256),
              esc(pgettext("value", r.kind)), esc(fmt_time(r.start)), esc(fmt_time(r.ingested_at))]
             for r in data.unattributed]
    how = (_how(_("To attribute one: {command}"),
                command=f'fieldrec attribute SHA --archive {shlex.quote(data.archive)} --device D '  # untranslated:
                        '--officer O --by NAME --reason "…"') if loose else "")                      # a command

    def named(src, dev, off, when) -> str:
        said = _("device {device}, officer {officer}").format(device=dev or "-", officer=off or "-")
        return f"{src}: {said}" + (f", {when:%Y-%m-%d %H:%M:%S}" if when else "")

    names = [[_rec_link(by_sha, c["sha256"]), esc(", ".join(c["fields"])),
              "<br>".join(esc(named(*n)) for n in c["names"])] for c in data.conflicts]
    return ('<section id="unattributed"><h2>' + esc(_("Unattributed recordings ({n})").format(n=len(loose))) + "</h2>"
            + _table("unattributed", ["sha256", _("file"), _("kind"), _("start"), _("reached the archive")], loose,
                     _("Every recording is attributed to a device.")) + how
            + '<h3 id="conflicts">' + esc(_("Names that disagree ({n})").format(n=len(names))) + "</h3>"
            + _table("conflicts", [_("file"), _("disagree on"), _("names")], names,
                     _("No two names of the same bytes disagree."))
            + "</section>")


def recordings_section(data: ReportData) -> str:
    by_device: dict[str, list[Recording]] = defaultdict(list)
    for r in data.recordings:
        by_device[r.device_id or _("(unknown device)")].append(r)
    blocks = []
    for device in sorted(by_device):
        recs = by_device[device]
        items = []
        for r in recs:
            thumbs = data.thumbs.get(r.sha256, [])
            alt = _("{name} at {s} s")
            figs = "".join(
                f'<figure><img class="thumb" loading="lazy" decoding="async" src="{t.data_uri}" width="{t.width}" '
                f'height="{t.height}" alt="{esc(alt.format(name=r.source_name, s=f"{t.pts_s:.1f}"))}">'
                f"<figcaption>{esc(_at(r, t.pts_s))}</figcaption></figure>" for t in thumbs)
            if not figs:
                none = _("no thumbnails") if r.kind in ("video", "photo") else pgettext("value", r.kind)
                figs = f'<p class="muted">{esc(none)}</p>'
            late = ' <span class="badge late">' + esc(_("late upload")) + "</span>" if r.late_by_s else ""
            about = " · ".join((f"{fmt_time(r.start)} → {fmt_time(r.end)}", fmt_duration(r.duration_s),
                                _("officer {officer}").format(officer=r.officer_id or "?"), human_bytes(r.size)))
            items.append(
                f'<div class="recording" id="rec-{esc(r.sha256)}"><div class="rechead">'
                f'<span class="badge st-{esc(r.status)}">{esc(status_name(r.status))}</span>{late} '
                f'<b>{esc(r.source_name)}</b> <span class="muted">{esc(about)} · <code>{esc(r.sha256[:16])}</code></span>'
                f'</div><div class="strip">{figs}</div></div>')
        opened = " open" if len(recs) <= OPEN_DETAILS_UP_TO else ""
        summary = _("{device} — {n} recording(s)").format(device=device, n=len(recs))
        blocks.append(f'<details class="devrecs"{opened}><summary>{esc(summary)}</summary>{"".join(items)}</details>')
    empty = "<p class=muted>" + esc(_("No recordings.")) + "</p>"
    return ('<section id="recordings"><h2>' + esc(_("Recordings")) + "</h2>" + ("".join(blocks) or empty)
            + "</section>")


def _at(rec: Recording, pts_s: float) -> str:
    if rec.start is None:
        return f"+{pts_s:.1f} s"
    return f"{(rec.start + timedelta(seconds=pts_s)):%H:%M:%S} (+{pts_s:.1f} s)"


def render(data: ReportData) -> str:
    """The page, in the language in use (``lang`` says which, so browsers pick the right glyphs)."""
    filters = []
    if data.devices:
        filters.append(_("devices {devices}").format(devices=", ".join(data.devices)))
    if data.since:
        filters.append(_("since {when}").format(
            when=fmt_time(as_utc(data.since).astimezone(data.zone) if data.zone else data.since)))
    notes = "".join(f'<p class="note">{esc(n)}</p>' for n in data.notes)
    generated = fmt_time(as_utc(data.generated_at).astimezone(data.zone) if data.zone else data.generated_at)
    about = (esc(_("archive {archive} · generated {when}")).format(archive=f"<code>{esc(data.archive)}</code>",
                                                                   when=esc(generated))
             + (" · " + esc("; ".join(filters)) if filters else ""))
    links = (("summary", _("summary")), ("timelines", _("timelines")), ("unexplained-gaps", _("gaps")),
             ("unattributed", _("unattributed")), ("damaged", _("damaged")), ("late", _("late uploads")),
             ("recordings", _("recordings")))
    nav = "".join(f'<a href="#{target}">{esc(label)}</a>' for target, label in links)
    title, heading = _("fieldrec report — {archive}").format(archive=data.archive), _("fieldrec report")
    return (
        f'<!DOCTYPE html><html lang="{html_lang()}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head>"
        f'<body><header><h1>{esc(heading)}</h1><p class="muted">{about}</p>'
        f"<nav>{nav}</nav>{notes}</header><main>"
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
