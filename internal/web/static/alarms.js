// The open-alarms strip, above every view: the alarms of the last day
// that nobody has acknowledged (tamper, door held open, emergency unlock,
// events a panel lost) from GET /v1/alarms, and the devices silent for
// longer than the devices view's threshold from GET /v1/stats/devices.
//
// Acknowledging stores who and when (POST /v1/alarms/{id}/ack), which
// also writes an event of its own; every other page sees the alarm gone
// at its next look: at once when its live tail brings the acknowledge,
// else within POLL. A silent device is a state, not an event: it leaves
// the strip when the device is heard from again, and has nothing to
// acknowledge.
//
// A new alarm can sound a tone and show a desktop notification, each
// switched on per browser (and remembered).
import { getJSON, post, isAbort, HttpError } from './api.js';
import { $, h, store, timeZone, priorityIcon, priorityLabel } from './util.js';
import { t, tn, ago } from './i18n.js';

const POLL = 10e3;
const SILENT_POLL = 60e3;
// SHOWN is how many alarms the strip shows before "Show all", so that it
// stays a strip above the list.
const SHOWN = 3;
const ALARM_KEYS = new Set(['tamper_event', 'door_was_not_closed_too_long', 'emergency_lock_is_opened', 'collector_gap', 'alarm_acknowledged']);

export class AlarmStrip {
  constructor(ctx) {
    this.ctx = ctx;
    this.alarms = [];
    this.silent = [];
    this.known = null; // ids seen, to tell new alarms; null before the first look
    this.expanded = false;
    this.timer = 0;
    this.silentTimer = 0;
    this.abort = null;
    this.running = false;
    $('alarms-more').addEventListener('click', () => {
      this.expanded = !this.expanded;
      this.render();
    });
    const sound = $('alarms-sound');
    sound.checked = store.get('alarmSound', '') === 'on';
    sound.addEventListener('change', () => {
      store.set('alarmSound', sound.checked ? 'on' : '');
      // A browser plays sound only after a gesture on the page: this one.
      if (sound.checked) this.audio()?.resume();
    });
    const notify = $('alarms-notify');
    notify.checked = store.get('alarmNotify', '') === 'on' && typeof Notification !== 'undefined' && Notification.permission === 'granted';
    notify.addEventListener('change', async () => {
      if (notify.checked && typeof Notification !== 'undefined' && Notification.permission !== 'granted') {
        const answer = await Notification.requestPermission().catch(() => 'denied');
        if (answer !== 'granted') {
          notify.checked = false;
          this.showError(t('alarms.notify_denied'));
        }
      }
      store.set('alarmNotify', notify.checked ? 'on' : '');
    });
    $('alarms-list').addEventListener('click', (e) => {
      const button = e.target.closest('button[data-ack]');
      if (button) {
        this.acknowledge(button.dataset.ack, button);
        return;
      }
      const li = e.target.closest('li');
      if (li?.ev) this.ctx.openEvent(li.ev);
    });
  }

  start() {
    this.stop();
    this.running = true;
    $('alarms').hidden = false;
    this.known = null;
    this.refresh();
    this.refreshSilent();
    this.silentTimer = setInterval(() => this.refreshSilent(), SILENT_POLL);
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
    clearInterval(this.silentTimer);
    this.abort?.abort();
  }

  localeChanged() {
    if (this.running) {
      this.refresh();
      this.render();
    }
  }

  // liveEvent hears the live tail: an alarm or an acknowledge is news.
  liveEvent(ev) {
    if (this.running && ALARM_KEYS.has(ev.key)) this.refresh();
  }

  // refresh asks for the open alarms now, and again after POLL.
  async refresh() {
    if (!this.running) return;
    clearTimeout(this.timer);
    this.abort?.abort();
    this.abort = new AbortController();
    const signal = this.abort.signal;
    try {
      const data = await getJSON('/v1/alarms', { locale: this.ctx.locale }, signal);
      const all = data.alarms || [];
      this.alarms = all.filter((a) => !a.ack);
      this.announce(this.alarms);
      this.showError('');
      this.render();
    } catch (err) {
      if (isAbort(err)) return;
      if (!(err instanceof HttpError)) {
        // No server: the offline banner says so; the strip keeps what it
        // showed.
      } else this.showError(t('alarms.load_failed', { message: err.message }));
    }
    if (this.running && !signal.aborted) this.timer = setTimeout(() => this.refresh(), POLL);
  }

