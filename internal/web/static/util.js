// Small helpers shared by the views: DOM building, formatting, the
// viewer's time zone.

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

// formatTime shows a time in the viewer's zone: 2026-11-23 12:00:05.
export function formatTime(d, withMillis = false) {
  if (!(d instanceof Date)) d = new Date(d);
  if (Number.isNaN(d.getTime())) return '';
  let out = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (withMillis) out += '.' + pad(d.getMilliseconds(), 3);
  return out;
}

// formatShort shows a time compactly for chart axes.
export function formatShort(d, withDay) {
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return withDay ? `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hm}` : hm;
}

// toLocalInput writes a Date for an <input type=datetime-local>.
export function toLocalInput(d) {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// ago says how long before now a time was: "3 min ago".
export function ago(d, now = Date.now()) {
  const s = Math.round((now - d.getTime()) / 1000);
  if (s < 60) return s <= 1 ? 'just now' : `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export const number = new Intl.NumberFormat();

export function capitalize(str) {
  return str ? str[0].toUpperCase() + str.slice(1) : str;
}

// PRIORITY gives each priority a shape and a word as well as a colour, so
// it reads without colour.
export const PRIORITY = {
  critical: { icon: '\u25C6', label: 'Critical' }, // ◆
  high: { icon: '\u25B2', label: 'High' }, // ▲
  medium: { icon: '\u25CF', label: 'Medium' }, // ●
  low: { icon: '\u25CB', label: 'Low' }, // ○
};

export const CATEGORIES = ['access', 'emergency', 'system', 'info'];

export function priorityBadge(p) {
  const info = PRIORITY[p] || { icon: '?', label: p || 'unknown' };
  return h('span', { class: `prio prio-${p}` }, h('span', { class: 'icon', 'aria-hidden': 'true' }, info.icon), ' ', info.label);
}

export function categoryBadge(c) {
  return h('span', { class: `cat cat-${c}` }, capitalize(c || ''));
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
