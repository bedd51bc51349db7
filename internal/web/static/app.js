// doorlog's web page: the session, the views and the filters they share.
import { getJSON, post, send, HttpError } from './api.js';
import { $, h, store, timeZone, toLocalInput } from './util.js';
import { LOCALES, loadLocale, translatePage, t, tn, ago } from './i18n.js';
import { parseHash, hashFor, emptyFilters, windowRange, windowLabel } from './state.js';
import { EventsView } from './events.js';
import { ChartsView } from './charts.js';
import { DevicesView } from './devices.js';
import { AlarmStrip } from './alarms.js';
import { openEvent, initDialog } from './dialog.js';

// LANGUAGE_NAMES are the locales' own names, for the language choice (the
// same as each table's lang.name, here so the choice shows before any
// table is loaded).
const LANGUAGE_NAMES = {
  en: 'English', es: 'Español', ru: 'Русский', uk: 'Українська', pl: 'Polski',
  nl: 'Nederlands', tr: 'Türkçe', fr: 'Français', da: 'Dansk',
};

// ctx is what the views share: who is logged in, the sites and devices
// the session may see, the catalog, the locale and the filters.
const ctx = {
  session: null,
  sites: new Map(),
  devices: new Map(),
  catalog: null,
  locale: 'en',
  filters: emptyFilters(),
  silentAfter: store.get('silentAfter', '15m'),
  view: 'events',
  openEvent: (ev) => openEvent(ev, ctx),
  // go shows a view with the given filters and records it in the URL.
  go(view, filters, extra) {
    location.hash = hashFor(view, filters || ctx.filters, extra);
  },
  // The server's own events (logins) have no site and no device.
  siteName: (id) => (id ? ctx.sites.get(id)?.name || id : '—'),
  deviceName: (id) => (id ? ctx.devices.get(id)?.name || id : t('server.name')),
  // lastEventAt records the newest event the page has seen (the offline
  // banner tells how long ago it was).
  lastEventAt(d) {
    if (!offline.last || d > offline.last) offline.last = d;
  },
  // checkServer asks whether the server is there, when something (a
  // live stream's error) suggests it is not; api.js reports the answer.
  checkServer,
  // liveEvent is told of every event the live tail receives; an alarm, or
  // an alarm's acknowledge, refreshes the strip at once.
  liveEvent: (ev) => alarms.liveEvent(ev),
};

const views = {
  events: new EventsView(ctx),
  charts: new ChartsView(ctx),
  devices: new DevicesView(ctx),
};
const alarms = new AlarmStrip(ctx);

// pickLocale is the language chosen on this browser before, else the
// first of the browser's languages the page speaks, else English.
function pickLocale() {
  const saved = store.get('locale', '');
  if (LOCALES.includes(saved)) return saved;
  for (const l of navigator.languages || []) {
    const base = l.toLowerCase().split('-')[0];
    if (LOCALES.includes(base)) return base;
  }
  return 'en';
}

// The offline banner: shown when a request finds no server (or a proxy
// says the server behind it is gone), with how long ago the last event
// arrived; while it shows, the page asks the server every few seconds and
// takes the banner down at its first answer.
const offline = { down: false, last: null, probe: 0, tick: 0 };

function checkServer() {
  send('/web/session', { headers: { Accept: 'application/json' } }).catch(() => {});
}

function showOffline() {
  if (offline.down) return;
  offline.down = true;
  $('offline').hidden = false;
  const tick = () => {
    $('offline-last').textContent = offline.last ? t('offline.last_event', { ago: ago(offline.last) }) : t('offline.no_event');
  };
  tick();
  offline.tick = setInterval(tick, 1000);
  offline.probe = setInterval(checkServer, 3000);
}

function hideOffline() {
  if (!offline.down) return;
  offline.down = false;
  clearInterval(offline.tick);
  clearInterval(offline.probe);
  $('offline').hidden = true;
  // What was missed while away: the live tail resumes by itself from its
  // last event; the strip is asked again.
  if (ctx.session) alarms.refresh();
}

