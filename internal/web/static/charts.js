// The charts view, drawn as SVG: events over time by category (in buckets
// sized to the window: minutes for an hour, hours for days, days for
// months) and denials by device come from the server's aggregation
// endpoints (/v1/stats/...), the alarm timeline from the event list
// filtered to the alarm keys. Text is drawn at a fixed size in CSS
// pixels, whatever the chart's width.
import { getJSON, isAbort, notAvailable } from './api.js';
import { $, h, s, formatShort, categoryLabel, CATEGORIES } from './util.js';
import { t, tn, num, dateTime } from './i18n.js';
import { windowRange, windowLabel } from './state.js';

const HOUR = 3600e3;
// ALARMS are the catalog keys of the alarm timeline, each with a shape of
// its own so the lanes read without colour.
const ALARMS = [
  { key: 'tamper_event', label: 'alarm.tamper', shape: 'diamond' },
  { key: 'door_was_not_closed_too_long', label: 'alarm.door_held', shape: 'square' },
  { key: 'emergency_lock_is_opened', label: 'alarm.emergency_unlock', shape: 'triangle' },
];
// INTERVALS are the timeline's bucket sizes, as /v1/stats/timeline names
// them; a day is a day of the viewer's calendar (23 to 25 hours).
const INTERVALS = { '1m': 60e3, '5m': 300e3, '15m': 900e3, '1h': HOUR, '1d': 24 * HOUR };
const INTERVAL_LABELS = { '1m': 'charts.per_minute', '5m': 'charts.per_5_minutes', '15m': 'charts.per_15_minutes', '1h': 'charts.per_hour', '1d': 'charts.per_day' };
const MAX_ALARMS = 1000;

export class ChartsView {
  constructor(ctx) {
    this.ctx = ctx;
    this.abort = null;
    // Each chart is drawn at the width it is shown at, so that its text is
    // the same size in CSS pixels on a phone and a wide screen; a chart
    // whose width changes is drawn again from the data it has.
    this.drawn = new Map(); // element → { data, draw, width }
    this.resize = new ResizeObserver((entries) => {
      for (const e of entries) {
        const d = this.drawn.get(e.target);
        if (d && Math.abs(chartWidth(e.target) - d.width) >= 8) this.paint(e.target, d);
      }
    });
  }

  // paint draws a chart's data at its element's width.
  paint(el, d) {
    d.width = chartWidth(el);
    el.replaceChildren(...d.draw(d.data, d.width));
  }

  show() {
    this.abort?.abort();
    this.abort = new AbortController();
    const f = this.ctx.filters;
    const r = windowRange(f);
    const now = new Date();
    this.to = r.to || now;
    this.from = r.from || new Date(this.to.getTime() - 7 * 24 * HOUR);
    $('charts-window').textContent = `· ${f.window === 'all' ? t('window.7d') : windowLabel(f)}`;
    const note = $('charts-note');
    note.hidden = !(f.q || f.identifier_number);
    note.textContent = t('charts.filter_note');
    const signal = this.abort.signal;
    this.hourly(signal);
    this.denials(signal);
    this.alarms(signal);
  }

  hide() {
    this.abort?.abort();
  }

  localeChanged() {
    this.show();
  }

  rangeParams(extra) {
    const p = new URLSearchParams(extra);
    p.set('from', this.from.toISOString());
    p.set('to', this.to.toISOString());
    return p;
  }

  async fetchInto(el, path, params, signal, draw) {
    el.replaceChildren(h('p', { class: 'muted' }, t('app.loading')));
    let data;
    try {
      data = await getJSON(path, params, signal);
    } catch (err) {
      if (isAbort(err)) return;
      this.drawn.delete(el); // nothing to draw again on a resize
      if (notAvailable(err)) {
        el.replaceChildren(h('p', { class: 'note' }, t('charts.not_available', { path, status: err.status })));
      } else {
        el.replaceChildren(h('p', { class: 'error' }, t('charts.load_failed', { message: err.message })));
      }
      return;
    }
    if (signal.aborted) return;
    const d = { data, draw, width: 0 };
    this.drawn.set(el, d);
    this.resize.observe(el);
    this.paint(el, d);
  }

