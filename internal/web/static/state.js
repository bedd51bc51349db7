// The page's state lives in the URL's fragment, #view?filters, so that a
// view can be bookmarked, shared and reloaded. Time windows are kept as
// presets (1h, today, 7d) and turned into times when a request is made, so
// a shared "last hour" stays the last hour.

import { t } from './i18n.js';

export const FILTER_KEYS = ['site_id', 'device_id', 'category', 'priority', 'key', 'identifier_number', 'q'];
export const VIEWS = ['events', 'charts', 'devices'];
export const WINDOWS = ['1h', 'today', '7d', 'custom', 'all'];
export const DEFAULT_WINDOW = '7d';

// emptyFilters is the state of a fresh page.
export function emptyFilters() {
  return { site_id: '', device_id: '', category: '', priority: '', key: '', identifier_number: '', q: '', window: DEFAULT_WINDOW, from: '', to: '', order: 'desc' };
}

// parseHash reads #view?query into {view, filters, extra}.
export function parseHash(hash) {
  const raw = (hash || '').replace(/^#/, '');
  const i = raw.indexOf('?');
  const name = i < 0 ? raw : raw.slice(0, i);
  const q = new URLSearchParams(i < 0 ? '' : raw.slice(i + 1));
  const f = emptyFilters();
  for (const k of FILTER_KEYS) f[k] = q.get(k) || '';
  const w = q.get('window');
  if (WINDOWS.includes(w)) f.window = w;
  f.from = q.get('from') || '';
  f.to = q.get('to') || '';
  if (q.get('order') === 'asc') f.order = 'asc';
  if ((f.from || f.to) && !w) f.window = 'custom';
  return { view: VIEWS.includes(name) ? name : 'events', filters: f, silentAfter: q.get('silent_after') || '' };
}

// filterQuery writes the filters as the fragment's query, leaving out
// defaults so links stay short.
export function filterQuery(f) {
  const q = new URLSearchParams();
  for (const k of FILTER_KEYS) if (f[k]) q.set(k, f[k]);
  if (f.window !== DEFAULT_WINDOW) q.set('window', f.window);
  if (f.window === 'custom') {
    if (f.from) q.set('from', f.from);
    if (f.to) q.set('to', f.to);
  }
  if (f.order === 'asc') q.set('order', 'asc');
  return q;
}

export function hashFor(view, f, extra) {
  const q = filterQuery(f);
  for (const [k, v] of Object.entries(extra || {})) if (v) q.set(k, v);
  const qs = q.toString();
  return `#${view}${qs ? '?' + qs : ''}`;
}

// windowRange turns the window into {from, to} Dates (null for open ends)
// at now, in the viewer's time zone.
export function windowRange(f, now = new Date()) {
  switch (f.window) {
    case '1h':
      return { from: new Date(now.getTime() - 3600e3), to: null };
    case 'today': {
      const d = new Date(now);
      d.setHours(0, 0, 0, 0);
      return { from: d, to: null };
    }
    case '7d':
      return { from: new Date(now.getTime() - 7 * 86400e3), to: null };
    case 'custom': {
      // datetime-local values are local times; Date parses them so.
      const from = f.from ? new Date(f.from) : null;
      const to = f.to ? new Date(f.to) : null;
      return { from: from && !Number.isNaN(from.getTime()) ? from : null, to: to && !Number.isNaN(to.getTime()) ? to : null };
    }
    default:
      return { from: null, to: null };
  }
}

// eventParams are the native API's parameters for the filters: the list's,
// the export's and, without the window, the live stream's.
export function eventParams(f, { window = true, now = new Date() } = {}) {
  const p = new URLSearchParams();
  for (const k of FILTER_KEYS) if (f[k]) p.set(k, f[k].trim());
  if (window) {
    const r = windowRange(f, now);
    if (r.from) p.set('from', r.from.toISOString());
    if (r.to) p.set('to', r.to.toISOString());
  }
  return p;
}

// windowLabel names the window in a sentence: "last hour".
export function windowLabel(f) {
  return WINDOWS.includes(f.window) ? t(`window.${f.window}`) : '';
}