function showLogin(message) {
  for (const v of Object.values(views)) v.hide();
  ctx.session = null;
  $('boot').hidden = true;
  alarms.stop();
  $('nav').hidden = true;
  $('user').hidden = true;
  $('logout').hidden = true;
  $('alarms').hidden = true;
  $('filters').hidden = true;
  $('filters-toggle').hidden = true;
  for (const id of ['events-view', 'charts-view', 'devices-view']) $(id).hidden = true;
  $('login-view').hidden = false;
  const err = $('login-error');
  err.hidden = !message;
  err.textContent = message || '';
  $('username').focus();
}

async function login(ev) {
  ev.preventDefault();
  const form = $('login-form');
  const button = $('login-submit');
  button.disabled = true;
  try {
    await post('/web/login', new URLSearchParams(new FormData(form)));
    $('password').value = '';
    $('login-error').hidden = true;
    await start();
  } catch (err) {
    // A 429 (too many failed logins) says how long to wait in its
    // Retry-After.
    let msg = t('login.failed', { message: err.message });
    if (err instanceof HttpError && err.status === 401) msg = t('login.wrong');
    else if (err instanceof HttpError && err.status === 429) {
      const secs = Math.max(1, err.retryAfter || 1);
      msg = secs > 90 ? tn('login.throttled_minutes', Math.ceil(secs / 60)) : tn('login.throttled_seconds', secs);
    }
    showLogin(msg);
    $('password').select();
  } finally {
    button.disabled = false;
  }
}

async function logout() {
  for (const v of Object.values(views)) v.hide();
  try {
    await post('/web/logout');
  } catch {
    /* the cookie may be gone already */
  }
  ctx.sites = new Map();
  ctx.devices = new Map();
  showLogin('');
}

// start loads what every view needs once a session exists, then shows the
// view the URL names.
async function start() {
  try {
    ctx.session = await getJSON('/web/session');
  } catch (err) {
    if (err instanceof HttpError && err.status === 401) return showLogin('');
    $('boot').textContent = t('app.not_answering', { message: err.message });
    return;
  }
  let sites, devices, cat;
  try {
    [sites, devices, cat] = await Promise.all([
      getJSON('/v1/sites'),
      getJSON('/v1/devices'),
      ctx.catalog ? Promise.resolve(ctx.catalog) : getJSON('/web/catalog.json'),
    ]);
  } catch (err) {
    if (err instanceof HttpError && err.status === 401) return showLogin('');
    $('login-view').hidden = true;
    $('boot').hidden = false;
    $('boot').textContent = t('app.load_failed', { message: err.message });
    return;
  }
  ctx.sites = new Map(sites.sites.map((s) => [s.id, s]));
  ctx.devices = new Map(devices.devices.map((d) => [d.id, d]));
  ctx.catalog = cat;
  $('boot').hidden = true;
  $('login-view').hidden = true;
  $('nav').hidden = false;
  $('user').hidden = false;
  $('logout').hidden = false;
  writeUser();
  fillSites();
  fillKeys();
  route();
  alarms.start();
}

function writeUser() {
  const s = ctx.session;
  if (!s) return;
  const scope = s.role === 'admin' && s.site_ids.length === 0 ? t('app.all_sites_scope') : s.site_ids.map(ctx.siteName).join(', ');
  $('user').textContent = t('app.user', { user: s.username || t('app.user_token'), role: t(`role.${s.role}`), scope });
}

