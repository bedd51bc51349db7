// The event dialog: one event in full, its model as pretty JSON.
import { $, h, formatTime, priorityBadge, categoryBadge } from './util.js';

let returnFocus = null;

export function openEvent(ev, ctx) {
  const dlg = $('event-dialog');
  $('event-dialog-title').textContent = ev.name || ev.key;
  const t = new Date(ev.time);
  const rows = [
    ['Time', `${formatTime(t, true)} (${ev.time} UTC)`],
    ['Event', ev.text || ''],
    ['Key', ev.key],
    ['Priority', priorityBadge(ev.priority)],
    ['Category', categoryBadge(ev.category)],
    ['Device', ev.device_id ? `${ctx.deviceName(ev.device_id)} (${ev.device_id})` : 'the server itself'],
    ['Site', ev.site_id ? `${ctx.siteName(ev.site_id)} (${ev.site_id})` : '—'],
    ['Id', ev.id],
  ];
  if (ev.source_id) rows.push(['Source id', ev.source_id]);
  $('event-dialog-meta').replaceChildren(...rows.flatMap(([k, v]) => [h('dt', null, k), h('dd', { lang: k === 'Event' ? ctx.locale : null }, v)]));
  $('event-dialog-json').textContent = JSON.stringify(ev, null, 2);
  returnFocus = document.activeElement;
  dlg.showModal();
  // The JSON gets the focus, so the arrow keys scroll it at once.
  $('event-dialog-json').focus();
}

export function initDialog() {
  const dlg = $('event-dialog');
  $('event-dialog-close').addEventListener('click', () => dlg.close());
  // A click on the backdrop (outside the dialog's box) closes it too.
  dlg.addEventListener('click', (e) => {
    if (e.target === dlg) {
      const r = dlg.getBoundingClientRect();
      if (e.clientX < r.left || e.clientX > r.right || e.clientY < r.top || e.clientY > r.bottom) dlg.close();
    }
  });
  dlg.addEventListener('close', () => {
    if (returnFocus && document.contains(returnFocus)) returnFocus.focus();
    returnFocus = null;
  });
}
