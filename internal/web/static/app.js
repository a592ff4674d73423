// app.js: the Claude Token Monitor dashboard. It reads the JSON API
// ({success, data, timestamp} envelopes), draws with charts.js, and follows
// the WebSocket feed so that figures update without a reload. Routes that a
// server may not have (5-hour blocks, the WebSocket) degrade to an empty
// state or to polling instead of failing the page.

import { stackedBarChart, lineChart, donutChart, heatmap } from './charts.js';

const API = document.documentElement.dataset.api || '/api/v1';
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

// ---------------------------------------------------------------------------
// Formatting

const intFmt = new Intl.NumberFormat('en-US');
const compactFmt = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });
const usdFmt = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 2 });

const fmt = {
  int: (v) => (v == null ? '—' : intFmt.format(v)),
  tokens: (v) => (v == null ? '—' : Math.abs(v) < 10000 ? intFmt.format(v) : compactFmt.format(v)),
  usd: (v) => {
    if (v == null) return '—';
    if (v > 0 && v < 0.01) return '<$0.01';
    return usdFmt.format(v);
  },
  usdAxis: Object.assign(
    (v) => (v >= 1000 ? `$${compactFmt.format(v)}` : v >= 10 || v === 0 ? `$${Math.round(v)}` : `$${v.toFixed(2)}`),
    {
      // One number of decimals for every tick of an axis: cents when any
      // tick has them, else whole dollars.
      forTicks: (ts) => {
        const top = Math.max(...ts);
        const cents = top < 1000 && ts.some((v) => Math.abs(v - Math.round(v)) > 1e-9);
        return (v) => (top >= 1000 ? `$${compactFmt.format(v)}` : `$${v.toFixed(cents ? 2 : 0)}`);
      },
    }),
  pct: (v) => (v == null ? '—' : `${(v * 100).toFixed(1)}%`),
  share: (v) => (v == null ? '—' : `${v.toFixed(1)}%`),
  change: (v) => (v == null ? 'n/a' : `${v > 0 ? '+' : v < 0 ? '−' : '±'}${Math.abs(v * 100).toFixed(1)}%`),
};

// Axes of costs share usdAxis's one style per axis.
fmt.usd.forTicks = fmt.usdAxis.forTicks;

/** markScrollable flags every table box whose table is wider than the
 *  box, so that the page can show that it scrolls sideways. */
function markScrollable(root = document) {
  for (const wrap of root.querySelectorAll('.table-wrap')) {
    const more = wrap.scrollWidth > wrap.clientWidth + 1;
    wrap.dataset.scrollable = String(more);
    let hint = wrap.nextElementSibling;
    if (!hint || !hint.classList.contains('scroll-hint')) {
      hint = h('div', { class: 'scroll-hint', 'aria-hidden': 'true' }, 'Scroll sideways for more columns →');
      wrap.after(hint);
    }
    hint.hidden = !more;
  }
}
const wrapObserver = typeof ResizeObserver === 'function' ? new ResizeObserver(() => markScrollable()) : null;