function fillSites() {
  const sel = $('f-site');
  sel.replaceChildren(h('option', { value: '' }, t('filters.all_sites')));
  for (const site of [...ctx.sites.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    sel.append(h('option', { value: site.id }, site.name));
  }
}

// fillDevices lists the devices of the chosen site, grouped by site.
function fillDevices() {
  const sel = $('f-device');
  sel.replaceChildren(h('option', { value: '' }, t('filters.all_devices')));
  const bySite = new Map();
  for (const d of ctx.devices.values()) {
    if (ctx.filters.site_id && d.site_id !== ctx.filters.site_id) continue;
    if (!bySite.has(d.site_id)) bySite.set(d.site_id, []);
    bySite.get(d.site_id).push(d);
  }
  for (const [siteID, devs] of [...bySite].sort((a, b) => ctx.siteName(a[0]).localeCompare(ctx.siteName(b[0])))) {
    const group = h('optgroup', { label: ctx.siteName(siteID) });
    for (const d of devs.sort((a, b) => a.name.localeCompare(b.name))) group.append(h('option', { value: d.id }, d.name));
    sel.append(group);
  }
  // A device from a shared link that this session cannot see stays
  // selectable, so the filter shown is the filter applied.
  if (ctx.filters.device_id && !ctx.devices.has(ctx.filters.device_id)) {
    sel.append(h('option', { value: ctx.filters.device_id }, ctx.filters.device_id));
  }
}

// fillKeys lists the catalog's events by their name in the locale.
function fillKeys() {
  const sel = $('f-key');
  sel.replaceChildren(h('option', { value: '' }, t('filters.any_event')));
  const keys = [...(ctx.catalog?.keys || [])].sort((a, b) => (a.names[ctx.locale] || a.key).localeCompare(b.names[ctx.locale] || b.key, ctx.locale));
  for (const k of keys) sel.append(h('option', { value: k.key }, k.names[ctx.locale] || k.key));
  if (ctx.filters.key && !keys.some((k) => k.key === ctx.filters.key)) sel.append(h('option', { value: ctx.filters.key }, ctx.filters.key));
  sel.value = ctx.filters.key;
}

// writeForm shows ctx.filters in the filter form.
function writeForm() {
  const f = ctx.filters;
  fillDevices();
  $('f-site').value = f.site_id;
  $('f-device').value = f.device_id;
  $('f-category').value = f.category;
  $('f-priority').value = f.priority;
  $('f-key').value = f.key;
  $('f-ident').value = f.identifier_number;
  $('f-q').value = f.q;
  $('f-window').value = f.window;
  $('f-from').value = f.from;
  $('f-to').value = f.to;
  $('f-order').value = f.order;
  for (const el of document.querySelectorAll('#filters .custom')) el.hidden = f.window !== 'custom';
  // The filters past the first row fold away unless one of them is set.
  if (MORE_FILTERS.some((k) => f[k] && (k !== 'order' || f[k] !== 'desc'))) showMoreFilters(true);
}

const MORE_FILTERS = ['category', 'priority', 'key', 'identifier_number', 'order'];

function showMoreFilters(on) {
  $('filters').classList.toggle('show-more', on);
  $('f-more').setAttribute('aria-expanded', String(on));
}

// readForm reads the filter form into a filters object.
function readForm() {
  const f = {
    site_id: $('f-site').value,
    device_id: $('f-device').value,
    category: $('f-category').value,
    priority: $('f-priority').value,
    key: $('f-key').value,
    identifier_number: $('f-ident').value.trim(),
    q: $('f-q').value.trim(),
    window: $('f-window').value,
    from: $('f-from').value,
    to: $('f-to').value,
    order: $('f-order').value,
  };
  // A device of another site than the one chosen is dropped.
  if (f.site_id && f.device_id && ctx.devices.get(f.device_id)?.site_id !== f.site_id) f.device_id = '';
  if (f.window === 'custom' && !f.from && !f.to) {
    const r = windowRange(ctx.filters);
    f.from = toLocalInput(r.from || new Date(Date.now() - 86400e3));
  }
  return f;
}

function applyForm() {
  const f = readForm();
  if (JSON.stringify(f) === JSON.stringify(ctx.filters)) return;
  // replaceState: typing filters should not fill the history.
  history.replaceState(null, '', hashFor(ctx.view, f, ctx.view === 'devices' ? { silent_after: ctx.silentAfter } : null));
  route();
}

// route shows the view the URL names with its filters.
function route() {
  if (!ctx.session) return;
  const { view, filters, silentAfter } = parseHash(location.hash);
  ctx.view = view;
  ctx.filters = filters;
  if (silentAfter) ctx.silentAfter = silentAfter;
  writeForm();
  $('filters').hidden = view === 'devices';
  $('filters-toggle').hidden = view === 'devices';
  updateFiltersToggle();
  for (const a of document.querySelectorAll('#nav a')) {
    const v = a.dataset.view;
    a.href = hashFor(v, ctx.filters, v === 'devices' ? { silent_after: ctx.silentAfter } : null);
    if (v === view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  for (const [name, v] of Object.entries(views)) {
    $(`${name}-view`).hidden = name !== view;
    if (name !== view) v.hide();
  }
  views[view].show();
}

// On a phone the filters fold away behind a button that says how many
// are set; on a wider screen the button is not shown and the form always
// is.
function updateFiltersToggle() {
  const f = ctx.filters;
  const n = ['site_id', 'device_id', 'category', 'priority', 'key', 'identifier_number', 'q'].filter((k) => f[k]).length;
  const b = $('filters-toggle');
  b.textContent = n ? tn('filters.toggle_set', n, { window: windowLabel(f) }) : t('filters.toggle', { window: windowLabel(f) });
  b.setAttribute('aria-expanded', String(!$('filters').classList.contains('folded')));
}

// setLocale loads the language's table and writes the page in it; the
// choice is remembered on this browser, on the login page as after it.
async function setLocale(loc) {
  try {
    ctx.locale = await loadLocale(loc);
  } catch {
    // The table could not be loaded (the server went away): the page
    // stays in the language it has; the offline banner says why.
    $('locale').value = ctx.locale;
    return;
  }
  store.set('locale', ctx.locale);
  $('locale').value = ctx.locale;
  translatePage();
  const err = $('login-error');
  if (!err.hidden && !ctx.session) err.hidden = true;
  if (!ctx.session) return;
  writeUser();
  fillSites();
  fillKeys();
  writeForm();
  updateFiltersToggle();
  alarms.localeChanged();
  views[ctx.view].localeChanged?.();
}

async function init() {
  initDialog();
  const sel = $('locale');
  for (const code of LOCALES) sel.append(h('option', { value: code, lang: code }, LANGUAGE_NAMES[code]));
  sel.addEventListener('change', () => setLocale(sel.value));
  window.addEventListener('doorlog:offline', showOffline);
  window.addEventListener('doorlog:online', hideOffline);
  try {
    ctx.locale = await loadLocale(pickLocale());
  } catch {
    ctx.locale = 'en'; // the page's own English stays
  }
  sel.value = ctx.locale;
  translatePage();
  $('tz').textContent = `(${timeZone})`;
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', logout);
  const form = $('filters');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    applyForm();
  });
  form.addEventListener('change', applyForm);
  let typing;
  for (const id of ['f-q', 'f-ident']) {
    $(id).addEventListener('input', () => {
      clearTimeout(typing);
      typing = setTimeout(applyForm, 500);
    });
  }
  if (matchMedia('(max-width: 700px)').matches) form.classList.add('folded');
  $('f-more').addEventListener('click', () => showMoreFilters(!form.classList.contains('show-more')));
  foldHeaderOnScroll();
  $('filters-toggle').addEventListener('click', () => {
    form.classList.toggle('folded');
    updateFiltersToggle();
  });
  // Reset is the fresh page: no filter set, and the rarer ones folded.
  $('f-reset').addEventListener('click', () => {
    showMoreFilters(false);
    history.replaceState(null, '', `#${ctx.view}`);
    route();
  });
  window.addEventListener('hashchange', route);
  window.addEventListener('doorlog:unauthorized', () => {
    if (ctx.session) showLogin(t('app.session_ended'));
  });
  start();
}

// foldHeaderOnScroll hides the header on a phone while the list is
// scrolled down, and brings it back as soon as it is scrolled up, so the
// small screen is for the events.
function foldHeaderOnScroll() {
  const phone = matchMedia('(max-width: 700px)');
  let last = window.scrollY;
  window.addEventListener('scroll', () => {
    const y = window.scrollY;
    if (!phone.matches || y < 60) document.body.classList.remove('header-folded');
    else if (y > last + 4) document.body.classList.add('header-folded');
    else if (y < last - 4) document.body.classList.remove('header-folded');
    last = y;
  }, { passive: true });
}

init();
