// Links screen: which viewers may watch which cameras. Linking a camera to a
// viewer lets the viewer see its presence and events and watch it live;
// revoking ends live sessions between the two at once.

import { html, useEffect, useState } from '../../vendor/htm-preact.js';
import { api } from '../api.js';
import { announce, deviceName, refreshDevices, refreshLinks, useAppState } from '../store.js';
import { ErrorText, Time, useAction } from './common.js';

export function LinksPage({ device }) {
  const s = useAppState();
  const [loadError, setLoadError] = useState(null);
  useEffect(() => {
    Promise.all([refreshDevices(), refreshLinks()]).catch(setLoadError);
  }, []);
  const cameras = s.devices.filter((d) => d.role === 'camera');
  const viewers = s.devices.filter((d) => d.role !== 'camera');
  const links = s.links.filter((l) => l.status === 'active');

  const [link, linkState] = useAction(async (e) => {
    const f = new FormData(e.currentTarget);
    await api.createLink(f.get('camera'), f.get('viewer'));
    await refreshLinks();
    announce(`Linked ${deviceName(f.get('camera'))} to ${deviceName(f.get('viewer'))}.`);
  });

  return html`
    <h1>Links</h1>
    <${ErrorText} error=${loadError} />
    <section aria-labelledby="new-link-title">
      <h2 id="new-link-title">Link a viewer to a camera</h2>
      ${cameras.length && viewers.length
        ? html`<form id="link-form" class="row" onSubmit=${(e) => (e.preventDefault(), link(e))}>
            <div>
              <label for="link-camera">Camera</label>
              <select id="link-camera" name="camera" required>
                ${cameras.map((d) => html`<option key=${d.id} value=${d.id}>${d.name}</option>`)}
              </select>
            </div>
            <div>
              <label for="link-viewer">Viewer</label>
              <select id="link-viewer" name="viewer" required>
                ${viewers.map((d) => html`<option key=${d.id} value=${d.id} selected=${d.id === device.id}>${d.name}</option>`)}
              </select>
            </div>
            <button type="submit" class="primary" disabled=${linkState.busy}>Link</button>
          </form>
          <${ErrorText} error=${linkState.error} />`
        : html`<p class="muted">You need at least one camera and one viewer.</p>`}
    </section>
    <section aria-labelledby="links-title">
      <h2 id="links-title">Active links</h2>
      <ul id="link-list" class="cards" aria-labelledby="links-title">
        ${links.map((l) => html`<${LinkItem} key=${l.id} link=${l} />`)}
      </ul>
      ${!links.length && html`<p class="muted">No links yet.</p>`}
    </section>`;
}

function LinkItem({ link: l }) {
  const camera = deviceName(l.camera_device_id);
  const viewer = deviceName(l.client_device_id);
  const [revoke, { busy, error }] = useAction(async () => {
    await api.deleteLink(l.id);
    await refreshLinks();
    announce(`${viewer} can no longer watch ${camera}.`);
  });
  return html`
    <li class="card link" data-link-id=${l.id}>
      <p><strong>${camera}</strong> → <strong>${viewer}</strong></p>
      <p class="muted">Linked <${Time} value=${l.created_at} /></p>
      <${ErrorText} error=${error} />
      <button type="button" class="danger" disabled=${busy} aria-label=${`Revoke link from ${camera} to ${viewer}`} onClick=${() => revoke()}>
        Revoke
      </button>
    </li>`;
}
