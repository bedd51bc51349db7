// The events view: the filtered list with endless scroll on the native
// cursor, the live tail over Server-Sent Events, and the export links.
import { getJSON, isAbort } from './api.js';
import { $, h, store, timeZone, priorityIcon, priorityLabel, categoryLabel } from './util.js';
import { t, tn, dateTime } from './i18n.js';
import { eventParams, windowRange, windowLabel } from './state.js';

const PAGE = 100;
// MAX_PAUSED is how many events a paused tail keeps; past it only the
// count goes on, and resuming reloads the list.
const MAX_PAUSED = 1000;
// RESUME_WINDOW is how recent the newest listed event must be for the live
// tail to start right after it (no gap between the list and the tail);
// older, and the tail starts from now instead of replaying a long history.
const RESUME_WINDOW = 3600e3;
// maxRows is how many rows the list keeps while the live tail adds to it,
// so that a page left open all day stays small: past it the oldest rows
// are dropped, and scrolling down loads them again from the API. It can
// be set per browser (localStorage doorlog.maxRows, at least one page).
const maxRows = () => Math.max(PAGE, Number.parseInt(store.get('maxRows', '500'), 10) || 500);

export class EventsView {
  constructor(ctx) {
    this.ctx = ctx;
    this.gen = 0;
    this.abort = null;
    this.cursor = null;
    this.loading = false;
    this.seen = new Set();
    this.count = null;
    this.countExact = true;
    this.live = null;
    this.paused = false;
    this.buffer = [];
    this.missed = 0;
    this.lastLiveId = '';
    this.retryTimer = 0;
    this.active = false;
    // olderFrom, when set, is where the list goes on after the live tail
    // dropped its oldest rows: the time (ISO) the next page ends at.
    this.olderFrom = '';
    // newest is the time of the newest event seen, for the offline banner.
    this.newest = null;

    const body = $('events-body');
    body.addEventListener('click', (e) => {
      const tr = e.target.closest('tr');
      if (tr?.ev) ctx.openEvent(tr.ev);
    });
    body.addEventListener('keydown', (e) => {
      const tr = e.target.closest('tr');
      if (!tr) return;
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        if (tr.ev) ctx.openEvent(tr.ev);
      } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        const next = e.key === 'ArrowDown' ? tr.nextElementSibling : tr.previousElementSibling;
        next?.focus();
      }
    });
    $('more-button').addEventListener('click', () => this.loadPage(false));
    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((en) => en.isIntersecting) && this.active && (this.cursor || this.olderFrom) && !this.loading) this.loadPage(false);
    }, { rootMargin: '600px' });
    this.observer.observe($('more'));
    // The observer tells only changes: a page appended and a scroll to the
    // end within one frame leave the end in view, unreported, and the
    // list would stop. Every scroll looks too (once a frame).
    let looking = false;
    window.addEventListener('scroll', () => {
      if (looking) return;
      looking = true;
      requestAnimationFrame(() => {
        looking = false;
        if (this.active && (this.cursor || this.olderFrom) && !this.loading && this.sentinelVisible()) this.loadPage(false);
      });
    }, { passive: true });
    $('live-toggle').addEventListener('click', () => (this.paused ? this.resume() : this.pause()));
    // The CSV's style: what the person chose last, else what spreadsheets
    // in the page's language expect (lists separated by ";" wherever the
    // decimal mark is a comma: every locale of the page but English).
    $('export-csv-style').addEventListener('change', (e) => {
      store.set('csvStyle', e.target.value);
      $('export-csv').href = this.exportURL('csv');
    });
    for (const [id, format] of [['export-csv', 'csv'], ['export-ndjson', 'ndjson']]) {
      // The window is turned into times when the link is followed, so
      // "last hour" means the hour before the click.
      $(id).addEventListener('click', () => ($(id).href = this.exportURL(format)));
    }
  }

  show() {
    this.active = true;
    this.reset();
    this.loadPage(true);
  }

  hide() {
    this.active = false;
    this.stopLive();
    this.abort?.abort();
    this.gen++;
  }

  localeChanged() {
    if (this.active) this.show();
  }

  reset() {
    this.gen++;
    this.abort?.abort();
    this.abort = new AbortController();
    this.stopLive();
    this.cursor = null;
    this.loading = false;
    this.seen.clear();
    this.count = null;
    this.paused = false;
    this.buffer = [];
    this.missed = 0;
    this.lastLiveId = '';
    this.olderFrom = '';
    const f = this.ctx.filters;
    this.params = eventParams(f);
    if (f.order === 'asc') this.params.set('order', 'asc');
    this.range = windowRange(f);
    $('events-body').replaceChildren();
    $('events-body').setAttribute('lang', this.ctx.locale);
    $('events-error').hidden = true;
    $('events-empty').hidden = true;
    $('more-button').hidden = true;
    $('more-status').textContent = '';
    $('count').textContent = t('events.title');
    $('export-csv-style').value = this.csvStyle();
    $('export-csv').href = this.exportURL('csv');
    $('export-ndjson').href = this.exportURL('ndjson');
    this.updateLiveButton();
  }

  csvStyle() {
    return store.get('csvStyle', this.ctx.locale === 'en' ? 'comma' : 'excel');
  }

  exportURL(format) {
    const p = eventParams(this.ctx.filters);
    p.set('format', format);
    p.set('locale', this.ctx.locale);
    if (format === 'csv') {
      p.set('tz', timeZone);
      if (this.csvStyle() === 'excel') {
        p.set('separator', 'semicolon');
        p.set('bom', 'true');
      }
    }
    return `/v1/events/export?${p}`;
  }

  async loadPage(first) {
    if (this.loading || (!first && !this.cursor && !this.olderFrom)) return;
    const gen = this.gen;
    this.loading = true;
    const p = new URLSearchParams(this.params);
    p.set('limit', String(PAGE));
    p.set('locale', this.ctx.locale);
    if (first) p.set('count', 'estimate');
    else if (this.cursor) p.set('cursor', this.cursor);
    // Else the list goes on after dropped rows: this.params ends at the
    // oldest row kept (see trim).
    $('more-status').textContent = t('app.loading');
    $('more-button').hidden = true;
    let page;
    try {
      page = await getJSON('/v1/events', p, this.abort.signal);
    } catch (err) {
      if (gen !== this.gen || isAbort(err)) return;
      this.loading = false;
      $('more-status').textContent = '';
      this.showError(t('events.load_failed', { message: err.message }));
      if (!first) $('more-button').hidden = false;
      return;
    }
    if (gen !== this.gen) return;
    this.loading = false;
    this.cursor = page.next_cursor;
    this.olderFrom = '';
    const rows = [];
    for (const ev of page.events) {
      if (this.seen.has(ev.id)) continue;
      this.seen.add(ev.id);
      rows.push(this.row(ev, false));
    }
    $('events-body').append(...rows);
    if (first) {
      if (page.events.length && this.ctx.filters.order === 'desc') this.noteNewest(page.events[0]);
      this.count = page.count ?? null;
      this.countExact = page.count_exact !== false;
      this.updateCount();
      $('events-empty').hidden = page.events.length > 0;
      this.startLive(this.resumeAfter(page.events));
    }
    $('more-status').textContent = this.cursor ? '' : page.events.length || !first ? t('events.end') : '';
    $('more-button').hidden = !this.cursor;
    // A short first page on a tall screen leaves the sentinel in view,
    // which the observer does not report again: ask once more.
    if (this.cursor && this.sentinelVisible()) this.loadPage(false);
  }

  sentinelVisible() {
    const r = $('more').getBoundingClientRect();
    return r.top < window.innerHeight + 600;
  }

  // resumeAfter picks the id the live tail starts after: the newest id of
  // the first page when that page is recent, so that nothing stored
  // between the list and the tail is missed.
  resumeAfter(events) {
    if (this.ctx.filters.order !== 'desc' || events.length === 0) return '';
    const newest = new Date(events[0].time).getTime();
    if (Date.now() - newest > RESUME_WINDOW) return '';
    return events.reduce((m, ev) => (ev.id > m ? ev.id : m), '');
  }

  updateCount() {
    const win = windowLabel(this.ctx.filters);
    if (this.count === null) {
      $('count').textContent = t('events.count_unknown', { window: win });
      return;
    }
    $('count').textContent = tn(this.countExact ? 'events.count' : 'events.count_more', this.count, { window: win });
  }

  showError(msg) {
    const el = $('events-error');
    el.textContent = msg;
    el.hidden = false;
  }

  // row is one event on one line: its time, one mark for its priority
  // (shape and colour; the category is said to screen readers and in the
  // mark's title, and shown in the dialog), where it happened (site ·
  // device), its name and its details. On a phone the same cells fold into
  // two lines.
  row(ev, isNew) {
    const prio = priorityLabel(ev.priority);
    const cat = categoryLabel(ev.category);
    const site = this.ctx.siteName(ev.site_id);
    const device = this.ctx.deviceName(ev.device_id);
    // The server's own events have no site: the device says it all.
    const where = ev.site_id ? `${site} · ${device}` : device;
    const tr = h('tr', { tabindex: 0, class: `${isNew ? 'new ' : ''}row-${ev.priority}`, 'data-id': ev.id },
      h('td', { class: 'time' }, h('time', { datetime: ev.time, title: t('events.utc', { time: ev.time }) }, dateTime(new Date(ev.time)))),
      h('td', { class: 'mark', title: `${prio} · ${cat}` },
        h('span', { class: `prio-mark prio-${ev.priority}`, 'aria-hidden': 'true' }, priorityIcon(ev.priority)),
        h('span', { class: 'visually-hidden prio-label' }, `${prio}, `),
        h('span', { class: 'visually-hidden cat-label' }, cat)),
      h('td', { class: 'where', title: where },
        h('span', { class: ev.site_id ? 'site' : 'site visually-hidden' }, site),
        ev.site_id ? h('span', { class: 'sep', 'aria-hidden': 'true' }, ' · ') : null,
        h('span', { class: 'device' }, device)),
      h('td', { class: 'name', title: ev.name }, ev.name),
      // On a phone the site and device lead the second line, before the
      // details (the cell above is then for screen readers only).
      h('td', { class: 'text', title: ev.text },
        h('span', { class: 'sub-where', 'aria-hidden': 'true' }, `${where} — `), ev.text),
    );
    tr.ev = ev;
    return tr;
  }

  // noteNewest records the newest event seen, which the offline banner
  // tells ("last event 40 s ago").
  noteNewest(ev) {
    const at = new Date(ev.time);
    if (!this.newest || at > this.newest) this.newest = at;
    this.ctx.lastEventAt(this.newest);
  }

  // liveBlocked says why the tail cannot run for these filters, if so.
  liveBlocked() {
    const f = this.ctx.filters;
    if (f.order !== 'desc') return t('live.newest_only');
    if (f.window === 'custom' && this.range.to && this.range.to.getTime() < Date.now()) return t('live.window_ended');
    return '';
  }

  startLive(after) {
    this.stopLive();
    const blocked = this.liveBlocked();
    if (blocked) {
      this.setLiveStatus(t('live.off_because', { reason: blocked }), 'off');
      this.updateLiveButton();
      return;
    }
    const p = eventParams(this.ctx.filters, { window: false });
    p.set('locale', this.ctx.locale);
    if (after) p.set('last_event_id', after);
    const gen = this.gen;
    const es = new EventSource(`/v1/events/stream?${p}`);
    this.live = es;
    this.setLiveStatus(t('live.connecting'), 'wait');
    es.addEventListener('open', () => gen === this.gen && this.setLiveStatus(t(this.paused ? 'live.paused' : 'live.on'), this.paused ? 'paused' : 'on'));
    es.addEventListener('event', (m) => {
      if (gen !== this.gen) return;
      let ev;
      try {
        ev = JSON.parse(m.data);
      } catch {
        return;
      }
      this.onLive(ev);
    });
    es.addEventListener('error', () => {
      if (gen !== this.gen) return;
      if (es.readyState === EventSource.CLOSED) {
        // The server refused the stream (or the session ended): the
        // browser will not retry by itself, so retry later from the last
        // event received, as a browser's own reconnection would.
        this.setLiveStatus(t('live.reconnecting'), 'wait');
        // A refusal may mean the session ended: asking shows the login
        // form then (api.js announces every 401), which stops the tail.
        getJSON('/web/session').catch(() => {});
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => {
          if (gen === this.gen) this.startLive(this.lastLiveId || after);
        }, 3000);
      } else {
        // The browser reconnects with Last-Event-ID by itself; whether
        // the server is there at all is for the offline banner to find.
        this.setLiveStatus(t('live.reconnecting'), 'wait');
        this.ctx.checkServer();
      }
    });
    this.updateLiveButton();
  }

  stopLive() {
    clearTimeout(this.retryTimer);
    if (this.live) {
      this.live.close();
      this.live = null;
    }
    this.setLiveStatus(t('live.off'), 'off');
  }

  onLive(ev) {
    if (ev.id > this.lastLiveId) this.lastLiveId = ev.id;
    this.noteNewest(ev);
    this.ctx.liveEvent(ev);
    if (this.seen.has(ev.id)) return;
    if (this.range.from && new Date(ev.time) < this.range.from) return;
    this.seen.add(ev.id);
    if (this.count !== null) {
      this.count++;
      this.updateCount();
    }
    $('events-empty').hidden = true;
    if (this.paused) {
      if (this.buffer.length < MAX_PAUSED) this.buffer.push(ev);
      else this.missed++;
      this.updateLiveButton();
      return;
    }
    this.prepend([ev]);
  }

  prepend(evs) {
    const body = $('events-body');
    // Older first, so the newest ends on top.
    const rows = evs.map((ev) => this.row(ev, true)).reverse();
    body.prepend(...rows);
    this.trim();
  }

  // trim keeps the list at maxRows rows: the oldest are dropped (and
  // forgotten, so they can be listed again), and the list goes on from
  // the oldest row kept when scrolled down. The page after it ends at that
  // row's time (to= is inclusive), so events sharing its millisecond are
  // not skipped; those still listed are not repeated.
  trim() {
    const body = $('events-body');
    const max = maxRows();
    if (body.rows.length <= max) return;
    while (body.rows.length > max) {
      const tr = body.lastElementChild;
      if (tr.ev) this.seen.delete(tr.ev.id);
      tr.remove();
    }
    const oldest = body.lastElementChild.ev;
    this.cursor = null;
    this.olderFrom = oldest.time;
    // The pages after it carry the same end, as their cursors require.
    this.params.set('to', oldest.time);
    $('more-button').hidden = false;
    $('more-status').textContent = tn('events.older_kept', max);
  }

  pause() {
    this.paused = true;
    if (this.live) this.setLiveStatus(t('live.paused'), 'paused');
    this.updateLiveButton();
  }

  resume() {
    this.paused = false;
    const missed = this.missed;
    const buffered = this.buffer;
    this.buffer = [];
    this.missed = 0;
    if (missed > 0) {
      // Too much arrived to keep: show the list afresh.
      this.show();
      return;
    }
    this.prepend(buffered);
    if (this.live) this.setLiveStatus(t(this.live.readyState === EventSource.OPEN ? 'live.on' : 'live.reconnecting'), this.live.readyState === EventSource.OPEN ? 'on' : 'wait');
    this.updateLiveButton();
  }

  updateLiveButton() {
    const b = $('live-toggle');
    const blocked = this.liveBlocked?.() && !this.live;
    b.disabled = Boolean(blocked);
    b.setAttribute('aria-pressed', String(this.paused));
    const n = this.buffer.length + this.missed;
    b.textContent = this.paused ? tn('live.resume', n) : t('live.pause');
  }

  setLiveStatus(text, state) {
    const el = $('live-status');
    el.textContent = text;
    el.dataset.state = state;
  }
}
