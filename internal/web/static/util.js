// Small helpers shared by the views: DOM building, formatting, the
// viewer's time zone.
import { t, currentLocale } from './i18n.js';

// h builds an element: h('td', {class: 'x', title: 't'}, 'text', child).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

// s builds an SVG element like h.
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export const $ = (id) => document.getElementById(id);

// timeZone is the viewer's IANA time zone, as the export's tz takes it.
export const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

const pad = (n, w = 2) => String(n).padStart(w, '0');

// formatShort shows a time compactly for chart axes, in the locale.
export function formatShort(d, withDay) {
  const opts = { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
  if (withDay) Object.assign(opts, { day: 'numeric', month: 'short' });
  const loc = currentLocale();
  return new Intl.DateTimeFormat(loc === 'en' ? 'en-GB' : loc, opts).format(d);
}

// toLocalInput writes a Date for an <input type=datetime-local>.
export function toLocalInput(d) {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// PRIORITY gives each priority a shape as well as a colour, so it reads
// without colour; its word is priority.<name> in the message tables.
export const PRIORITY = {
  critical: '\u25C6', // ◆
  high: '\u25B2', // ▲
  medium: '\u25CF', // ●
  low: '\u25CB', // ○
};

export const priorityIcon = (p) => PRIORITY[p] || '?';
export const priorityLabel = (p) => (PRIORITY[p] ? t(`priority.${p}`) : t('priority.unknown'));
export const categoryLabel = (c) => (CATEGORIES.includes(c) ? t(`category.${c}`) : c || '');

export const CATEGORIES = ['access', 'emergency', 'system', 'info'];

export function priorityBadge(p) {
  return h('span', { class: `prio prio-${p}` }, h('span', { class: 'icon', 'aria-hidden': 'true' }, priorityIcon(p)), ' ', priorityLabel(p));
}

export function categoryBadge(c) {
  return h('span', { class: `cat cat-${c}` }, categoryLabel(c));
}

// debounce calls fn once calls have stopped for ms.
export function debounce(fn, ms) {
  let t;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

// store reads and writes the page's remembered settings; a browser that
// refuses storage (private mode) simply forgets them.
export const store = {
  get(k, def) {
    try {
      return localStorage.getItem('doorlog.' + k) ?? def;
    } catch {
      return def;
    }
  },
  set(k, v) {
    try {
      localStorage.setItem('doorlog.' + k, v);
    } catch {
      /* not remembered */
    }
  },
};
