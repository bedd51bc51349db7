// The event dialog: one event in full, its model as pretty JSON. Sites
// and devices are shown by name (their ids are in the JSON below and in
// the names' tooltips).
import { $, h, priorityBadge, categoryBadge } from './util.js';
import { t, dateTime } from './i18n.js';

let returnFocus = null;

export function openEvent(ev, ctx) {
  const dlg = $('event-dialog');
  $('event-dialog-title').textContent = ev.name || ev.key;
  const named = (name, id) => h('span', { title: id }, name);
  const rows = [
    ['dialog.time', h('time', { datetime: ev.time, title: t('events.utc', { time: ev.time }) }, dateTime(new Date(ev.time), true))],
    ['dialog.event', ev.text || ''],
    ['dialog.key', h('code', null, ev.key)],
    ['dialog.priority', priorityBadge(ev.priority)],
    ['dialog.category', categoryBadge(ev.category)],
    ['dialog.device', ev.device_id ? named(ctx.deviceName(ev.device_id), ev.device_id) : t('server.itself')],
    ['dialog.site', ev.site_id ? named(ctx.siteName(ev.site_id), ev.site_id) : '—'],
    ['dialog.id', h('code', null, ev.id)],
  ];
  if (ev.source_id) rows.push(['dialog.source_id', h('code', null, ev.source_id)]);
  $('event-dialog-meta').replaceChildren(...rows.flatMap(([k, v]) => [h('dt', null, t(k)), h('dd', { lang: k === 'dialog.event' ? ctx.locale : null }, v)]));
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
