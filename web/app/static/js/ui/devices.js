// Devices screen: the user's cameras and viewers with live presence, last
// seen, battery and network; rename, delete, and the way into watching.

import { html, useEffect, useRef, useState } from '../../vendor/htm-preact.js';
import { api } from '../api.js';
import { announce, isThisBrowser, refreshDevices, useAppState } from '../store.js';
import { ErrorText, Link, navigate, timeAgo, useAction } from './common.js';

const REFRESH_MS = 15_000; // presence of devices not linked to this one is not pushed

export function DevicesPage() {
  const s = useAppState();
  const [loadError, setLoadError] = useState(null);
  useEffect(() => {
    const load = () => refreshDevices().then(() => setLoadError(null), setLoadError);
    load();
    const t = setInterval(load, REFRESH_MS);
    return () => clearInterval(t);
  }, []);
  const cameras = s.devices.filter((d) => d.role === 'camera');
  const viewers = s.devices.filter((d) => d.role !== 'camera');
  return html`
    <h1>Devices</h1>
    <${ErrorText} error=${loadError} />
    <section aria-labelledby="cameras-title">
      <div class="section-head">
        <h2 id="cameras-title">Cameras</h2>
        <${Link} href="/camera" class="button" id="use-as-camera">Use this browser as a camera<//>
      </div>
      <ul id="camera-list" class="cards" aria-labelledby="cameras-title">
        ${cameras.map((d) => html`<${DeviceCard} key=${d.id} device=${d} telemetry=${s.telemetry[d.id]} />`)}
      </ul>
      ${!cameras.length &&
      html`<p class="muted">No cameras yet. Open SecureCam on a spare phone and choose “Use this browser as a camera”.</p>`}
    </section>
    <section aria-labelledby="viewers-title">
      <h2 id="viewers-title">Viewers</h2>
      <ul id="viewer-list" class="cards" aria-labelledby="viewers-title">
        ${viewers.map((d) => html`<${DeviceCard} key=${d.id} device=${d} />`)}
      </ul>
    </section>`;
}

function DeviceCard({ device: d, telemetry: t }) {
  const [mode, setMode] = useState(''); // '' | 'rename' | 'delete'
  const online = d.status === 'online';
  // Focus follows the inline forms: into them when they open, back to the
  // button that opened them when they close.
  const card = useRef(null);
  const opener = useRef('');
  useEffect(() => {
    const el = card.current;
    if (mode === 'rename') el.querySelector('input[name=name]')?.focus();
    else if (mode === 'delete') el.querySelector('.confirm button.danger')?.focus();
    else if (opener.current) el.querySelector(`.actions button.${opener.current}`)?.focus();
    if (mode) opener.current = mode;
  }, [mode]);
  const [rename, renameState] = useAction(async (e) => {
    const name = new FormData(e.currentTarget).get('name').trim();
    await api.updateDevice(d.id, { name });
    await refreshDevices();
    setMode('');
    announce(`Renamed to ${name}.`);
  });
  const [remove, removeState] = useAction(async () => {
    await api.deleteDevice(d.id);
    await refreshDevices();
    document.getElementById('main')?.focus(); // the card, and the focus in it, are gone
    announce(`Deleted ${d.name}.`);
  });
  const error = renameState.error || removeState.error;
  return html`
    <li ref=${card} class="card device" data-device-id=${d.id} data-status=${d.status}>
      <h3>${d.name} ${isThisBrowser(d.id) && html`<span class="tag">this browser</span>`}</h3>
      ${d.shared && html`<p class="shared-by">Shared by <strong class="owner">${d.shared.owner_name}</strong> · you are <span class="tag role">${d.shared.role}</span></p>`}
      <p class="presence">
        <span class=${`dot ${online ? 'online' : 'offline'}`} aria-hidden="true"></span>
        <span class="status">${online ? 'Online' : 'Offline'}</span>
        ${!online && d.last_seen_at && html` · last seen <span class="last-seen">${timeAgo(d.last_seen_at)}</span>`}
      </p>
      ${t && html`<p class="telemetry">${telemetryText(t)}</p>`}
      ${mode === 'rename' &&
      html`<form class="inline" onSubmit=${(e) => (e.preventDefault(), rename(e))}>
        <label for=${`name-${d.id}`}>New name</label>
        <input id=${`name-${d.id}`} name="name" required maxlength="100" defaultValue=${d.name} />
        <button type="submit" class="primary" disabled=${renameState.busy}>Save</button>
        <button type="button" onClick=${() => setMode('')}>Cancel</button>
      </form>`}
      ${mode === 'delete' &&
      html`<div class="inline confirm" role="group" aria-label=${`Confirm deleting ${d.name}`}>
        <p>Delete ${d.name}? Its links end and it must be set up again.</p>
        <button type="button" class="danger" disabled=${removeState.busy} onClick=${() => remove()}>Delete device</button>
        <button type="button" onClick=${() => setMode('')}>Cancel</button>
      </div>`}
      <${ErrorText} error=${error} />
      ${!mode &&
      html`<div class="actions">
        ${d.role === 'camera' &&
        html`<button type="button" class="primary watch" aria-label=${`Watch ${d.name}`} onClick=${() => navigate(`/live/${d.id}`)}>
          Watch
        </button>`}
        ${(!d.shared || d.shared.role === 'admin') &&
        html`<button type="button" class="rename" aria-label=${`Rename ${d.name}`} onClick=${() => setMode('rename')}>Rename</button>`}
        ${!d.shared &&
        html`<button type="button" class="danger delete" aria-label=${`Delete ${d.name}`} onClick=${() => setMode('delete')}>Delete</button>`}
      </div>`}
    </li>`;
}

export function telemetryText(t) {
  const parts = [];
  if (t.capturing === false) parts.push('Not capturing');
  if (t.battery != null) parts.push(`Battery ${Math.round(t.battery)}%${t.charging ? ' (charging)' : ''}`);
  if (t.network) parts.push(`Network ${t.network}`);
  if (t.signal_dbm != null) parts.push(`Signal ${t.signal_dbm} dBm`);
  if (t.temperature_c != null) parts.push(`${t.temperature_c} °C`);
  return parts.join(' · ');
}