  hourly(signal) {
    // The counts come from the store's hourly buckets, which know sites,
    // devices, keys, categories and priorities but not the models: the
    // identifier and free-text filters do not apply to them.
    // The server picks the bucket for the window's length and says which.
    const p = this.rangeParams(pick(this.ctx.filters, ['site_id', 'device_id', 'category', 'priority', 'key']));
    p.set('tz', Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC');
    $('chart-hourly-interval').textContent = '';
    this.fetchInto($('chart-hourly'), '/v1/stats/timeline', p, signal, (data, width) => {
      $('chart-hourly-interval').textContent = INTERVAL_LABELS[data.interval] ? `· ${t(INTERVAL_LABELS[data.interval])}` : '';
      return timelineChart(data, this.from, this.to, width);
    });
  }

  denials(signal) {
    const p = this.rangeParams();
    p.set('limit', '10');
    for (const [k, v] of pick(this.ctx.filters, ['site_id', 'device_id'])) p.set(k, v);
    this.fetchInto($('chart-denials'), '/v1/stats/denials', p, signal, (data, width) => denialsChart(data, this.ctx, width));
  }

  alarms(signal) {
    const f = this.ctx.filters;
    const p = this.rangeParams();
    p.set('key', ALARMS.map((a) => a.key).join(','));
    for (const k of ['site_id', 'device_id', 'identifier_number', 'q']) if (f[k]) p.set(k, f[k]);
    p.set('limit', String(MAX_ALARMS));
    p.set('locale', this.ctx.locale);
    this.fetchInto($('chart-alarms'), '/v1/events', p, signal, (data, width) => alarmChart(data, this.from, this.to, this.ctx, width));
  }
}

// chartWidth is the width, in CSS pixels, a chart is drawn at in el: its
// content box, never narrower than a small phone's.
function chartWidth(el) {
  return Math.max(280, Math.round(el.clientWidth || 800));
}

// pick returns the named filters that are set, as query parameters.
function pick(f, names) {
  const p = new URLSearchParams();
  for (const k of names) if (f[k]) p.set(k, f[k]);
  return p;
}

// niceMax rounds a maximum up to a round number (1, 1.5, 2, 2.5, 3, 4, 5,
// 6 or 8 times a power of ten), so the tallest bar nearly fills the chart
// and the half-way line is a round number too.
function niceMax(v) {
  if (v <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// timeTicks picks at most max round times between from and to, on the
// viewer's clock (minutes, hours or midnights).
function timeTicks(from, to, max) {
  const span = to - from;
  const MIN = 60e3;
  const steps = [5 * MIN, 10 * MIN, 15 * MIN, 30 * MIN, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, 24 * HOUR, 48 * HOUR, 7 * 24 * HOUR, 30 * 24 * HOUR];
  const step = steps.find((st) => span / st <= max) || steps[steps.length - 1];
  const first = new Date(from);
  first.setSeconds(0, 0);
  if (step < HOUR) {
    const m = step / MIN;
    first.setMinutes(Math.ceil(first.getMinutes() / m) * m);
  } else {
    first.setMinutes(0);
    if (step >= 24 * HOUR) first.setHours(0);
    else first.setHours(Math.ceil(first.getHours() / (step / HOUR)) * (step / HOUR));
  }
  const out = [];
  // Stepping by the clock (not by adding milliseconds) keeps midnights
  // at midnight across a change to or from summer time.
  for (const d = first; d.getTime() <= to; step >= 24 * HOUR ? d.setDate(d.getDate() + step / (24 * HOUR)) : d.setTime(d.getTime() + step)) {
    if (d.getTime() >= from) out.push(new Date(d));
  }
  return { ticks: out, withDay: span > 20 * HOUR };
}

function dataTable(caption, head, rows) {
  return h('details', { class: 'data' },
    h('summary', null, t('charts.show_numbers')),
    h('div', { class: 'table-wrap' },
      h('table', null,
        h('caption', { class: 'visually-hidden' }, caption),
        h('thead', null, h('tr', null, head.map((c, i) => h('th', { scope: 'col', class: i ? 'num' : null }, c)))),
        h('tbody', null, rows.map((r) => h('tr', null, r.map((c, i) => h('td', { class: i ? 'num' : null }, c))))))));
}

function legend(items) {
  return h('ul', { class: 'legend' }, items.map(([cls, label]) => h('li', null, h('span', { class: `swatch ${cls}`, 'aria-hidden': 'true' }), label)));
}

// timelineChart draws stacked bars per bucket: one colour per category,
// each bar as wide as its bucket's share of the window.
export function timelineChart(data, from, to, W = 800) {
  const buckets = (data.buckets || []).map((b, i, all) => {
    const start = new Date(b.start).getTime();
    const next = i + 1 < all.length ? new Date(all[i + 1].start).getTime() : start + (INTERVALS[data.interval] || HOUR);
    return { t: start, end: next, counts: CATEGORIES.map((c) => b[c] || 0) };
  });
  const totals = CATEGORIES.map((_, i) => buckets.reduce((a, x) => a + x.counts[i], 0));
  const total = totals.reduce((a, b) => a + b, 0);
  if (total === 0) return [h('p', { class: 'muted' }, t('charts.no_events'))];
  const H = 240, L = 48, R = 8, T = 10, B = 28;
  const t0 = Math.min(from.getTime(), buckets[0].t);
  const t1 = Math.max(to.getTime(), buckets[buckets.length - 1].end);
  const max = niceMax(Math.max(...buckets.map((x) => x.counts.reduce((a, b) => a + b, 0))));
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const x = (tm) => L + ((tm - t0) / (t1 - t0)) * (W - L - R);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: 'chart-svg', role: 'img', 'aria-label': tn('charts.timeline_label', total) });
  for (const v of [0, max / 2, max]) {
    svg.append(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }), s('text', { x: L - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, num(v)));
  }
  for (const b of buckets) {
    let acc = 0;
    const g = s('g', { class: 'bar' });
    const parts = [];
    const bw = Math.max(x(b.end) - x(b.t), 1);
    b.counts.forEach((n, i) => {
      if (!n) return;
      g.append(s('rect', { x: x(b.t) + bw * 0.1, width: Math.max(bw * 0.8, 1), y: y(acc + n), height: y(acc) - y(acc + n), class: `fill-${CATEGORIES[i]}` }));
      acc += n;
      parts.push(`${categoryLabel(CATEGORIES[i])} ${num(n)}`);
    });
    if (acc) {
      g.append(s('title', null, `${dateTime(new Date(b.t))}: ${parts.join(', ')}`));
      svg.append(g);
    }
  }
  const { ticks, withDay } = timeTicks(t0, t1, Math.max(2, Math.floor((W - L) / 110)));
  for (const tk of ticks) {
    svg.append(s('text', { x: x(tk.getTime()), y: H - 8, class: 'axis', 'text-anchor': 'middle' }, formatShort(tk, withDay)));
  }
  return [
    svg,
    legend(CATEGORIES.map((c, i) => [`fill-${c}`, `${categoryLabel(c)}: ${num(totals[i])}`])),
    dataTable(t('charts.timeline'), [t('charts.col_start'), ...CATEGORIES.map(categoryLabel)],
      buckets.filter((x) => x.counts.some(Boolean)).map((x) => [dateTime(new Date(x.t)), ...x.counts.map(num)])),
  ];
}

