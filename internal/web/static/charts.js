// charts.js: the dashboard's own small SVG chart module. Four kinds of chart
// share one mounting, tooltip and keyboard model:
//
//   xyChart / stackedBarChart / lineChart  stacked bars and lines over a band axis
//   donutChart                              shares of a whole
//   heatmap                                 a rows x columns grid of intensities
//
// Every chart re-renders itself when its container is resized, draws its
// colours from CSS classes (so the theme and the Content-Security-Policy
// stay in style.css), is focusable, and moves its highlight with the arrow
// keys so that keyboard users get the same tooltips as mouse users. Text from
// data is only ever set with textContent: model names and project paths are
// user data.

const NS = 'http://www.w3.org/2000/svg';

/** el creates an SVG element with attributes and appends it to parent. */
function el(tag, attrs = {}, parent = null) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  }
  if (parent) parent.appendChild(node);
  return node;
}

/** niceStep returns a round step (1, 2, 2.5 or 5 times a power of ten) that
 *  cuts range into about count intervals. */
export function niceStep(range, count) {
  if (!(range > 0) || !(count > 0)) return 1;
  const raw = range / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const f = norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10;
  return f * mag;
}

/** ticks returns round axis values from 0 up to at least max. */
export function ticks(max, count = 4) {
  if (!(max > 0)) return [0, 1];
  const step = niceStep(max, count);
  const top = Math.ceil(max / step - 1e-9) * step;
  const out = [];
  for (let v = 0; v <= top + step / 2; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

// ---------------------------------------------------------------------------
// Mounting, resizing, tooltips

const observer = typeof ResizeObserver === 'function'
  ? new ResizeObserver((entries) => {
    for (const entry of entries) {
      const c = entry.target._chart;
      const w = Math.round(entry.contentRect.width);
      if (c && w > 0 && w !== c.width) draw(entry.target);
    }
  })
  : null;

/** mount stores a chart's renderer and options on its container and draws. */
function mount(host, render, opts) {
  const first = !host._chart;
  host._chart = { render, opts, width: 0, active: -1 };
  if (first) {
    host.classList.add('chart');
    if (!host.hasAttribute('tabindex')) host.tabIndex = 0;
    host.addEventListener('keydown', (ev) => host._chart?.key?.(ev));
    host.addEventListener('blur', () => { hideTip(host); host._chart?.leave?.(); });
    observer?.observe(host);
  }
  draw(host);
}

function draw(host) {
  const c = host._chart;
  c.width = Math.max(240, Math.round(host.clientWidth || 600));
  c.key = null;
  c.leave = null;
  const tip = host.querySelector(':scope > .chart-tip');
  host.replaceChildren();
  c.render(host, c.opts, c.width);
  if (tip) { tip.hidden = true; host.appendChild(tip); }
}

function tipFor(host) {
  let tip = host.querySelector(':scope > .chart-tip');
  if (!tip) {
    tip = document.createElement('div');
    tip.className = 'chart-tip';
    tip.hidden = true;
    // Announced to screen readers as the keyboard moves the highlight.
    tip.setAttribute('role', 'status');
    tip.setAttribute('aria-live', 'polite');
    host.appendChild(tip);
  }
  return tip;
}

/** showTip fills the tooltip ({title, rows: [{label, value, cls}]}) and
 *  places it near (x, y), given in the container's CSS pixels. */
function showTip(host, content, x, y) {
  const tip = tipFor(host);
  const title = document.createElement('div');
  title.className = 'tip-title';
  title.textContent = content.title;
  const nodes = [title];
  for (const r of content.rows || []) {
    const row = document.createElement('div');
    row.className = 'tip-row';
    const label = document.createElement('span');
    if (r.cls) {
      const sw = document.createElement('i');
      sw.className = `sw ${r.cls}`;
      label.appendChild(sw);
    }
    label.appendChild(document.createTextNode(r.label));
    const value = document.createElement('span');
    value.textContent = r.value;
    row.append(label, value);
    nodes.push(row);
  }
  tip.replaceChildren(...nodes);
  tip.hidden = false;
  const w = host.clientWidth;
  const tw = tip.offsetWidth;
  const left = x + 14 + tw > w ? Math.max(0, x - 14 - tw) : x + 14;
  tip.style.left = `${left}px`;
  tip.style.top = `${Math.max(0, y - 10)}px`;
}

function hideTip(host) {
  const tip = host.querySelector(':scope > .chart-tip');
  if (tip) tip.hidden = true;
}

/** scaleOf returns the factor from client pixels to SVG user units. */
function localPoint(svg, ev, width) {
  const r = svg.getBoundingClientRect();
  const k = r.width > 0 ? width / r.width : 1;
  return { x: (ev.clientX - r.left) * k, y: (ev.clientY - r.top) * k, k };
}

/** keyNav maps arrow keys to a new index in [0, n). */
function keyNav(ev, i, n, step = 1) {
  const keys = { ArrowRight: step, ArrowDown: step, ArrowLeft: -step, ArrowUp: -step };
  if (ev.key === 'Home') return 0;
  if (ev.key === 'End') return n - 1;
  if (ev.key in keys) return i < 0 ? 0 : Math.min(n - 1, Math.max(0, i + keys[ev.key]));
  return null;
}

function emptyText(svg, width, height, text) {
  const t = el('text', { x: width / 2, y: height / 2, 'text-anchor': 'middle', class: 'empty' }, svg);
  t.textContent = text;
}

// ---------------------------------------------------------------------------
// Bars and lines over a band axis

/**
 * xyChart draws stacked bars and lines over one band per label.
 *
 * opts: {
 *   labels: string[],                      one per band
 *   stacks: [{name, values, cls, hidden}], stacked bars on the left axis
 *   lines:  [{name, values, cls, axis: 'left'|'right', format}],
 *   height (a number, or a function of the width), yFormat(v),
 *   xFormat(label), tipTitle(label, i), title, empty
 * }
 */
export function xyChart(host, opts) { mount(host, renderXY, opts); }

/** stackedBarChart is xyChart with bars, and optionally a line on the right axis. */
export function stackedBarChart(host, opts) { xyChart(host, opts); }

/** lineChart is xyChart with lines only. */
export function lineChart(host, opts) { xyChart(host, { ...opts, stacks: [] }); }

function renderXY(host, o, width) {
  const labels = o.labels || [];
  const n = labels.length;
  const stacks = (o.stacks || []).filter((s) => !s.hidden);
  const lines = (o.lines || []).filter((s) => !s.hidden);
  const right = lines.filter((l) => l.axis === 'right');
  const leftLines = lines.filter((l) => l.axis !== 'right');
  const height = typeof o.height === 'function' ? o.height(width) : (o.height || 260);
  const yFmt = o.yFormat || String;
  const m = { top: 14, right: right.length ? 58 : 14, bottom: 28, left: 58 };
  const w = width - m.left - m.right;
  const h = height - m.top - m.bottom;
  const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': o.title || 'chart' }, host);
  host.dataset.points = String(n);

  const totals = labels.map((_, i) => stacks.reduce((a, s) => a + (s.values[i] || 0), 0));
  let leftMax = Math.max(0, ...totals);
  for (const l of leftLines) leftMax = Math.max(leftMax, ...l.values);
  const rightMax = Math.max(0, ...right.flatMap((l) => l.values));
  const anyData = leftMax > 0 || rightMax > 0;
  if (n === 0 || !anyData) {
    emptyText(svg, width, height, o.empty || 'No usage in this range');
    return;
  }
  const lt = ticks(leftMax);
  const rt = ticks(rightMax);
  const ly = (v) => m.top + h - (v / lt[lt.length - 1]) * h;
  const ry = (v) => m.top + h - (v / rt[rt.length - 1]) * h;
  const band = w / n;
  const cx = (i) => m.left + band * (i + 0.5);

  const axis = el('g', { class: 'axis' }, svg);
  // A formatter may choose one style for the whole axis (forTicks), so
  // that "$0.50" and "$1.0" never share one.
  const lf = yFmt.forTicks ? yFmt.forTicks(lt) : yFmt;
  lt.forEach((v, k) => {
    const y = ly(v);
    el('line', { x1: m.left, x2: m.left + w, y1: y, y2: y, class: k === 0 ? 'baseline' : 'grid-line' }, axis);
    const t = el('text', { x: m.left - 8, y: y + 4, 'text-anchor': 'end', class: 'y-label' }, axis);
    t.textContent = lf(v);
  });
  if (right.length) {
    const rf0 = right[0].format || String;
    const rf = rf0.forTicks ? rf0.forTicks(rt) : rf0;
    rt.forEach((v) => {
      const t = el('text', { x: m.left + w + 8, y: ry(v) + 4, 'text-anchor': 'start', class: 'y-label right' }, axis);
      t.textContent = rf(v);
    });
  }
  // Thin the x labels so that they never overlap.
  const xFmt = o.xFormat || String;
  const every = Math.max(1, Math.ceil(n / Math.max(1, Math.floor(w / 72))));
  let last = null;
  for (let i = 0; i < n; i++) {
    if ((n - 1 - i) % every !== 0) continue;
    // Requests a few seconds apart share one HH:MM: label the first only.
    const text = xFmt(labels[i]);
    if (text === last) continue;
    last = text;
    const t = el('text', { x: cx(i), y: height - 8, 'text-anchor': 'middle', class: 'x-label' }, axis);
    t.textContent = text;
  }

  const hover = el('rect', { class: 'hover-band', y: m.top, height: h, width: band, x: -9999 }, svg);

  const barW = Math.max(1, Math.min(44, band * (band > 6 ? 0.72 : 0.9)));
  stacks.forEach((s) => {
    const g = el('g', { class: `f-${s.cls}` }, svg);
    s._g = g;
  });
  for (let i = 0; i < n; i++) {
    let base = 0;
    for (const s of stacks) {
      const v = s.values[i] || 0;
      if (v <= 0) continue;
      const y0 = ly(base);
      const y1 = ly(base + v);
      el('rect', { x: cx(i) - barW / 2, y: y1, width: barW, height: Math.max(0.5, y0 - y1) }, s._g);
      base += v;
    }
  }
  for (const l of lines) {
    const y = l.axis === 'right' ? ry : ly;
    const pts = l.values.map((v, i) => [cx(i), y(v || 0)]);
    const d = pts.map(([x, yy], i) => `${i ? 'L' : 'M'}${x.toFixed(1)},${yy.toFixed(1)}`).join('');
    if (l.area) {
      el('path', { d: `${d}L${pts[n - 1][0].toFixed(1)},${m.top + h}L${pts[0][0].toFixed(1)},${m.top + h}Z`, class: `l-${l.cls}-fill` }, svg);
    }
    el('path', { d, class: `line l-${l.cls}` }, svg);
    if (n <= 62) {
      const g = el('g', { class: `f-${l.cls}` }, svg);
      pts.forEach(([x, yy]) => el('circle', { cx: x, cy: yy, r: 2.6, class: 'dot' }, g));
    }
  }

  const tipAt = (i) => {
    const c = host._chart;
    c.active = i;
    hover.setAttribute('x', String(m.left + band * i));
    const rows = [];
    for (const s of stacks) rows.push({ label: s.name, value: (s.format || yFmt)(s.values[i] || 0), cls: `f-${s.cls}` });
    if (stacks.length > 1) rows.push({ label: 'Total', value: yFmt(totals[i]) });
    for (const l of lines) rows.push({ label: l.name, value: (l.format || yFmt)(l.values[i] || 0), cls: `f-${l.cls}` });
    const title = o.tipTitle ? o.tipTitle(labels[i], i) : labels[i];
    const k = host.clientWidth / width;
    showTip(host, { title, rows }, cx(i) * k, m.top * k);
    if (o.onActive) o.onActive(i);
  };
  const overlay = el('rect', { x: m.left, y: m.top, width: w, height: h, fill: 'transparent' }, svg);
  overlay.addEventListener('pointermove', (ev) => {
    const p = localPoint(svg, ev, width);
    const i = Math.min(n - 1, Math.max(0, Math.floor((p.x - m.left) / band)));
    if (i !== host._chart.active) tipAt(i);
  });
  overlay.addEventListener('pointerleave', () => {
    host._chart.active = -1;
    hover.setAttribute('x', '-9999');
    hideTip(host);
  });
  if (o.onSelect) {
    overlay.addEventListener('click', (ev) => {
      const p = localPoint(svg, ev, width);
      o.onSelect(Math.min(n - 1, Math.max(0, Math.floor((p.x - m.left) / band))));
    });
  }
  host._chart.key = (ev) => {
    const i = keyNav(ev, host._chart.active, n);
    if (i === null) return;
    ev.preventDefault();
    tipAt(i);
  };
  host._chart.leave = () => { host._chart.active = -1; hover.setAttribute('x', '-9999'); };
}

// ---------------------------------------------------------------------------
// Donut

/**
 * donutChart draws shares of a whole.
 *
 * opts: { items: [{label, value, cls, rows}], size, format(v), centerValue,
 *         centerLabel, title }
 * rows, when set, are extra tooltip rows for an item.
 */
export function donutChart(host, opts) { mount(host, renderDonut, opts); }

function arcPath(cx, cy, r0, r1, a0, a1) {
  const p = (r, a) => `${(cx + r * Math.sin(a)).toFixed(2)},${(cy - r * Math.cos(a)).toFixed(2)}`;
  const large = a1 - a0 > Math.PI ? 1 : 0;
  return `M${p(r1, a0)}A${r1},${r1} 0 ${large} 1 ${p(r1, a1)}L${p(r0, a1)}A${r0},${r0} 0 ${large} 0 ${p(r0, a0)}Z`;
}

function renderDonut(host, o, width) {
  const size = Math.min(o.size || 160, width);
  const svg = el('svg', { viewBox: `0 0 ${size} ${size}`, role: 'img', 'aria-label': o.title || 'donut chart' }, host);
  const items = (o.items || []).filter((it) => it.value > 0);
  const total = items.reduce((a, it) => a + it.value, 0);
  host.dataset.points = String(items.length);
  const c = size / 2;
  const r1 = c - 2;
  const r0 = r1 * 0.62;
  if (!(total > 0)) {
    el('circle', { cx: c, cy: c, r: (r0 + r1) / 2, fill: 'none', class: 'grid-line', 'stroke-width': r1 - r0 }, svg);
    const t = el('text', { x: c, y: c + 4, 'text-anchor': 'middle', class: 'empty' }, svg);
    t.textContent = o.empty || 'No data';
    return;
  }
  const fmt = o.format || String;
  let a = 0;
  const slices = items.map((it) => {
    const span = (it.value / total) * Math.PI * 2;
    const g = el('g', { class: `f-${it.cls}` }, svg);
    // A full circle cannot be one arc: draw it as two halves.
    const parts = span >= Math.PI * 2 - 1e-9 ? [[a, a + Math.PI], [a + Math.PI, a + span]] : [[a, a + span]];
    const paths = parts.map(([x0, x1]) => el('path', { d: arcPath(c, c, r0, r1, x0, x1), class: 'slice' }, g));
    const mid = a + span / 2;
    a += span;
    return { it, paths, mid };
  });
  const cv = el('text', { x: c, y: c + 3, 'text-anchor': 'middle', class: 'donut-center-value' }, svg);
  cv.textContent = o.centerValue ?? fmt(total);
  const cl = el('text', { x: c, y: c + 20, 'text-anchor': 'middle', class: 'donut-center-label' }, svg);
  cl.textContent = o.centerLabel ?? 'total';

  const activate = (i) => {
    host._chart.active = i;
    slices.forEach((s, k) => s.paths.forEach((p) => p.classList.toggle('active', k === i)));
    if (i < 0) { hideTip(host); return; }
    const s = slices[i];
    const scale = (svg.getBoundingClientRect().width || size) / size;
    const x = (c + (r1 * 0.8) * Math.sin(s.mid)) * scale;
    const y = (c - (r1 * 0.8) * Math.cos(s.mid)) * scale;
    const pct = `${((s.it.value / total) * 100).toFixed(1)}%`;
    showTip(host, { title: s.it.label, rows: [{ label: 'Share', value: pct, cls: `f-${s.it.cls}` }, { label: o.valueLabel || 'Value', value: fmt(s.it.value) }, ...(s.it.rows || [])] }, x, y);
  };
  slices.forEach((s, i) => s.paths.forEach((p) => {
    p.addEventListener('pointerenter', () => activate(i));
    p.addEventListener('pointerleave', () => activate(-1));
  }));
  host._chart.key = (ev) => {
    const i = keyNav(ev, host._chart.active, slices.length);
    if (i === null) return;
    ev.preventDefault();
    activate(i);
  };
  host._chart.leave = () => activate(-1);
}

// ---------------------------------------------------------------------------
// Heatmap

/**
 * heatmap draws rows x columns cells whose opacity follows their value.
 *
 * opts: { rows: string[], cols: any[], values: number[][], colLabel(c),
 *         cellTitle(row, col), format(v), title, every }
 */
export function heatmap(host, opts) { mount(host, renderHeatmap, opts); }

function renderHeatmap(host, o, width) {
  const rows = o.rows || [];
  const cols = o.cols || [];
  const values = o.values || [];
  const m = { top: 18, right: 4, bottom: 4, left: 34 };
  const cw = (width - m.left - m.right) / Math.max(1, cols.length);
  const ch = Math.min(26, Math.max(14, cw));
  const height = m.top + m.bottom + ch * rows.length;
  const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': o.title || 'heatmap' }, host);
  const max = Math.max(0, ...values.flat());
  host.dataset.points = String(rows.length * cols.length);
  const fmt = o.format || String;
  const every = o.every || (cw < 18 ? 3 : cw < 28 ? 2 : 1);
  const axis = el('g', { class: 'axis' }, svg);
  cols.forEach((c, j) => {
    if (j % every !== 0) return;
    const t = el('text', { x: m.left + cw * (j + 0.5), y: 12, 'text-anchor': 'middle' }, axis);
    t.textContent = o.colLabel ? o.colLabel(c) : String(c);
  });
  rows.forEach((r, i) => {
    const t = el('text', { x: m.left - 6, y: m.top + ch * (i + 0.5) + 4, 'text-anchor': 'end' }, axis);
    t.textContent = r;
  });
  const cells = [];
  const g = el('g', {}, svg);
  rows.forEach((r, i) => cols.forEach((c, j) => {
    const v = (values[i] && values[i][j]) || 0;
    const attrs = { x: m.left + cw * j, y: m.top + ch * i, width: Math.max(1, cw), height: ch, rx: 3 };
    if (v > 0 && max > 0) {
      attrs.class = 'cell f-heat';
      attrs['fill-opacity'] = (0.14 + 0.86 * Math.sqrt(v / max)).toFixed(3);
    } else {
      attrs.class = 'cell cell-empty';
    }
    const rect = el('rect', attrs, g);
    cells.push({ rect, i, j, v });
  }));
  const activate = (k) => {
    host._chart.active = k;
    cells.forEach((cell, idx) => cell.rect.classList.toggle('active', idx === k));
    if (k < 0) { hideTip(host); return; }
    const cell = cells[k];
    const scale = host.clientWidth / width;
    const title = o.cellTitle ? o.cellTitle(rows[cell.i], cols[cell.j]) : `${rows[cell.i]} ${cols[cell.j]}`;
    const extra = o.cellRows ? o.cellRows(cell.i, cell.j) : [];
    showTip(host, { title, rows: [{ label: o.valueLabel || 'Value', value: fmt(cell.v) }, ...extra] },
      (m.left + cw * (cell.j + 1)) * scale, (m.top + ch * cell.i) * scale);
  };
  cells.forEach((cell, k) => {
    cell.rect.addEventListener('pointerenter', () => activate(k));
    cell.rect.addEventListener('pointerleave', () => activate(-1));
  });
  host._chart.key = (ev) => {
    const steps = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols.length, ArrowUp: -cols.length };
    if (!(ev.key in steps)) return;
    ev.preventDefault();
    const cur = host._chart.active < 0 ? 0 : host._chart.active + steps[ev.key];
    activate(Math.min(cells.length - 1, Math.max(0, cur)));
  };
  host._chart.leave = () => activate(-1);
}