  async refreshSilent() {
    if (!this.running) return;
    try {
      const data = await getJSON('/v1/stats/devices', { silent_after: this.ctx.silentAfter, tz: timeZone });
      this.silent = (data.devices || []).filter((d) => d.status === 'silent');
      this.render();
    } catch {
      // An older server or no server: no silent devices are shown.
    }
  }

  // announce sounds and notifies each alarm not seen before (never for
  // those already open when the page was loaded).
  announce(alarms) {
    const first = this.known === null;
    const known = this.known || new Set();
    const fresh = alarms.filter((a) => !known.has(a.id));
    this.known = new Set(alarms.map((a) => a.id));
    if (first || fresh.length === 0) return;
    if ($('alarms-sound').checked) this.beep();
    if ($('alarms-notify').checked && typeof Notification !== 'undefined' && Notification.permission === 'granted') {
      for (const a of fresh.slice(0, 3)) {
        try {
          new Notification(a.name, { body: `${this.where(a)}: ${a.text}`, tag: a.id, lang: this.ctx.locale });
        } catch {
          /* a browser without page notifications */
        }
      }
    }
  }

  audio() {
    try {
      this.ac ||= new AudioContext();
    } catch {
      return null;
    }
    return this.ac;
  }

  // beep plays two short tones.
  beep() {
    const ac = this.audio();
    if (!ac) return;
    for (const [at, freq] of [[0, 880], [0.25, 660]]) {
      const osc = ac.createOscillator();
      const gain = ac.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.2, ac.currentTime + at);
      gain.gain.exponentialRampToValueAtTime(0.001, ac.currentTime + at + 0.2);
      osc.connect(gain).connect(ac.destination);
      osc.start(ac.currentTime + at);
      osc.stop(ac.currentTime + at + 0.2);
    }
  }

  async acknowledge(id, button) {
    button.disabled = true;
    try {
      await post(`/v1/alarms/${encodeURIComponent(id)}/ack`);
    } catch (err) {
      // Someone else was first: the alarm is acknowledged all the same.
      if (!(err instanceof HttpError && err.status === 409)) {
        button.disabled = false;
        this.showError(t('alarms.ack_failed', { message: err.message }));
        return;
      }
    }
    this.alarms = this.alarms.filter((a) => a.id !== id);
    this.render();
    this.refresh();
  }

  where(a) {
    return a.site_id ? `${this.ctx.siteName(a.site_id)} · ${this.ctx.deviceName(a.device_id)}` : this.ctx.deviceName(a.device_id);
  }

  showError(msg) {
    const el = $('alarms-error');
    el.textContent = msg;
    el.hidden = !msg;
  }

  render() {
    const now = Date.now();
    const items = [
      ...this.alarms.map((a) => {
        const li = h('li', { class: `alarm prio-row-${a.priority}`, 'data-id': a.id },
          h('span', { class: `prio-mark prio-${a.priority}`, title: priorityLabel(a.priority), 'aria-hidden': 'true' }, priorityIcon(a.priority)),
          h('time', { datetime: a.time, class: 'alarm-ago' }, ago(new Date(a.time), now)),
          h('span', { class: 'alarm-name' }, a.name),
          h('span', { class: 'alarm-where' }, this.where(a)),
          h('button', { type: 'button', class: 'ack', 'data-ack': a.id }, t('alarms.ack')));
        li.ev = a;
        return li;
      }),
      ...this.silent.map((d) => h('li', { class: 'alarm silent', 'data-device': d.id },
        h('span', { class: 'prio-mark prio-high', 'aria-hidden': 'true' }, '\u25CB'),
        h('span', { class: 'alarm-ago' }, d.last_event_time ? t('alarms.silent_since', { ago: ago(new Date(d.last_event_time), now) }) : t('alarms.silent_never')),
        h('span', { class: 'alarm-name' }, t('alarms.silent')),
        h('span', { class: 'alarm-where' }, `${this.ctx.siteName(d.site_id)} · ${d.name}`))),
    ];
    const n = items.length;
    $('alarms').classList.toggle('quiet', n === 0);
    $('alarms-count').textContent = n ? `(${n})` : '';
    $('alarms-count').setAttribute('aria-label', n ? tn('alarms.count', n) : t('alarms.none'));
    const more = $('alarms-more');
    more.hidden = n <= SHOWN;
    more.textContent = this.expanded ? t('alarms.show_less') : `${t('alarms.show_all')} (${n})`;
    more.setAttribute('aria-expanded', String(this.expanded));
    const shown = this.expanded ? items : items.slice(0, SHOWN);
    $('alarms-list').replaceChildren(...(n ? shown : [h('li', { class: 'none' }, '\u2713 ', t('alarms.none'))]));
  }
}