// denialsChart draws a horizontal bar per device, most denials first.
export function denialsChart(data, ctx, W = 800) {
  const devs = (data.devices || []).slice(0, 10);
  if (devs.length === 0) return [h('p', { class: 'muted' }, t('charts.no_denials'))];
  const L = Math.min(260, Math.round(W * 0.45)), R = 60, row = 30;
  // About 7 px a character at 13 px: a label is cut to what fits.
  const fits = Math.max(8, Math.floor((L - 12) / 7));
  const H = devs.length * row + 8;
  const max = Math.max(...devs.map((d) => d.denials), 1);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: 'chart-svg', role: 'img', 'aria-label': t('charts.denials_label') });
  devs.forEach((d, i) => {
    const name = d.device_name || ctx.deviceName(d.device_id);
    const label = `${name} · ${ctx.siteName(d.site_id)}`;
    const yy = 4 + i * row;
    const w = ((W - L - R) * d.denials) / max;
    const g = s('g', { class: 'hbar' },
      s('title', null, tn('charts.denials_of', d.denials, { label })),
      s('text', { x: L - 8, y: yy + row / 2 + 4, class: 'label', 'text-anchor': 'end' }, label.length > fits ? label.slice(0, fits - 1) + '…' : label),
      s('rect', { x: L, y: yy + 4, width: Math.max(w, 1), height: row - 10, class: 'fill-denied' }),
      s('text', { x: L + w + 6, y: yy + row / 2 + 4, class: 'value' }, num(d.denials)));
    svg.append(g);
  });
  return [svg, dataTable(t('charts.denials_label'), [t('charts.col_device'), t('charts.col_site'), t('charts.col_denials')], devs.map((d) => [d.device_name || ctx.deviceName(d.device_id), ctx.siteName(d.site_id), num(d.denials)]))];
}

