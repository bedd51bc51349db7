// The devices view: every device the session sees with its last event,
// online or silent, and today's grants and denials, from
// GET /v1/stats/devices, and how its events reach doorlog (read from its
// panel by the collector, its own panel address) from GET /v1/devices; a
// row opens the device's events.
import { getJSON, isAbort, notAvailable } from './api.js';
import { $, h, store, timeZone } from './util.js';
import { t, tn, num, dateTime, ago } from './i18n.js';
import { emptyFilters } from './state.js';

const THRESHOLDS = ['5m', '15m', '30m', '1h', '6h', '24h'];

// thresholdLabel says a silent_after value in words: "15 minutes".
function thresholdLabel(v) {
  const m = /^(\d+)([mh])$/.exec(v);
  if (!m) return v;
  return tn(m[2] === 'm' ? 'duration.minutes' : 'duration.hours', Number(m[1]));
}

export class DevicesView {
  constructor(ctx) {
    this.ctx = ctx;
    this.abort = null;
    const sel = $('silent-after');
    sel.addEventListener('change', () => {
      ctx.silentAfter = sel.value;
      store.set('silentAfter', sel.value);
      history.replaceState(null, '', `#devices?silent_after=${encodeURIComponent(sel.value)}`);
      this.show();
    });
    $('devices-refresh').addEventListener('click', () => this.show());
    const body = $('devices-body');
    const open = (tr) => {
      if (!tr?.dataset.device) return;
      const f = emptyFilters();
      f.device_id = tr.dataset.device;
      f.window = ctx.filters.window;
      f.from = ctx.filters.from;
      f.to = ctx.filters.to;
      ctx.go('events', f);
    };
    body.addEventListener('click', (e) => open(e.target.closest('tr')));
    body.addEventListener('keydown', (e) => {
      const tr = e.target.closest('tr');
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        open(tr);
      } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        (e.key === 'ArrowDown' ? tr?.nextElementSibling : tr?.previousElementSibling)?.focus();
      }
    });
  }

  async show() {
    this.abort?.abort();
    this.abort = new AbortController();
    const signal = this.abort.signal;
    const sel = $('silent-after');
    const options = THRESHOLDS.includes(this.ctx.silentAfter) ? THRESHOLDS : [...THRESHOLDS, this.ctx.silentAfter];
    sel.replaceChildren(...options.map((v) => h('option', { value: v }, thresholdLabel(v))));
    sel.value = this.ctx.silentAfter;
    const note = $('devices-note');
    note.hidden = true;
    $('devices-body').replaceChildren(h('tr', null, h('td', { colspan: 8, class: 'muted' }, t('app.loading'))));
    let devices;
    // How each device is fed (its panel address, the collector reading its
    // panel) comes from GET /v1/devices, fetched beside the stats.
    const feeds = getJSON('/v1/devices', {}, signal).then((data) => new Map((data.devices || []).map((d) => [d.id, d])), () => new Map());
    try {
      const data = await getJSON('/v1/stats/devices', { silent_after: this.ctx.silentAfter, tz: timeZone }, signal);
      devices = data.devices || [];
    } catch (err) {
      if (isAbort(err)) return;
      if (!notAvailable(err)) {
        note.textContent = t('devices.load_failed', { message: err.message });
        note.className = 'error';
        note.hidden = false;
        $('devices-body').replaceChildren();
        return;
      }
      // An older server: list the devices without their status.
      note.textContent = t('devices.no_status');
      note.className = 'note';
      note.hidden = false;
      devices = [...this.ctx.devices.values()].map((d) => ({ ...d, last_event_time: undefined, status: undefined, today: undefined }));
    }
    const feed = await feeds;
    if (signal.aborted) return;
    devices = devices.map((d) => ({ ...d, feed: feed.get(d.id) }));
    devices.sort((a, b) => this.ctx.siteName(a.site_id).localeCompare(this.ctx.siteName(b.site_id)) || a.name.localeCompare(b.name));
    const now = Date.now();
    $('devices-body').replaceChildren(...devices.map((d) => this.row(d, now)));
    if (devices.length === 0) $('devices-body').append(h('tr', null, h('td', { colspan: 8, class: 'muted' }, t('devices.none'))));
  }

  hide() {
    this.abort?.abort();
  }

  row(d, now) {
    const last = d.last_event_time ? new Date(d.last_event_time) : null;
    let status = h('span', { class: 'muted' }, '—');
    if (d.status === 'online') status = h('span', { class: 'status online' }, h('span', { 'aria-hidden': 'true' }, '\u25CF '), t('devices.online'));
    else if (d.status === 'silent') status = h('span', { class: 'status silent' }, h('span', { 'aria-hidden': 'true' }, '\u25CB '), t('devices.silent'));
    const lastCell = d.last_event_time === undefined ? h('span', { class: 'muted' }, '—')
      : last ? h('time', { datetime: d.last_event_time, title: dateTime(last) }, `${dateTime(last)} (${ago(last, now)})`)
        : h('span', { class: 'muted' }, t('devices.never'));
    const count = (n) => (n === undefined ? '—' : num(n));
    // On a phone each cell shows its column's name before it (CSS
    // attr(data-label)), so the labels are in the page's language.
    const tr = h('tr', { tabindex: 0, 'data-device': d.id, class: d.status ? `device-${d.status}` : null },
      h('td', { 'data-label': t('devices.col_device'), class: 'device' }, d.name),
      h('td', { 'data-label': t('devices.col_site') }, this.ctx.siteName(d.site_id)),
      h('td', { 'data-label': t('devices.col_model') }, d.model || '—'),
      h('td', { 'data-label': t('devices.col_last') }, lastCell),
      h('td', { 'data-label': t('devices.col_status') }, status),
      h('td', { 'data-label': t('devices.col_granted'), class: 'num' }, count(d.today?.grants)),
      h('td', { 'data-label': t('devices.col_denied'), class: 'num' }, count(d.today?.denials)),
      h('td', { 'data-label': t('devices.col_panel'), class: 'feed' }, this.feed(d.feed, now)));
    return tr;
  }

  // feed describes how a device's events reach doorlog: read from its
  // panel by the collector (with how that goes), and its own panel
  // address; nothing for a device that sends its events.
  feed(f, now) {
    const parts = [];
    const c = f?.collector;
    if (f?.pull) {
      let state;
      if (!c || c.state === 'starting') state = h('span', { class: 'muted' }, t('devices.starting'));
      else if (c.state === 'ok') {
        state = h('span', { class: 'status online' }, t('devices.read_ago', { ago: ago(new Date(c.last_success), now) }));
      } else {
        // The collector's error is technical and stays as the server
        // says it (in English); the words around it are translated.
        state = h('span', { class: 'status silent', title: c.last_error || '' }, t('devices.cannot_read', { error: c.last_error || t('devices.error') }));
      }
      const figures = c ? ` · ${tn('devices.collected', c.events_collected)}${c.gaps ? ` · ${tn('devices.gaps', c.gaps)}` : ''}` : '';
      parts.push(h('div', null, withCode(t('devices.pulled_from', { url: '\u0000' }), f.pull.url), ': ', state, figures));
    }
    if (f?.listen) {
      const st = f.listen_status;
      const state = !st ? '' : st.state === 'listening' ? ` (${t('devices.serving')})` : st.state === 'error' ? ` (${t('devices.cannot_serve', { error: st.error })})` : ` (${st.state})`;
      parts.push(h('div', { class: st?.state === 'error' ? 'status silent' : null }, withCode(t('devices.panel_address', { address: '\u0000' }), f.listen), state));
    }
    return parts.length ? parts : h('span', { class: 'muted' }, t('devices.sends'));
  }
}

// withCode puts code where a message has the mark \u0000, so the
// message's words go around it in the language's order.
function withCode(msg, code) {
  const [before, after = ''] = msg.split('\u0000');
  return [before, h('code', null, code), after];
}
