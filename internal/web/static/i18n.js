// The page's words in the chosen language. Each locale has one message
// table, i18n/<locale>.json, embedded in the binary like the rest of the
// page; a message is a string with {placeholders}, or, for a count, one
// string per CLDR plural category of the language ("one", "few", "many",
// "other"), chosen by the browser's Intl.PluralRules. Numbers, dates and
// "3 min ago" are formatted by Intl in the same locale, in the viewer's
// time zone. TestMessages (web_test.go) fails when a table lacks a key of
// another or a plural category of its language.

export const LOCALES = ['en', 'es', 'ru', 'uk', 'pl', 'nl', 'tr', 'fr', 'da'];

let locale = 'en';
let table = {};
let plural = new Intl.PluralRules('en');
let numberFmt = new Intl.NumberFormat('en');
let timeFmt = null;
let timeMsFmt = null;
let relFmt = null;
const tables = new Map();

// loadLocale fetches a locale's table (once) and makes it the page's.
export async function loadLocale(loc) {
  if (!LOCALES.includes(loc)) loc = 'en';
  if (!tables.has(loc)) {
    const resp = await fetch(`/web/static/i18n/${loc}.json`, { credentials: 'same-origin' });
    if (!resp.ok) throw new Error(`messages for ${loc}: HTTP ${resp.status}`);
    tables.set(loc, await resp.json());
  }
  locale = loc;
  table = tables.get(loc);
  plural = new Intl.PluralRules(loc);
  numberFmt = new Intl.NumberFormat(loc);
  const opts = { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' };
  // English dates the European way (07/12/2026 is the 7th of December):
  // the page's users are in Europe, where the American order misleads.
  const dateLoc = loc === 'en' ? 'en-GB' : loc;
  timeFmt = new Intl.DateTimeFormat(dateLoc, opts);
  timeMsFmt = new Intl.DateTimeFormat(dateLoc, { ...opts, fractionalSecondDigits: 3 });
  relFmt = new Intl.RelativeTimeFormat(loc, { numeric: 'auto', style: 'short' });
  document.documentElement.lang = loc;
  return loc;
}

export const currentLocale = () => locale;

function fill(msg, params) {
  return msg.replace(/\{(\w+)\}/g, (m, k) => (params && k in params ? String(params[k]) : m));
}

// t returns the message key in the page's language with params filled in.
// A missing key shows as the key itself, which the tests catch.
export function t(key, params) {
  const msg = table[key];
  if (typeof msg !== 'string') return key;
  return fill(msg, params);
}

// tn returns the plural message key for the count n ({n} is n formatted
// in the locale).
export function tn(key, n, params) {
  const msg = table[key];
  if (!msg || typeof msg !== 'object') return key;
  const form = msg[plural.select(n)] ?? msg.other;
  return fill(form, { ...params, n: numberFmt.format(n) });
}

// num formats a number in the locale: 12 345 in ru, 12.345 in da.
export const num = (n) => numberFmt.format(n);

// dateTime formats a time in the viewer's zone, in the locale's order and
// separators, to the second (or the millisecond).
export function dateTime(d, withMillis = false) {
  if (!(d instanceof Date)) d = new Date(d);
  if (Number.isNaN(d.getTime())) return '';
  return (withMillis ? timeMsFmt : timeFmt).format(d);
}

// ago says how long before now a time was, in the locale: "3 min ago",
// "3 мин. назад", "3 min temu".
export function ago(d, now = Date.now()) {
  const s = Math.round((now - d.getTime()) / 1000);
  if (s < 60) return relFmt.format(-Math.max(0, s), 'second');
  if (s < 3600) return relFmt.format(-Math.floor(s / 60), 'minute');
  if (s < 86400) return relFmt.format(-Math.floor(s / 3600), 'hour');
  return relFmt.format(-Math.floor(s / 86400), 'day');
}

// translatePage writes the static page's words: an element's text from
// data-i18n, and its attributes from data-i18n-<attribute>.
export function translatePage(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const attr of ['title', 'placeholder', 'aria-label']) {
    const data = `data-i18n-${attr}`;
    for (const el of root.querySelectorAll(`[${data}]`)) el.setAttribute(attr, t(el.getAttribute(data)));
  }
}
