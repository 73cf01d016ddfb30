"""The report's inline style sheet and script (kept here so the HTML needs no other file)."""

CSS = """
:root { --ok:#2e7d32; --damaged:#ef6c00; --unreadable:#b71c1c; --gap:#d32f2f; --explained:#9e9e9e;
        --overlap:#7b1fa2; --ink:#1d232a; --muted:#5f6b76; --line:#d9dee3; --bg:#f6f7f9; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--ink); background:var(--bg); }
header { background:#1d2733; color:#fff; padding:14px 24px 10px; }
header h1 { margin:0 0 2px; font-size:20px; }
header .muted { color:#b8c3ce; }
header code { color:#fff; }
nav a { color:#9cc7ff; margin-right:14px; text-decoration:none; }
.note { background:#fff4d6; color:#5a4500; padding:4px 10px; border-radius:4px; margin:6px 0 0; display:inline-block; margin-right:8px; }
main { padding:8px 24px 40px; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:12px 16px; margin:14px 0; }
h2 { font-size:17px; margin:2px 0 10px; }
h3 { font-size:14px; margin:0; display:inline; }
.muted { color:var(--muted); }
.cards { display:flex; flex-wrap:wrap; gap:10px; margin-bottom:10px; }
.card { border:1px solid var(--line); border-radius:6px; padding:6px 12px; min-width:110px; }
.card b { display:block; font-size:22px; }
.card span { color:var(--muted); font-size:12px; }
.card.alert { border-color:var(--gap); background:#fdecea; }
.card.alert b { color:var(--gap); }
table { border-collapse:collapse; }
th, td { text-align:left; padding:3px 10px 3px 0; border-bottom:1px solid #eef0f2; vertical-align:top; }
table.status td { text-align:right; }
table.list { width:100%; font-size:13px; }
table.list td:last-child { word-break:break-word; }
tr.total { font-weight:600; }
code { font:12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
code.cmd { font-size:11px; color:#37474f; }
code.id { white-space:nowrap; background:#eef2f6; padding:1px 4px; border-radius:3px; user-select:all; }
.swatch { display:inline-block; width:12px; height:12px; border-radius:2px; margin-right:6px; vertical-align:-1px; }
.swatch.st-ok { background:var(--ok); } .swatch.st-damaged { background:var(--damaged); }
.swatch.st-unreadable { background:var(--unreadable); }
.swatch.late { background:linear-gradient(to top, #111 0 4px, var(--ok) 4px); }
.swatch.gap.unexplained { background:repeating-linear-gradient(45deg, var(--gap) 0 3px, #fff 3px 6px); }
.swatch.gap.explained { background:repeating-linear-gradient(45deg, var(--explained) 0 3px, #fff 3px 6px); }
.swatch.gap.pause { background:#eef1f5; border:1px dashed #90a4ae; }
.swatch.gap.overlap { background:var(--overlap); opacity:.5; }
.legend { display:flex; flex-wrap:wrap; gap:14px; font-size:12px; color:var(--muted); margin:6px 0 8px; }
.legend .mk { color:var(--gap); }
.controls input { font:12px ui-monospace, monospace; }
.controls button { font-size:12px; }
.device { border-top:1px solid var(--line); padding:6px 0 2px; }
.devhead { display:flex; gap:12px; align-items:baseline; flex-wrap:wrap; }
.callout { font-size:12px; border-radius:10px; padding:0 8px; }
.callout.clock { background:#fff0e0; color:#8a3b00; border:1px solid #f0a35c; }
.bad { color:var(--gap); }
svg.timeline { width:100%; height:auto; display:block; user-select:none; cursor:crosshair; overflow:hidden; }
svg .axis line { stroke:#e6e9ec; stroke-width:1; }
svg .axis text { font-size:10px; fill:#7d8790; text-anchor:middle; }
svg rect.rec { stroke:#fff; stroke-width:.5; cursor:pointer; }
svg rect.rec:hover { stroke:#000; stroke-width:1.5; }
svg rect.st-ok { fill:var(--ok); } svg rect.st-damaged { fill:var(--damaged); } svg rect.st-unreadable { fill:var(--unreadable); }
svg rect.late { fill:#111; pointer-events:none; }
svg rect.gap.unexplained { fill:rgba(211,47,47,.28); stroke:var(--gap); stroke-width:1; }
svg rect.gap.explained { fill:rgba(158,158,158,.25); stroke:var(--explained); stroke-dasharray:2 2; }
svg rect.gap.pause { fill:rgba(144,164,174,.12); stroke:#90a4ae; stroke-dasharray:1 3; }
svg text.gaplabel.pause { fill:#78909c; font-weight:400; }
svg rect.gap.overlap { fill:rgba(123,31,162,.25); stroke:var(--overlap); }
svg text.gaplabel { font-size:10px; text-anchor:middle; fill:var(--gap); font-weight:600; }
svg text.gaplabel.explained { fill:var(--explained); font-weight:400; }
svg g.mark path { fill:var(--gap); } svg g.mark.explained path { fill:var(--explained); }
svg g.mark.clock path { fill:#e65100; }
svg g.mark text { font-size:10px; fill:#8a3b00; font-weight:600; }
svg rect.brush { fill:rgba(33,150,243,.15); stroke:#2196f3; }
.badge { font-size:11px; border-radius:3px; padding:0 5px; color:#fff; background:#777; }
.badge.st-ok { background:var(--ok); } .badge.st-damaged { background:var(--damaged); }
.badge.st-unreadable { background:var(--unreadable); } .badge.late { background:#000; }
details.devrecs { border-top:1px solid var(--line); padding:4px 0; }
details.devrecs > summary { font-weight:600; cursor:pointer; }
.recording { padding:6px 0 4px 12px; content-visibility:auto; contain-intrinsic-size:auto 130px; }
.recording:target { background:#fff8d8; }
.strip { display:flex; gap:6px; overflow-x:auto; padding:4px 0; }
.strip figure { margin:0; flex:none; }
.strip img { display:block; height:90px; width:auto; border-radius:3px; background:#ddd; }
.strip figcaption { font-size:11px; color:var(--muted); text-align:center; }
#tip { position:absolute; z-index:10; background:#1d2733; color:#fff; font-size:12px; padding:6px 8px;
       border-radius:4px; white-space:pre; pointer-events:none; max-width:560px; box-shadow:0 2px 8px rgba(0,0,0,.25); }
"""

