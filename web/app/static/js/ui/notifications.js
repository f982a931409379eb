// Notifications screen: unread notifications (one per event the user was
// told about), marked read one by one or all at once.

import { html, useEffect, useState } from '../../vendor/htm-preact.js';
import { api } from '../api.js';
import { disableAlerts, enableAlerts, pushState } from '../webpush.js';
import { announce, deviceName, getState, loadEvents, refreshNotifications, setState, useAppState } from '../store.js';
import { ErrorText, Link, Time, useAction } from './common.js';

const markRead = async (ids) => {
  await Promise.all(ids.map((id) => api.markNotificationRead(id)));
  setState((s) => ({ unread: s.unread.filter((n) => !ids.includes(n.id)) }));
};

export function NotificationsPage({ device }) {
  const s = useAppState();
  const [load, { error }] = useAction(() =>
    Promise.all([refreshNotifications(), getState().events.length ? null : loadEvents()]),
  );
  useEffect(() => {
    load();
  }, []);
  const [readAll, readAllState] = useAction(async () => {
    await markRead(getState().unread.map((n) => n.id));
    announce('All notifications marked read.');
  });
  return html`
    <div class="section-head">
      <h1 id="notifications-title">Notifications</h1>
      ${s.unread.length > 0 &&
      html`<button type="button" disabled=${readAllState.busy} onClick=${() => readAll()}>Mark all read</button>`}
    </div>
    <${PushAlerts} device=${device} />
    <${ErrorText} error=${error || readAllState.error} />
    <ul id="notification-list" class="cards" aria-labelledby="notifications-title">
      ${s.unread.map((n) => html`<${NotificationItem} key=${n.id} n=${n} event=${s.events.find((e) => e.id === n.event_id)} />`)}
    </ul>
    ${!s.unread.length && html`<p class="muted">No unread notifications.</p>`}`;
}

function NotificationItem({ n, event }) {
  const [read, { busy, error }] = useAction(() => markRead([n.id]));
  const title = n.title || event?.title || 'Event';
  const where = event ? ` on ${deviceName(event.device_id)}` : '';
  return html`
    <li class="card notification" data-notification-id=${n.id}>
      <p><strong>${title}</strong>${where} · <${Time} value=${n.sent_at || event?.started_at} /></p>
      <${ErrorText} error=${error} />
      <div class="actions">
        <${Link} href="/events">See events<//>
        <button type="button" disabled=${busy} aria-label=${`Mark ${title}${where} read`} onClick=${() => read()}>Mark read</button>
      </div>
    </li>`;
}

// PushAlerts turns this browser's push alerts on or off: events reach it
// through Web Push while the app is closed.
function PushAlerts({ device }) {
  const [token, setToken] = useState(device.push_token);
  const support = pushState();
  const on = !!token && support === 'granted';
  const [enable, enableState] = useAction(async () => {
    const d = await enableAlerts(device.id);
    setToken(d.push_token);
    announce('Alerts are on in this browser.');
  });
  const [disable, disableState] = useAction(async () => {
    const d = await disableAlerts(device.id);
    setToken(d.push_token);
    announce('Alerts are off in this browser.');
  });
  const busy = enableState.busy || disableState.busy;
  return html`
    <section class="card push-alerts" id="push-alerts" data-on=${on} aria-labelledby="push-alerts-title">
      <h2 id="push-alerts-title">Alerts in this browser</h2>
      ${support === 'unsupported'
        ? html`<p class="muted">This browser cannot receive push alerts${isSecureContext ? '' : ' over plain HTTP: open the hub over HTTPS'}.</p>`
        : on
          ? html`<p>On: motion and other events show up here even when the app is closed.</p>
              <button type="button" id="push-off" disabled=${busy} onClick=${() => disable()}>Turn off alerts</button>`
          : html`<p>${support === 'denied' ? 'Notifications are blocked for this site: allow them in the browser’s site settings.' : 'Get an alert for events while the app is closed.'}</p>
              <button type="button" class="primary" id="push-on" disabled=${busy} onClick=${() => enable()}>Turn on alerts</button>`}
      <${ErrorText} error=${enableState.error || disableState.error} />
    </section>`;
}