function marker(shape, cx, cy, r, cls) {
  switch (shape) {
    case 'diamond':
      return s('polygon', { points: `${cx},${cy - r} ${cx + r},${cy} ${cx},${cy + r} ${cx - r},${cy}`, class: cls });
    case 'square':
      return s('rect', { x: cx - r * 0.8, y: cy - r * 0.8, width: r * 1.6, height: r * 1.6, class: cls });
    default:
      return s('polygon', { points: `${cx},${cy - r} ${cx + r},${cy + r * 0.8} ${cx - r},${cy + r * 0.8}`, class: cls });
  }
}

// alarmChart draws one lane per alarm key with a mark per event; a mark
// opens its event, by mouse or keyboard.
export function alarmChart(data, from, to, ctx, W = 800) {
  const events = data.events || [];
  const L = Math.min(150, Math.round(W * 0.4)), R = 12, lane = 40, T = 6;
  const H = T + ALARMS.length * lane + 26;
  const x = (t) => L + ((t - from.getTime()) / (to.getTime() - from.getTime())) * (W - L - R);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: 'chart-svg', role: 'group', 'aria-label': tn('charts.alarm_timeline', events.length) });
  ALARMS.forEach((a, i) => {
    const cy = T + i * lane + lane / 2;
    const n = events.filter((e) => e.key === a.key).length;
    svg.append(s('line', { x1: L, x2: W - R, y1: cy, y2: cy, class: 'grid' }),
      s('text', { x: L - 8, y: cy + 4, class: 'label', 'text-anchor': 'end' }, `${t(a.label)} (${num(n)})`));
  });
  const { ticks, withDay } = timeTicks(from.getTime(), to.getTime(), Math.max(2, Math.floor((W - L) / 110)));
  for (const tk of ticks) svg.append(s('text', { x: x(tk.getTime()), y: H - 6, class: 'axis', 'text-anchor': 'middle' }, formatShort(tk, withDay)));
  for (const ev of events) {
    const i = ALARMS.findIndex((a) => a.key === ev.key);
    if (i < 0) continue;
    const at = new Date(ev.time);
    const cy = T + i * lane + lane / 2;
    const label = `${ev.name} — ${ctx.deviceName(ev.device_id)}, ${dateTime(at)}`;
    const g = s('g', { class: 'mark', tabindex: 0, role: 'button', 'aria-label': label },
      s('title', null, label), marker(ALARMS[i].shape, x(at.getTime()), cy, 7, `alarm-${i}`));
    g.addEventListener('click', () => ctx.openEvent(ev));
    g.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        ctx.openEvent(ev);
      }
    });
    svg.append(g);
  }
  const out = [svg, legend(ALARMS.map((a, i) => [`alarm-${i} shape-${a.shape}`, t(a.label)]))];
  if (events.length === 0) out.unshift(h('p', { class: 'muted' }, t('charts.no_alarms')));
  if (data.next_cursor) out.push(h('p', { class: 'note' }, tn('charts.alarms_capped', MAX_ALARMS)));
  return out;
}