let timeZone; // the server's zone when the browser knows it, else the browser's
function tzFormat(opts) {
  try {
    return new Intl.DateTimeFormat('en-GB', { ...opts, timeZone });
  } catch {
    return new Intl.DateTimeFormat('en-GB', opts);
  }
}
let dateTimeFmt = tzFormat({ dateStyle: 'medium', timeStyle: 'short' });
let timeFmt = tzFormat({ hour: '2-digit', minute: '2-digit' });
// The footer's clock is 24-hour like every other time on the page.
let clockFmt = tzFormat({ hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
const fmtDateTime = (s) => (s ? dateTimeFmt.format(new Date(s)) : '—');
const fmtTime = (s) => (s ? timeFmt.format(new Date(s)) : '—');
const shortDay = (d) => {
  const [, m, day] = d.split('-');
  return `${Number(day)} ${['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][Number(m) - 1]}`;
};
const longDay = (d) => `${new Date(`${d}T00:00:00Z`).toLocaleDateString('en-GB', { weekday: 'short', timeZone: 'UTC' })} ${shortDay(d)} ${d.slice(0, 4)}`;
const fmtDuration = (sec) => {
  if (!(sec > 0)) return '0m';
  const h = Math.floor(sec / 3600);
  const m = Math.round((sec % 3600) / 60);
  return h ? `${h}h ${m}m` : `${m}m`;
};

/** addDays shifts a YYYY-MM-DD date by n calendar days. */
function addDays(day, n) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** lookup reads a dotted path such as "today.cost_usd" from an object. */
function lookup(obj, path) {
  return path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

/** shortProject shows the last two segments of a project path. */
function shortProject(p) {
  if (!p) return '(unknown)';
  const parts = p.split(/[\\/]/).filter(Boolean);
  return parts.length <= 2 ? p : `…/${parts.slice(-2).join('/')}`;
}

/** shortModel drops the "claude-" prefix and a date suffix. */
function shortModel(m) {
  return m.replace(/^claude-/, '').replace(/-\d{8}$/, '');
}

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c != null) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// ---------------------------------------------------------------------------
// API access

class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// ---------------------------------------------------------------------------
// Access token. A server started with AUTH_TOKEN serves this page freely
// (it holds no data) but answers the API with 401; the page then asks for
// the token in a form, keeps it for the tab's life in sessionStorage, and
// sends it as a bearer token (and on the WebSocket URL, where browsers
// cannot set headers).

const TOKEN_KEY = 'ctm-token';
let authToken = '';
try {
  authToken = sessionStorage.getItem(TOKEN_KEY) || '';
} catch {
  // Storage can be disabled; the token then lasts until a reload.
}
let authPrompt = null; // the pending form, shared by concurrent requests

function authHeaders() {
  return authToken ? { Authorization: `Bearer ${authToken}` } : {};
}

/** askToken shows the token form and resolves once a token is entered. */
function askToken(message) {
  if (authPrompt) return authPrompt;
  authPrompt = new Promise((resolve) => {
    const dlg = $('#auth-dialog');
    const form = $('#auth-form');
    const input = $('#auth-token');
    $('#auth-error').textContent = message || '';
    input.value = '';
    setLive('locked', 'Token required');
    form.onsubmit = (ev) => {
      ev.preventDefault();
      const token = input.value.trim();
      if (!token) return;
      authToken = token;
      try {
        sessionStorage.setItem(TOKEN_KEY, token);
      } catch {
        // See above: the token still works for this page's life.
      }
      form.onsubmit = null;
      dlg.close();
      authPrompt = null;
      resolve();
      // A feed refused for want of the token can connect now.
      if (!live.ws && live.started) connect();
    };
    if (!dlg.open) dlg.showModal();
    input.focus();
  });
  return authPrompt;
}

// ---------------------------------------------------------------------------
// User filter (team mode). The views in userViews take ?user=.

const userViews = /^\/(stats(\/(models|daily|trends|activity))?|sessions(\/[^/?]+)?|projects|export|blocks(\/active)?|breakdown|prompts)(\?|$)/;

/** withUser adds the selected user to a per-user view's path. */
function withUser(path) {
  if (!state.user || !userViews.test(path)) return path;
  return `${path}${path.includes('?') ? '&' : '?'}user=${encodeURIComponent(state.user)}`;
}

/** api GETs a route and returns the envelope's data, or throws APIError. */
async function api(path) {
  let res;
  for (;;) {
    const sent = authToken;
    res = await fetch(API + withUser(path), { headers: { Accept: 'application/json', ...authHeaders() }, cache: 'no-store' });
    if (res.status !== 401) break;
    // Ask unless another request's form already brought a new token.
    if (authToken === sent) await askToken(sent ? 'The server did not accept that token. Try again.' : '');
  }
  let body = null;
  try {
    body = await res.json();
  } catch {
    throw new APIError(res.status, 'BAD_RESPONSE', `${path}: HTTP ${res.status}`);
  }
  if (!res.ok || !body || body.success !== true) {
    throw new APIError(res.status, body?.error?.code || 'HTTP', body?.error?.message || `${path}: HTTP ${res.status}`);
  }
  return body.data;
}

/** isMissingRoute tells a route the server does not have from a 404 about
 *  a missing item: the server words unknown routes "no route for ...". */
function isMissingRoute(err) {
  return err instanceof APIError && err.status === 404 && /no route/i.test(err.message);
}

let toastTimer;
function toast(message) {
  const t = $('#toast');
  t.textContent = message;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 8000);
}

function reportError(what, err) {
  toast(`Could not load ${what}: ${err.message}`);
}

// ---------------------------------------------------------------------------
// State

const state = {
  stats: null,
  user: '', // '' for every user
  today: null, // YYYY-MM-DD in the server's zone
  first: null, // first day with usage
  range: { period: '30d' }, // or { start, end }
  rangeNote: '', // why the range is not the one asked for
  hidden: new Set(),
  share: 'tokens',
  models: [],
  sessions: { sort: 'last_activity', order: 'desc', project: '', items: [], total: 0 },
  projects: [],
  by: 'agent', // the cut of Where the money went
  seq: 0, // guards against out-of-order range loads
};

const PAGE = 25;
const periodDays = { '7d': 7, '30d': 30, '90d': 90 };

/** span returns the selected range as inclusive dates. */
function span() {
  const r = state.range;
  if (r.start) return { start: r.start, end: r.end };
  const end = state.today;
  if (r.period === 'all') return { start: state.first || end, end };
  return { start: addDays(end, -(periodDays[r.period] - 1)), end };
}

// ---------------------------------------------------------------------------
// KPIs

function renderStats(stats) {
  state.stats = stats;
  state.today = stats.today?.date || state.today;
  const first = stats.summary?.first_activity;
  state.first = first ? first.slice(0, 10) : state.today;
  if (stats.timezone && stats.timezone !== timeZone) {
    timeZone = stats.timezone === 'Local' ? undefined : stats.timezone;
    dateTimeFmt = tzFormat({ dateStyle: 'medium', timeStyle: 'short' });
    timeFmt = tzFormat({ hour: '2-digit', minute: '2-digit' });
    clockFmt = tzFormat({ hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
    $('#tz').textContent = `times in ${stats.timezone}`;
  }
  for (const node of $$('.kpis [data-metric]')) {
    const v = lookup(stats, node.dataset.metric);
    const num = typeof v === 'number' ? v : null;
    node.dataset.value = num == null ? '' : String(num);
    const f = fmt[node.dataset.format] || fmt.int;
    node.textContent = f(num);
    if (node.dataset.metric === 'today.cache_hit_rate' && !(stats.today?.entries > 0)) {
      // A rate of nothing is not 0%.
      node.textContent = '–';
      node.title = 'no requests today';
    }
    if (node.dataset.format === 'tokens' && num != null) node.title = `${fmt.int(num)} tokens`;
    if (node.dataset.format === 'usd' && num != null) node.title = `$${num.toFixed(4)}`;
    if (node.dataset.format === 'change') {
      // More spend than yesterday is flagged, not celebrated.
      node.classList.toggle('up', num > 0.005);
      node.classList.toggle('down', num < -0.005);
      node.classList.toggle('flat', num == null || Math.abs(num) <= 0.005);
    }
  }
  const unpriced = stats.unpriced_models || [];
  const banner = $('#unpriced');
  banner.hidden = unpriced.length === 0;
  banner.textContent = unpriced.length
    ? `No price is known for ${unpriced.join(', ')}: their cost counts as $0 in every figure. ` +
      'Run `ctm prices update` for the newest prices, or add them to PRICING_FILE (`ctm prices --json` prints the format).'
    : '';
  $('#footer-updated').textContent = `Updated ${clockFmt.format(new Date())}`;
}

async function loadStats() {
  renderStats(await api('/stats'));
}

// ---------------------------------------------------------------------------
// Range controls and export

function renderRangeControls() {
  const { start, end } = span();
  for (const b of $$('[data-period]')) b.setAttribute('aria-pressed', String(!state.range.start && b.dataset.period === state.range.period));
  $('#range-from').value = start;
  $('#range-to').value = end;
  $('#range-from').max = state.today;
  $('#range-to').max = state.today;
  $('#range-label').textContent = `${longDay(start)} – ${longDay(end)}`;
  $('#range-note').hidden = !state.rangeNote;
  $('#range-note').textContent = state.rangeNote || '';
  const q = new URLSearchParams({ start_date: start, end_date: end });
  if ($('#export-by-model').checked) q.set('breakdown', 'model');
  if (state.user) q.set('user', state.user);
  q.set('format', 'csv');
  $('#export-csv').href = `${API}/export?${q}`;
  q.set('format', 'json');
  $('#export-json').href = `${API}/export?${q}`;
}

function setRange(range) {
  state.range = range;
  state.rangeNote = '';
  state.sessions.items = [];
  loadRange();
}

// ---------------------------------------------------------------------------
// Daily trend

const SERIES = [
  { key: 'input_tokens', name: 'Input', cls: 'input' },
  { key: 'output_tokens', name: 'Output', cls: 'output' },
  { key: 'cache_creation_tokens', name: 'Cache writes', cls: 'cwrite' },
  { key: 'cache_read_tokens', name: 'Cache reads', cls: 'cread' },
];

function renderLegend() {
  const items = [...SERIES.map((s) => ({ ...s, line: false })), { key: 'cost_usd', name: 'Cost', cls: 'cost', line: true }];
  $('#trend-legend').replaceChildren(...items.map((s) => h('li', {},
    h('button', {
      type: 'button',
      'aria-pressed': String(!state.hidden.has(s.key)),
      onclick: (ev) => {
        if (state.hidden.has(s.key)) state.hidden.delete(s.key); else state.hidden.add(s.key);
        ev.currentTarget.setAttribute('aria-pressed', String(!state.hidden.has(s.key)));
        if (state.daily) renderTrend(state.daily);
      },
    }, h('i', { class: `sw f-${s.cls}${s.line ? ' line' : ''}`, 'aria-hidden': 'true' }), s.name))));
}

/** trendUnit picks the bar of the trend chart: a day while bars stay wide
 *  enough to see, else a week (from Monday), else a month. */
function trendUnit(days) {
  if (days <= 120) return 'day';
  return days <= 2 * 366 ? 'week' : 'month';
}

/** groupDays sums daily rows into weeks or months; each group's date is
 *  its first day. */
function groupDays(days, unit) {
  if (unit === 'day') return days;
  const keyOf = (d) => {
    if (unit === 'month') return `${d.slice(0, 7)}-01`;
    const back = (new Date(`${d}T00:00:00Z`).getUTCDay() + 6) % 7; // days since Monday
    return addDays(d, -back);
  };
  const out = [];
  for (const d of days) {
    const key = keyOf(d.date);
    let g = out[out.length - 1];
    if (!g || g.date !== key) {
      g = { date: key };
      out.push(g);
    }
    for (const k of ['input_tokens', 'output_tokens', 'cache_creation_tokens', 'cache_read_tokens', 'total_tokens', 'cost_usd', 'entries']) {
      g[k] = (g[k] || 0) + (d[k] || 0);
    }
  }
  return out;
}

function renderTrend(daily) {
  state.daily = daily;
  const days = daily.days || [];
  const host = $('#trend-chart');
  const unit = trendUnit(days.length);
  const bars = groupDays(days, unit);
  const monthName = (d) => new Date(`${d}T00:00:00Z`).toLocaleDateString('en-GB', { month: 'short', year: 'numeric', timeZone: 'UTC' });
  host.dataset.unit = unit;
  host.dataset.bars = String(bars.length);
  $('#trend-title').textContent = { day: 'Daily usage', week: 'Weekly usage', month: 'Monthly usage' }[unit];
  stackedBarChart(host, {
    title: `${{ day: 'Daily', week: 'Weekly', month: 'Monthly' }[unit]} tokens by type and cost, ${daily.start_date} to ${daily.end_date}`,
    labels: bars.map((d) => d.date),
    stacks: SERIES.map((s) => ({ name: s.name, cls: s.cls, values: bars.map((d) => d[s.key] || 0), hidden: state.hidden.has(s.key), format: fmt.tokens })),
    lines: [{ name: 'Cost', cls: 'cost', axis: 'right', values: bars.map((d) => d.cost_usd || 0), format: fmt.usd, hidden: state.hidden.has('cost_usd') }],
    yFormat: fmt.tokens,
    xFormat: unit === 'month' ? monthName : shortDay,
    tipTitle: (d) => (unit === 'day' ? longDay(d) : unit === 'week' ? `Week of ${longDay(d)}` : monthName(d)),
    // Tall enough on wide screens to match the models card beside it.
    height: (w) => Math.round(Math.min(380, Math.max(240, w * 0.45))),
    empty: 'No usage in this range',
  });
  // Exposed so that tests (and curious users) can check the chart's data.
  const s = daily.summary || {};
  host.dataset.start = daily.start_date;
  host.dataset.end = daily.end_date;
  host.dataset.totalTokens = String(days.reduce((a, d) => a + (d.total_tokens || 0), 0));
  host.dataset.totalCost = String(days.reduce((a, d) => a + (d.cost_usd || 0), 0));
  $('#trend-summary').replaceChildren(
    h('span', {}, `${fmt.tokens(s.total_tokens)} tokens · ${fmt.usd(s.cost_usd)} · ${fmt.int(s.entries)} requests`),
    h('span', {}, `${s.active_days ?? 0} of ${s.total_days ?? days.length} days active · ${fmt.usd(s.avg_daily_cost_usd)} per day`),
  );
}

// ---------------------------------------------------------------------------
// Models

function modelsFromProjects(projects) {
  const by = new Map();
  for (const p of projects.projects || []) {
    for (const m of p.models || []) {
      const a = by.get(m.model) || { model: m.model, display_name: m.display_name, entries: 0, total_tokens: 0, cost_usd: 0 };
      a.entries += m.entries;
      a.total_tokens += m.total_tokens;
      a.cost_usd += m.cost_usd;
      by.set(m.model, a);
    }
  }
  const list = [...by.values()];
  const tokens = list.reduce((a, m) => a + m.total_tokens, 0);
  const cost = list.reduce((a, m) => a + m.cost_usd, 0);
  const unpriced = new Set(projects.unpriced_models || []);
  for (const m of list) {
    m.usage_percentage = tokens ? (m.total_tokens / tokens) * 100 : 0;
    m.cost_percentage = cost ? (m.cost_usd / cost) * 100 : 0;
    m.priced = !unpriced.has(m.model);
  }
  return list.sort((a, b) => b.cost_usd - a.cost_usd || b.total_tokens - a.total_tokens);
}

function renderModels(models) {
  state.models = models;
  const byCost = state.share === 'cost';
  const items = models.map((m, i) => ({
    label: m.display_name || m.model,
    value: byCost ? m.cost_usd : m.total_tokens,
    cls: `c${Math.min(i, 7)}`,
    rows: [{ label: byCost ? 'Tokens' : 'Cost', value: byCost ? fmt.tokens(m.total_tokens) : fmt.usd(m.cost_usd) }],
  }));
  const total = items.reduce((a, it) => a + it.value, 0);
  donutChart($('#models-donut'), {
    title: `Share of ${byCost ? 'cost' : 'tokens'} by model`,
    items,
    size: 160,
    format: byCost ? fmt.usd : fmt.tokens,
    valueLabel: byCost ? 'Cost' : 'Tokens',
    centerValue: byCost ? fmt.usd(total) : fmt.tokens(total),
    centerLabel: byCost ? 'cost' : 'tokens',
    empty: 'No usage',
  });
  $('#models-legend').replaceChildren(...models.slice(0, 8).map((m, i) => h('li', { class: 'muted' },
    h('i', { class: `sw f-c${Math.min(i, 7)}`, 'aria-hidden': 'true' }), ` ${m.display_name || m.model} `,
    h('strong', {}, fmt.share(byCost ? m.cost_percentage : m.usage_percentage)))));
  const cell = (value, share, title) => h('td', { class: 'num', title },
    h('div', {}, value), h('div', { class: 'share-sub' }, fmt.share(share)));
  const rows = models.map((m, i) => h('tr', {},
    h('td', { class: 'ellipsis', title: `${m.model} · ${fmt.int(m.entries)} requests` },
      h('i', { class: `sw f-c${Math.min(i, 7)}`, 'aria-hidden': 'true' }), ' ', m.display_name || m.model,
      m.priced === false ? h('span', { class: 'pill', title: 'No price known: counted as $0' }, 'unpriced') : null),
    cell(fmt.tokens(m.total_tokens), m.usage_percentage, `${fmt.int(m.total_tokens)} tokens`),
    cell(fmt.usd(m.cost_usd), m.cost_percentage)));
  $('#models-table tbody').replaceChildren(...(rows.length ? rows : [h('tr', {}, h('td', { colspan: 3, class: 'muted' }, 'No usage in this range'))]));
}

// ---------------------------------------------------------------------------
// Activity heatmap

function renderActivity(act) {
  const hm = act.heatmap || { days: [], hours: [], entries: [], total_tokens: [] };
  heatmap($('#activity-chart'), {
    title: 'Requests by weekday and hour',
    rows: hm.days,
    cols: hm.hours,
    values: hm.entries,
    colLabel: (c) => String(c).padStart(2, '0'),
    cellTitle: (d, c) => `${d} ${String(c).padStart(2, '0')}:00–${String((c + 1) % 24).padStart(2, '0')}:00`,
    valueLabel: 'Requests',
    format: fmt.int,
    cellRows: (i, j) => [{ label: 'Tokens', value: fmt.tokens(hm.total_tokens?.[i]?.[j] || 0) }],
  });
  const scope = `${act.start_date} – ${act.end_date}`;
  // The busiest cell of the grid itself: the busiest day and the busiest
  // hour, taken apart, need not meet in one cell.
  let best = null;
  (hm.entries || []).forEach((row, i) => (row || []).forEach((v, j) => {
    if (v > 0 && (!best || v > best.v)) best = { i, j, v };
  }));
  const hint = $('#activity-hint');
  hint.dataset.busiest = best ? `${hm.days[best.i]} ${hm.hours[best.j]}` : '';
  hint.textContent = best
    ? `${scope} · busiest: ${hm.days[best.i]} ${String(hm.hours[best.j]).padStart(2, '0')}:00, ${fmt.int(best.v)} requests`
    : scope;
}

// ---------------------------------------------------------------------------
// Sessions

function sessionQuery(offset) {
  const { start, end } = span();
  const q = new URLSearchParams({
    start_date: start, end_date: end, sort: state.sessions.sort, order: state.sessions.order,
    limit: String(PAGE), offset: String(offset),
  });
  if (state.sessions.project) q.set('project', state.sessions.project);
  return `/sessions?${q}`;
}

async function loadSessions(append = false) {
  const ss = state.sessions;
  const data = await api(sessionQuery(append ? ss.items.length : 0));
  ss.items = append ? ss.items.concat(data.sessions) : data.sessions;
  ss.total = data.pagination?.total ?? ss.items.length;
  renderSessions();
}

function renderSessions() {
  const ss = state.sessions;
  for (const th of $$('#sessions-table th[data-sort]')) {
    th.setAttribute('aria-sort', th.dataset.sort === ss.sort ? (ss.order === 'asc' ? 'ascending' : 'descending') : 'none');
  }
  const rows = ss.items.map((s) => h('tr', {},
    h('td', {}, h('button', { type: 'button', class: 'link mono', title: s.session_id, 'aria-label': `Open session ${s.session_id}`, onclick: () => openSession(s.session_id) }, s.session_id.slice(0, 8))),
    h('td', { class: 'ellipsis', title: s.project }, shortProject(s.project)),
    h('td', {}, fmtDateTime(s.first_activity)),
    h('td', {}, fmtDateTime(s.last_activity)),
    h('td', {}, (s.models || []).slice(0, 3).map((m) => h('span', { class: 'pill' }, shortModel(m)))),
    h('td', { class: 'num' }, fmt.int(s.entries)),
    h('td', { class: 'num', title: fmt.int(s.total_tokens) }, fmt.tokens(s.total_tokens)),
    h('td', { class: 'num' }, fmt.usd(s.cost_usd))));
  $('#sessions-table tbody').replaceChildren(...(rows.length ? rows : [h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'No sessions in this range'))]));
  $('#sessions-count').textContent = `${fmt.int(ss.items.length)} of ${fmt.int(ss.total)} sessions`;
  $('#sessions-more').hidden = ss.items.length >= ss.total;
}

// ---------------------------------------------------------------------------
// Session details

async function openSession(id) {
  const dlg = $('#session-dialog');
  $('#session-title').textContent = `Session ${id}`;
  $('#session-sub').textContent = 'Loading…';
  $('#session-body').replaceChildren();
  if (!dlg.open) dlg.showModal();
  let d;
  try {
    d = await api(`/sessions/${encodeURIComponent(id)}`);
  } catch (err) {
    $('#session-sub').textContent = `Could not load this session: ${err.message}`;
    return;
  }
  $('#session-sub').textContent = `${d.project} · ${fmtDateTime(d.first_activity)} – ${fmtTime(d.last_activity)} · ${fmtDuration(d.duration_seconds)}`;
  const stat = (label, value) => h('div', {}, h('dt', {}, label), h('dd', {}, value));
  const breakdown = h('div', { class: 'table-wrap' }, h('table', {},
    h('caption', { class: 'sr-only' }, 'Usage by model in this session'),
    h('thead', {}, h('tr', {}, ['Model', 'Requests', 'Input', 'Output', 'Cache writes', 'Cache reads', 'Cost'].map((c, i) => h('th', { scope: 'col', class: i ? 'num' : null }, c)))),
    h('tbody', {}, (d.breakdown || []).map((m) => h('tr', {},
      h('td', {}, m.display_name || m.model),
      h('td', { class: 'num' }, fmt.int(m.entries)),
      h('td', { class: 'num' }, fmt.tokens(m.input_tokens)),
      h('td', { class: 'num' }, fmt.tokens(m.output_tokens)),
      h('td', { class: 'num' }, fmt.tokens(m.cache_creation_tokens)),
      h('td', { class: 'num' }, fmt.tokens(m.cache_read_tokens)),
      h('td', { class: 'num' }, fmt.usd(m.cost_usd)))))));
  const timeline = d.timeline || [];
  const bars = h('div', { id: 'session-timeline', 'aria-label': 'Tokens per request; use the arrow keys to read each request' });
  const cumulative = h('div', { id: 'session-cumulative', 'aria-label': 'Cumulative cost over the session' });
  $('#session-body').replaceChildren(
    h('dl', { class: 'block-stats' },
      stat('Tokens', fmt.tokens(d.total_tokens)), stat('Cost', fmt.usd(d.cost_usd)),
      stat('Requests', fmt.int(d.entries)), stat('Cache hit rate', fmt.pct(d.cache_hit_rate))),
    h('section', {}, h('h3', {}, 'By model'), breakdown),
    h('section', { id: 'session-insights' }),
    h('section', {}, h('h3', {}, `Request timeline (${fmt.int(timeline.length)} requests)`), bars),
    h('section', {}, h('h3', {}, 'Cumulative cost'), cumulative),
  );
  sessionInsights(d).then((parts) => {
    if ($('#session-title').textContent === `Session ${id}`) {
      $('#session-insights').replaceChildren(...parts);
      markScrollable($('#session-dialog'));
    }
  });
  markScrollable($('#session-dialog'));
  const labels = timeline.map((e) => e.timestamp);
  stackedBarChart(bars, {
    title: 'Tokens per request',
    labels,
    stacks: SERIES.map((s) => ({ name: s.name, cls: s.cls, values: timeline.map((e) => e[s.key] || 0), format: fmt.tokens })),
    lines: [{ name: 'Cost', cls: 'cost', axis: 'right', values: timeline.map((e) => e.cost_usd), format: fmt.usd }],
    yFormat: fmt.tokens,
    xFormat: fmtTime,
    tipTitle: (t, i) => `${fmtDateTime(t)} · ${shortModel(timeline[i].model)}${timeline[i].is_sidechain ? ' · subagent' : ''}`,
    height: 220,
  });
  let run = 0;
  lineChart(cumulative, {
    title: 'Cumulative cost',
    labels,
    lines: [{ name: 'Cost so far', cls: 'cost', area: true, values: timeline.map((e) => (run += e.cost_usd)), format: fmt.usd }],
    yFormat: fmt.usdAxis,
    xFormat: fmtTime,
    tipTitle: (t) => fmtDateTime(t),
    height: 160,
  });
}

// ---------------------------------------------------------------------------
// Where the money went and the most expensive prompts

const BY_TITLES = { agent: 'Agent', skill: 'Skill', branch: 'Branch', project: 'Project', model: 'Model' };
const TOP_PROMPTS = 20;

/** insightQuery returns the since/until parameters of the selected range. */
function insightQuery(extra = {}) {
  const { start, end } = span();
  return new URLSearchParams({ since: start, until: end, ...extra });
}

async function loadBreakdown() {
  const by = state.by;
  const b = await api(`/breakdown?${insightQuery({ by })}`);
  if (by === state.by) renderBreakdown(b);
}

function breakdownLabel(by, key) {
  if (by === 'project') return shortProject(key);
  if (by === 'model') return shortModel(key);
  return key;
}

function renderBreakdown(b) {
  $('#breakdown-key').textContent = BY_TITLES[b.by] || b.by;
  const table = $('#breakdown-table');
  table.dataset.by = b.by;
  const total = b.totals?.cost_usd || 0;
  const rows = (b.rows || []).map((r) => h('tr', { 'data-key': r.key },
    h('td', { class: 'ellipsis', title: r.key }, breakdownLabel(b.by, r.key)),
    h('td', { class: 'num', 'data-col': 'entries', 'data-value': r.entries }, fmt.int(r.entries)),
    h('td', {}, h('span', { class: 'bar-track wide', 'aria-hidden': 'true' }, barOf(total > 0 ? r.cost_usd / total : 0)),
      h('span', { class: 'sr-only' }, total > 0 ? fmt.share((100 * r.cost_usd) / total) : '—')),
    h('td', { class: 'num', title: `${fmt.int(r.total_tokens)} tokens`, 'data-col': 'total_tokens', 'data-value': r.total_tokens }, fmt.tokens(r.total_tokens)),
    h('td', { class: 'num', 'data-col': 'cost_usd', 'data-value': r.cost_usd }, fmt.usd(r.cost_usd))));
  $('#breakdown-table tbody').replaceChildren(...(rows.length ? rows : [h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No usage in this range'))]));
  const t = b.totals || {};
  $('#breakdown-table tfoot').replaceChildren(h('tr', { 'data-key': '(total)' },
    h('th', { scope: 'row' }, 'Total'),
    h('td', { class: 'num', 'data-col': 'entries', 'data-value': t.entries ?? '' }, fmt.int(t.entries)),
    h('td', {}),
    h('td', { class: 'num', 'data-col': 'total_tokens', 'data-value': t.total_tokens ?? '' }, fmt.tokens(t.total_tokens)),
    h('td', { class: 'num', 'data-col': 'cost_usd', 'data-value': t.cost_usd ?? '' }, fmt.usd(t.cost_usd))));
  markScrollable($('#breakdown-card'));
}

async function loadPrompts() {
  renderPrompts(await api(`/prompts?${insightQuery({ top: TOP_PROMPTS })}`));
}

/** promptRows renders prompt rows; with session, the session column is
 *  left out (the dialog of that session). */
function promptRows(prompts, { session = true, rank = true } = {}) {
  return prompts.map((p, i) => h('tr', { 'data-key': p.key || `before:${p.session_id}` },
    rank ? h('td', { class: 'num' }, String(i + 1)) : null,
    h('td', { class: `prompt-text${p.before_first_prompt ? ' muted' : ''}`, title: p.text }, p.text),
    session ? h('td', { class: 'ellipsis', title: p.project }, shortProject(p.project)) : null,
    session ? h('td', {}, h('button', { type: 'button', class: 'link mono', title: p.session_id, 'aria-label': `Open session ${p.session_id}`, onclick: () => openSession(p.session_id) }, p.session_id.slice(0, 8))) : null,
    h('td', {}, fmtDateTime(p.timestamp)),
    h('td', { class: 'num', 'data-col': 'entries', 'data-value': p.entries }, fmt.int(p.entries)),
    h('td', { class: 'num', title: `${fmt.int(p.total_tokens)} tokens`, 'data-col': 'total_tokens', 'data-value': p.total_tokens }, fmt.tokens(p.total_tokens)),
    h('td', { class: 'num', 'data-col': 'cost_usd', 'data-value': p.cost_usd }, fmt.usd(p.cost_usd)),
    h('td', { class: 'num', 'data-col': 'cost_subagents_usd', 'data-value': p.cost_subagents_usd }, fmt.usd(p.cost_subagents_usd))));
}

function renderPrompts(p) {
  const rows = promptRows(p.prompts || []);
  $('#prompts-table tbody').replaceChildren(...(rows.length ? rows : [h('tr', {}, h('td', { colspan: 9, class: 'muted' }, 'No prompts in this range'))]));
  const shown = (p.prompts || []).reduce((a, r) => a + r.cost_usd, 0);
  const total = p.totals?.cost_usd || 0;
  $('#prompts-foot').textContent = p.row_count
    ? `${fmt.int(p.prompts.length)} of ${fmt.int(p.row_count)} prompts · ${total > 0 ? fmt.share((100 * shown) / total) : '—'} of ${fmt.usd(total)}`
    : '';
  $('#prompts-foot').dataset.rowCount = p.row_count ?? '';
  markScrollable($('#prompts-card'));
}

/** loadInsights loads both panels for the selected range. */
function loadInsights(seq) {
  return Promise.all([
    loadBreakdown().catch((err) => { if (seq === state.seq) reportError('where the money went', err); }),
    loadPrompts().catch((err) => { if (seq === state.seq) reportError('prompts', err); }),
  ]);
}

function wireInsights() {
  for (const b of $$('[data-by]')) {
    b.addEventListener('click', () => {
      state.by = b.dataset.by;
      for (const o of $$('[data-by]')) o.setAttribute('aria-pressed', String(o === b));
      loadBreakdown().catch((err) => reportError('where the money went', err));
    });
  }
}

/** sessionInsights returns the dialog sections of a session: cost by
 *  agent and its prompts with their cost. */
async function sessionInsights(d) {
  const agents = h('div', { class: 'table-wrap' }, h('table', { id: 'session-agents' },
    h('caption', { class: 'sr-only' }, 'Cost by agent in this session'),
    h('thead', {}, h('tr', {}, ['Agent', 'Requests', 'Tokens', 'Cost'].map((c, i) => h('th', { scope: 'col', class: i ? 'num' : null }, c)))),
    h('tbody', {}, (d.agents || []).map((a) => h('tr', { 'data-key': a.key },
      h('td', {}, a.key),
      h('td', { class: 'num', 'data-col': 'entries', 'data-value': a.entries }, fmt.int(a.entries)),
      h('td', { class: 'num', 'data-col': 'total_tokens', 'data-value': a.total_tokens }, fmt.tokens(a.total_tokens)),
      h('td', { class: 'num', 'data-col': 'cost_usd', 'data-value': a.cost_usd }, fmt.usd(a.cost_usd)))))));
  let prompts;
  try {
    const p = await api(`/prompts?${new URLSearchParams({ session: d.session_id, sort: 'time', top: 10000 })}`);
    const rows = promptRows(p.prompts || [], { session: false, rank: false });
    prompts = h('div', { class: 'table-wrap' }, h('table', { id: 'session-prompts' },
      h('caption', { class: 'sr-only' }, 'Prompts of this session with what their responses cost'),
      h('thead', {}, h('tr', {}, ['Prompt', 'Time', 'Requests', 'Tokens', 'Cost', 'Subagents'].map((c, i) => h('th', { scope: 'col', class: i > 1 ? 'num' : null }, c)))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No prompts recorded')))));
  } catch (err) {
    prompts = h('p', { class: 'muted' }, `Could not load the prompts: ${err.message}`);
  }
  return [
    h('section', {}, h('h3', {}, 'Main vs subagents'),
      h('dl', { class: 'block-stats' },
        h('div', {}, h('dt', {}, 'Main'), h('dd', { 'data-col': 'cost_main_usd', 'data-value': d.cost_main_usd }, fmt.usd(d.cost_main_usd))),
        h('div', {}, h('dt', {}, 'Subagents'), h('dd', { 'data-col': 'cost_subagents_usd', 'data-value': d.cost_subagents_usd }, fmt.usd(d.cost_subagents_usd)))),
      agents),
    h('section', {}, h('h3', {}, 'Prompts'), prompts),
  ];
}

// ---------------------------------------------------------------------------
// Projects

function renderProjects(data) {
  state.projects = data.projects || [];
  // A share of all tokens in the range, not of the largest project.
  const total = Math.max(1, data.totals?.total_tokens || state.projects.reduce((a, p) => a + p.total_tokens, 0));
  const rows = state.projects.map((p) => h('tr', {},
    h('td', { class: 'ellipsis', title: p.project },
      h('button', { type: 'button', class: 'link', 'aria-label': `Show sessions of ${p.project}`, onclick: () => filterProject(p.project) }, shortProject(p.project))),
    h('td', { class: 'num' }, fmt.int(p.session_count)),
    h('td', { class: 'num' }, fmt.int(p.entries)),
    h('td', {}, h('span', { class: 'bar-track wide', 'aria-hidden': 'true' }, barOf(p.total_tokens / total))),
    h('td', { class: 'num', title: `${fmt.int(p.total_tokens)} tokens` }, fmt.tokens(p.total_tokens)),
    h('td', { class: 'num' }, fmt.usd(p.cost_usd)),
    h('td', {}, fmtDateTime(p.last_activity))));
  $('#projects-table tbody').replaceChildren(...(rows.length ? rows : [h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No projects in this range'))]));
  const sel = $('#project-filter');
  const keep = state.sessions.project;
  const names = new Set(state.projects.map((p) => p.project));
  if (keep) names.add(keep);
  sel.replaceChildren(h('option', { value: '' }, 'All projects'),
    ...[...names].sort().map((p) => h('option', { value: p, selected: p === keep }, shortProject(p))));
}

function barOf(frac) {
  const b = h('span', { class: 'bar' });
  b.style.display = 'block';
  b.style.width = `${Math.max(2, Math.round(frac * 100))}%`;
  return b;
}

function filterProject(project) {
  state.sessions.project = project;
  $('#project-filter').value = project;
  loadSessions().catch((err) => reportError('sessions', err));
  $('#sessions-card').scrollIntoView({ behavior: 'smooth', block: 'start' });
}

// ---------------------------------------------------------------------------
// 5-hour block

let blocksAvailable = true;

async function loadBlock() {
  if (!blocksAvailable) return;
  try {
    const data = await api('/blocks/active');
    renderBlock(unwrapBlock(data));
  } catch (err) {
    if (isMissingRoute(err)) {
      blocksAvailable = false;
      renderBlockUnavailable();
    } else if (err instanceof APIError && err.status === 404) {
      renderBlock(null);
      $('#block-card').dataset.blockId = '';
    } else {
      $('#block-body').replaceChildren(h('div', { class: 'empty-state' }, `Could not load the current block: ${err.message}`));
    }
  }
}

/** unwrapBlock accepts a block, {block}, {blocks: [...]} or null. */
function unwrapBlock(data) {
  if (!data) return null;
  if (Array.isArray(data.blocks)) return data.blocks.find((b) => b.is_active) || null;
  if ('block' in data) return data.block;
  return data.start_time ? data : null;
}

function renderBlockUnavailable() {
  // Without block tracking the card would only say so; the heatmap takes
  // its place instead.
  const card = $('#block-card');
  card.dataset.state = 'unavailable';
  card.hidden = true;
  $('#block-body').replaceChildren(h('div', { class: 'empty-state' }, '5-hour block tracking is not available on this server.'));
}

function renderBlock(b) {
  const card = $('#block-card');
  card.hidden = false;
  if (!b || !b.is_active) {
    card.dataset.state = 'idle';
    card.dataset.blockId = '';
    card.dataset.totalTokens = '';
    card.dataset.limitStatus = '';
    $('#block-hint').textContent = '';
    $('#block-body').replaceChildren(h('div', { class: 'empty-state' }, 'No active block. A new 5-hour window starts with your next request.'));
    return;
  }
  card.dataset.state = 'active';
  const start = new Date(b.start_time).getTime();
  const end = new Date(b.end_time).getTime();
  // The server's projection knows the time left by the server's clock;
  // the browser's clock is the fallback for a block without a rate yet.
  const remaining = b.projection ? Math.max(0, b.projection.remaining_minutes * 60) : Math.max(0, (end - Date.now()) / 1000);
  const elapsed = Math.min(1, Math.max(0, 1 - (remaining * 1000) / (end - start)));
  card.dataset.remaining = String(Math.round(remaining));
  $('#block-hint').textContent = `${fmtTime(b.start_time)} – ${fmtTime(b.end_time)}`;
  const progress = (label, right, frac, cls = '') => h('div', {},
    h('div', { class: 'progress-label' }, h('span', {}, label), h('span', {}, right)),
    h('div', { class: `progress ${cls}`, role: 'progressbar', 'aria-label': label, 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(Math.round(frac * 100)) }, barOf(frac)));
  const parts = [progress('Time elapsed', `${fmtDuration(remaining)} left`, elapsed)];
  const ls = b.limit_status;
  card.dataset.blockId = b.id || '';
  card.dataset.totalTokens = String(b.total_tokens ?? '');
  card.dataset.limitStatus = ls?.status || '';
  if (ls) {
    // The server says which share decides and where it comes from:
    // Claude Code's own figure, a plan's estimate or a configured limit.
    const ratio = ls.ratio || 0;
    let of;
    if (ls.source === 'claude') of = "of Claude's 5-hour limit";
    else if (ls.cost_limit && ratio === ls.cost_ratio) of = `of ${fmt.usd(ls.cost_limit)}${ls.source === 'estimate' ? ' (plan estimate)' : ''}`;
    else of = `of ${fmt.tokens(ls.token_limit)} tokens (no cache reads)`;
    parts.push(progress(`Limit (${ls.status})`, `${fmt.pct(ratio)} ${of}`, Math.min(1, ratio), ls.status));
  }
  const stat = (label, value) => h('div', {}, h('dt', {}, label), h('dd', {}, value));
  const br = b.burn_rate;
  const pr = b.projection;
  parts.push(h('dl', { class: 'block-stats' },
    stat('Tokens', fmt.tokens(b.total_tokens)),
    stat('Cost', fmt.usd(b.cost_usd)),
    stat('Burn rate', br ? `${fmt.tokens(Math.round(br.tokens_per_minute))}/min` : '—'),
    stat('Cost rate', br ? `${fmt.usd(br.cost_per_hour)}/h` : '—'),
    stat('Projected tokens', pr ? fmt.tokens(pr.total_tokens) : '—'),
    stat('Projected cost', pr ? fmt.usd(pr.cost_usd) : '—'),
    ...(ls ? [
      stat('Projected status', ls.projected_status || '—'),
      stat('Limit reached', ls.status === 'exceeded' ? 'already' : ls.limit_at ? `at ${fmtTime(ls.limit_at)}` : 'not this block'),
    ] : [])));
  if (b.models?.length) parts.push(h('div', {}, b.models.map((m) => h('span', { class: 'pill' }, shortModel(m)))));
  $('#block-body').replaceChildren(...parts);
}

// ---------------------------------------------------------------------------
// Loading the selected range

async function loadRange() {
  const seq = ++state.seq;
  renderRangeControls();
  const { start, end } = span();
  const custom = Boolean(state.range.start);
  const period = custom ? 'all' : state.range.period;
  const q = new URLSearchParams({ start_date: start, end_date: end });
  for (const id of ['#trend-chart', '#models-donut', '#activity-chart']) $(id).classList.add('loading');
  const jobs = {
    daily: api(`/stats/daily?${q}`),
    projects: api(`/projects?${q}`),
    models: custom ? null : api(`/stats/models?period=${period}`),
    // A chosen range (or the one picked from the data) is sent as dates,
    // so that the heatmap shows the same days as the other panels.
    activity: api(custom ? `/stats/activity?${q}` : `/stats/activity?period=${period}`),
    sessions: api(sessionQuery(0)),
  };
  const settle = async (name, fn) => {
    try {
      const data = await jobs[name];
      if (seq === state.seq) fn(data);
    } catch (err) {
      if (seq === state.seq) reportError(name, err);
    }
  };
  await Promise.all([
    settle('daily', renderTrend),
    settle('projects', (p) => {
      renderProjects(p);
      if (custom) renderModels(modelsFromProjects(p));
    }),
    custom ? null : settle('models', (m) => renderModels(m.models || [])),
    settle('activity', renderActivity),
    loadInsights(seq),
    settle('sessions', (s) => {
      state.sessions.items = s.sessions;
      state.sessions.total = s.pagination?.total ?? s.sessions.length;
      renderSessions();
    }),
  ]);
  for (const id of ['#trend-chart', '#models-donut', '#activity-chart']) $(id).classList.remove('loading');
}

/** refresh reloads everything after new usage arrived. */
let refreshTimer;
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  // Coalesce bursts: Claude Code appends several lines per response.
  refreshTimer = setTimeout(async () => {
    try {
      await loadStats();
      await Promise.all([loadRange(), loadBlock()]);
    } catch (err) {
      reportError('updates', err);
    }
  }, 300);
}

// ---------------------------------------------------------------------------
// Live updates

const live = {
  started: false, // connect has run once
  ws: null,
  attempt: 0,
  opened: false,
  timer: null,
  watchdog: null,
  poll: null,
};

function setLive(stateName, text) {
  const node = $('#live');
  node.dataset.state = stateName;
  $('#live-text').textContent = text;
}

function connect() {
  clearTimeout(live.timer);
  live.started = true;
  setLive('connecting', live.attempt ? 'Reconnecting…' : 'Connecting…');
  const token = authToken ? `?token=${encodeURIComponent(authToken)}` : '';
  const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${API}/ws${token}`;
  let ws;
  try {
    ws = new WebSocket(url);
  } catch {
    startPolling();
    return;
  }
  live.ws = ws;
  let openedThis = false;
  ws.onopen = () => {
    openedThis = true;
    live.opened = true;
    const reconnected = live.attempt > 0;
    live.attempt = 0;
    stopPolling();
    setLive('live', 'Live');
    kickWatchdog();
    // Anything may have changed while we were away.
    if (reconnected) scheduleRefresh();
  };
  ws.onmessage = (ev) => {
    kickWatchdog();
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    onMessage(msg);
  };
  ws.onclose = async () => {
    clearTimeout(live.watchdog);
    if (live.ws !== ws) return;
    live.ws = null;
    if (!openedThis && !live.opened && live.attempt === 0 && await wsMissing()) {
      startPolling();
      return;
    }
    live.attempt++;
    // Exponential backoff with jitter, capped at 30 s.
    const delay = Math.min(30000, 1000 * 2 ** Math.min(live.attempt - 1, 5)) * (0.5 + Math.random() / 2);
    setLive('offline', `Offline, retrying in ${Math.ceil(delay / 1000)}s`);
    live.timer = setTimeout(connect, delay);
  };
}

/** wsMissing reports whether the server has no WebSocket route at all (its
 *  JSON 404 for unknown routes), so that the page polls instead of retrying
 *  forever against a server that will never upgrade. */
async function wsMissing() {
  try {
    const res = await fetch(`${API}/ws`, { cache: 'no-store', headers: authHeaders() });
    if (res.status !== 404) return false;
    const body = await res.json();
    return /no route/i.test(body?.error?.message || '');
  } catch {
    return false;
  }
}

function kickWatchdog() {
  clearTimeout(live.watchdog);
  // The server sends a heartbeat every 30 s; silence for much longer means
  // the connection is dead even if the socket has not noticed.
  live.watchdog = setTimeout(() => live.ws?.close(), 75000);
}

function onMessage(msg) {
  switch (msg.type) {
    case 'stats_update':
      // The feed carries every user's figures; a filtered page reloads.
      if (!state.user && msg.data && msg.data.summary && msg.data.today) renderStats(msg.data);
      scheduleRefresh();
      break;
    case 'block_update':
      if (!blocksAvailable) break;
      if (state.user) loadBlock();
      else renderBlock(unwrapBlock(msg.data));
      break;
    case 'alert':
      toast(msg.data?.message || `Usage alert: ${JSON.stringify(msg.data)}`);
      break;
    case 'error':
      toast(`Live feed: ${msg.data?.message || 'error'}`);
      break;
    case 'heartbeat':
      live.ws?.send?.(JSON.stringify({ type: 'pong', timestamp: new Date().toISOString() }));
      break;
    default:
      break; // connected, pong and future types need nothing
  }
}

function startPolling() {
  setLive('polling', 'Polling every 30s');
  if (live.poll) return;
  let last = state.stats?.summary?.entries;
  live.poll = setInterval(async () => {
    try {
      const s = await api('/stats');
      if (s.summary?.entries !== last) {
        last = s.summary?.entries;
        renderStats(s);
        scheduleRefresh();
      }
    } catch {
      setLive('offline', 'Server unreachable');
    }
  }, 30000);
}

function stopPolling() {
  clearInterval(live.poll);
  live.poll = null;
}

// ---------------------------------------------------------------------------
// Wiring

function wire() {
  wireInsights();
  for (const b of $$('[data-period]')) b.addEventListener('click', () => setRange({ period: b.dataset.period }));
  $('#custom-range').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const start = $('#range-from').value;
    const end = $('#range-to').value;
    if (!start || !end) return;
    setRange(start <= end ? { start, end } : { start: end, end: start });
  });
  $('#export-by-model').addEventListener('change', renderRangeControls);
  for (const id of ['#export-csv', '#export-json']) $(id).addEventListener('click', download);
  $('#user-filter').addEventListener('change', (ev) => setUser(ev.target.value));
  // The page cannot work without the token: the form stays until one is
  // entered.
  $('#auth-dialog').addEventListener('cancel', (ev) => ev.preventDefault());
  for (const b of $$('[data-share]')) {
    b.addEventListener('click', () => {
      state.share = b.dataset.share;
      for (const o of $$('[data-share]')) o.setAttribute('aria-pressed', String(o === b));
      renderModels(state.models);
    });
  }
  for (const th of $$('#sessions-table th[data-sort]')) {
    th.querySelector('button').addEventListener('click', () => {
      const ss = state.sessions;
      if (ss.sort === th.dataset.sort) ss.order = ss.order === 'desc' ? 'asc' : 'desc';
      else { ss.sort = th.dataset.sort; ss.order = 'desc'; }
      loadSessions().catch((err) => reportError('sessions', err));
    });
  }
  $('#project-filter').addEventListener('change', (ev) => {
    state.sessions.project = ev.target.value;
    loadSessions().catch((err) => reportError('sessions', err));
  });
  $('#sessions-more').addEventListener('click', () => loadSessions(true).catch((err) => reportError('sessions', err)));
  $('#session-close').addEventListener('click', () => $('#session-dialog').close());
  $('#session-dialog').addEventListener('click', (ev) => {
    // A click on the backdrop (the dialog element itself) closes it.
    if (ev.target === ev.currentTarget) ev.currentTarget.close();
  });
  // Keep the block's countdown honest between server updates.
  setInterval(() => { if (blocksAvailable && $('#block-card').dataset.state === 'active') loadBlock(); }, 60000);
}

// ---------------------------------------------------------------------------
// Users (team mode)

async function loadUsers() {
  let data;
  try {
    data = await api('/users');
  } catch (err) {
    if (!isMissingRoute(err)) reportError('users', err);
    return;
  }
  const users = data.users || [];
  const wrap = $('#user-filter-wrap');
  // One user (or a local install) has nothing to choose between.
  wrap.hidden = users.length <= 1;
  const names = users.map((u) => u.user).filter(Boolean);
  if (state.user && !names.includes(state.user)) names.push(state.user);
  $('#user-filter').replaceChildren(h('option', { value: '' }, 'All users'),
    ...names.sort().map((n) => h('option', { value: n, selected: n === state.user }, n)));
}

async function setUser(user) {
  state.user = user;
  state.sessions.items = [];
  try {
    await loadStats();
  } catch (err) {
    reportError('statistics', err);
  }
  await Promise.all([loadRange(), loadBlock()]);
}

/** download fetches an export with the token, which a plain link cannot
 *  send, and saves it under the server's file name. */
async function download(ev) {
  if (!authToken) return; // the link itself works
  ev.preventDefault();
  const link = ev.currentTarget;
  try {
    const res = await fetch(link.href, { headers: authHeaders(), cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const name = /filename="?([^";]+)"?/.exec(res.headers.get('Content-Disposition') || '')?.[1] || 'ctm-export';
    const url = URL.createObjectURL(await res.blob());
    const a = h('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (err) {
    reportError('the export', err);
  }
}

async function loadHealth() {
  try {
    const hl = await api('/health');
    $('#footer-version').textContent = `ctm ${hl.version || ''} · ${hl.status}`;
  } catch {
    // Health is informational; the rest of the page does not depend on it.
  }
}

/** chooseDefaultRange starts on the last 30 days that have data when the
 *  30 days up to today have none (Claude Code deletes old transcripts, but
 *  ctm keeps them), and says so, instead of showing empty panels. */
function chooseDefaultRange() {
  const last = state.stats?.summary?.last_activity;
  if (!last || state.range.start) return;
  const lastDay = last.slice(0, 10);
  if (lastDay >= span().start) return;
  const days = periodDays[state.range.period] || 30;
  const start = addDays(lastDay, -(days - 1));
  state.range = { start: start < state.first ? state.first : start, end: lastDay };
  state.rangeNote = `No usage in the last ${days} days: showing the ${days} days up to ${longDay(lastDay)}, the last with usage.`;
}

async function main() {
  wire();
  for (const wrap of $$('.table-wrap')) {
    wrapObserver?.observe(wrap);
    if (wrap.firstElementChild) wrapObserver?.observe(wrap.firstElementChild);
  }
  renderLegend();
  try {
    await loadStats();
    chooseDefaultRange();
  } catch (err) {
    reportError('statistics', err);
    state.today = new Date().toISOString().slice(0, 10);
    state.first = state.today;
  }
  await Promise.all([loadRange(), loadBlock(), loadHealth(), loadUsers()]);
  document.documentElement.dataset.ready = 'true';
  performance.mark('ctm-ready');
  connect();
}

main();