# Zoom: every element with data-s (start) and data-e (end), in seconds of device time, is laid
# out again for the chosen range with the same formula as pipeline/report/html.py's Scale.
SCRIPT = """
(() => {
  const sec = document.getElementById('timelines');
  if (!sec || !sec.dataset.t0) return;
  const W = +sec.dataset.w, CW = +sec.dataset.charw, FULL = [+sec.dataset.t0, +sec.dataset.t1];
  const STEPS = [1,2,5,10,15,30,60,120,300,600,900,1800,3600,7200,10800,21600,43200,86400,172800,604800,2592000];
  const svgs = [...sec.querySelectorAll('svg.timeline')];
  const from = document.getElementById('zoom-from'), to = document.getElementById('zoom-to');
  let view = FULL.slice();
  const X = t => (t - view[0]) / (view[1] - view[0]) * W;
  const T = x => view[0] + x / W * (view[1] - view[0]);
  const iso = t => new Date(t * 1000).toISOString().slice(0, 19).replace('T', ' ');
  const NS = 'http://www.w3.org/2000/svg';

  function axis(svg) {
    const g = svg.querySelector('g.axis'), h = svg.viewBox.baseVal.height;
    g.textContent = '';
    const span = view[1] - view[0];
    const step = STEPS.find(s => span / s <= 10) || STEPS[STEPS.length - 1];
    for (let t = Math.ceil(view[0] / step) * step; t <= view[1]; t += step) {
      const x = X(t), s = new Date(t * 1000).toISOString();
      const line = document.createElementNS(NS, 'line');
      line.setAttribute('x1', x); line.setAttribute('x2', x); line.setAttribute('y1', 14); line.setAttribute('y2', h);
      const text = document.createElementNS(NS, 'text');
      text.setAttribute('x', x); text.setAttribute('y', 11);
      text.textContent = step >= 86400 ? s.slice(0, 10) : step >= 60 ? s.slice(11, 16) : s.slice(11, 19);
      g.append(line);
      if (x >= 25 && x <= W - 25) g.append(text);
    }
  }
  function layout() {
    for (const svg of svgs) {
      for (const el of svg.querySelectorAll('[data-s]')) {
        const s = +el.dataset.s, e = el.dataset.e !== undefined ? +el.dataset.e : s;
        if (el.tagName === 'rect') {
          const min = +(el.dataset.min || 1);
          let x0 = X(s), x1 = X(e);
          if (x1 - x0 < min) { const c = (x0 + x1) / 2; x0 = c - min / 2; x1 = c + min / 2; }
          el.setAttribute('x', x0); el.setAttribute('width', x1 - x0);
        } else if (el.tagName === 'text') {
          const half = el.textContent.length * CW / 2 + 2;
          el.setAttribute('x', Math.min(Math.max(X((s + e) / 2), half), W - half));
        } else {
          el.setAttribute('transform', 'translate(' + X(s) + ',0)');
        }
      }
      axis(svg);
      let right = -Infinity;                       // hide gap labels that would overlap, left to right
      const labels = [...svg.querySelectorAll('text.gaplabel')].sort((a, b) => a.getAttribute('x') - b.getAttribute('x'));
      for (const el of labels) {
        const x = +el.getAttribute('x'), half = el.textContent.length * CW / 2;
        const inView = +el.dataset.e >= view[0] && +el.dataset.s <= view[1];
        const show = inView && x - half >= right + 6;
        el.setAttribute('visibility', show ? 'visible' : 'hidden');
        if (show) right = x + half;
      }
    }
    from.value = iso(view[0]); to.value = iso(view[1]);
  }
  function zoom(a, b) { if (b - a >= 1) { view = [a, b]; layout(); } }
  const parse = v => Date.parse(v.trim().replace(' ', 'T') + 'Z') / 1000;
  const linked = decodeURIComponent(location.hash).match(/^#t=([^,]+),(.+)$/);
  if (linked && parse(linked[2]) > parse(linked[1])) view = [parse(linked[1]), parse(linked[2])];
  document.getElementById('zoom-apply').onclick = () => {
    const a = parse(from.value), b = parse(to.value);
    if (isFinite(a) && isFinite(b) && b > a) zoom(a, b);
  };
  document.getElementById('zoom-out').onclick = () => {
    const c = (view[0] + view[1]) / 2, h = view[1] - view[0];
    zoom(Math.max(FULL[0], c - h), Math.min(FULL[1], c + h));
  };
  document.getElementById('zoom-reset').onclick = () => zoom(FULL[0], FULL[1]);
  for (const svg of svgs) {
    const brush = svg.querySelector('rect.brush');
    let x0 = null;
    const toX = ev => { const r = svg.getBoundingClientRect(); return (ev.clientX - r.left) / r.width * W; };
    svg.addEventListener('mousedown', ev => {
      x0 = toX(ev); brush.setAttribute('x', x0); brush.setAttribute('width', 0); brush.style.display = '';
      ev.preventDefault();
    });
    svg.addEventListener('mousemove', ev => {
      if (x0 === null) return;
      const x = toX(ev); brush.setAttribute('x', Math.min(x0, x)); brush.setAttribute('width', Math.abs(x - x0));
    });
    window.addEventListener('mouseup', ev => {
      if (x0 === null) return;
      const x = toX(ev), a = Math.min(x0, x), b = Math.max(x0, x);
      x0 = null; brush.style.display = 'none';
      if (b - a > 4) { zoom(T(a), T(b)); return; }
      const rec = ev.target.closest && ev.target.closest('[data-rec]');
      if (rec) location.hash = 'rec-' + rec.dataset.rec;
    });
  }
  const tip = document.getElementById('tip');
  for (const t of [...document.querySelectorAll('svg.timeline title')]) {
    t.parentNode.dataset.tip = t.textContent; t.remove();
  }
  document.addEventListener('mouseover', ev => {
    const el = ev.target.closest && ev.target.closest('[data-tip]');
    if (!el) { tip.hidden = true; return; }
    tip.textContent = el.dataset.tip; tip.hidden = false;
  });
  document.addEventListener('mousemove', ev => {
    if (tip.hidden) return;
    const left = Math.min(ev.pageX + 14, window.scrollX + document.documentElement.clientWidth - tip.offsetWidth - 8);
    tip.style.left = left + 'px'; tip.style.top = (ev.pageY + 14) + 'px';
  });
  layout();
})();
"""
