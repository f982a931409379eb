// Sharing screen: invite another person's account to chosen cameras with a
// role, see and change or revoke the invitations and shares of your cameras,
// and leave cameras others shared with you. The accept page takes the link an
// invitation mails.

import { html, useEffect, useState } from '../../vendor/htm-preact.js';
import { api } from '../api.js';
import { announce, deviceName, refreshDevices, useAppState } from '../store.js';
import { HouseholdArm } from './arming.js';
import { ErrorText, Link, Time, navigate, useAction } from './common.js';

const ROLES = {
  viewer: 'Viewer: watch live, events and clips',
  operator: 'Operator: viewer + commands and arming',
  admin: 'Admin: operator + share it and rename it',
};

// activeShares keeps the shares that have not ended: pending invitations and accepted shares.
function activeShares(shares) {
  return shares.filter((s) => s.status === 'pending' || s.status === 'active');
}

export function SharingPage() {
  const s = useAppState();
  const [shares, setShares] = useState([]);
  const [received, setReceived] = useState([]);
  const [loadError, setLoadError] = useState(null);
  const load = () =>
    Promise.all([api.listShares(), api.listReceivedShares('active'), refreshDevices()]).then(([mine, theirs]) => {
      setShares(activeShares(mine.items));
      setReceived(theirs.items);
      setLoadError(null);
    }, setLoadError);
  useEffect(() => {
    load();
  }, []);
  const cameras = s.devices.filter((d) => d.role === 'camera' && (!d.shared || d.shared.role === 'admin'));

  const [invite, inviteState] = useAction(async (e) => {
    const form = e.currentTarget;
    const f = new FormData(form);
    const ids = f.getAll('camera');
    if (!ids.length) throw new Error('Choose at least one camera.');
    const inv = await api.createShare(f.get('email').trim(), ids, f.get('role'));
    form.reset();
    await load();
    announce(`Invited ${inv.email}. They get a link by email.`);
  });

  return html`
    <h1>Sharing</h1>
    <${ErrorText} error=${loadError} />
    <section aria-labelledby="invite-title">
      <h2 id="invite-title">Invite someone</h2>
      ${cameras.length
        ? html`<form id="share-form" onSubmit=${(e) => (e.preventDefault(), invite(e))}>
            <label for="share-email">Their email address</label>
            <input id="share-email" name="email" type="email" required autocomplete="off" />
            <fieldset>
              <legend>Cameras</legend>
              ${cameras.map(
                (d) => html`<label key=${d.id} class="check">
                  <input type="checkbox" name="camera" value=${d.id} /> ${d.name}
                </label>`,
              )}
            </fieldset>
            <label for="share-role">Role</label>
            <select id="share-role" name="role">
              ${Object.entries(ROLES).map(([v, text]) => html`<option key=${v} value=${v}>${text}</option>`)}
            </select>
            <button type="submit" class="primary" disabled=${inviteState.busy}>Send invitation</button>
          </form>
          <${ErrorText} error=${inviteState.error} />`
        : html`<p class="muted">You have no cameras to share yet.</p>`}
    </section>
    <section aria-labelledby="shares-title">
      <h2 id="shares-title">Invitations and shares</h2>
      <ul id="share-list" class="cards" aria-labelledby="shares-title">
        ${shares.map((sh) => html`<${ShareItem} key=${sh.id} share=${sh} onChange=${load} />`)}
      </ul>
      ${!shares.length && html`<p class="muted">You have not shared any camera.</p>`}
    </section>
    <section aria-labelledby="received-title">
      <h2 id="received-title">Shared with me</h2>
      <ul id="received-list" class="cards" aria-labelledby="received-title">
        ${received.map((sh) => html`<${ReceivedItem} key=${sh.id} share=${sh} onChange=${load} />`)}
      </ul>
      ${!received.length && html`<p class="muted">Nobody shares a camera with you.</p>`}
    </section>`;
}

function ShareItem({ share: sh, onChange }) {
  const camera = deviceName(sh.camera_device_id);
  const [setRole, roleState] = useAction(async (role) => {
    await api.updateShare(sh.id, role);
    await onChange();
    announce(`${sh.invitee_email} is now ${role} of ${camera}.`);
  });
  const [revoke, revokeState] = useAction(async () => {
    await api.deleteShare(sh.id);
    document.getElementById('main')?.focus(); // the card, and the focus in it, go
    await onChange();
    announce(`${sh.invitee_email} can no longer see ${camera}.`);
  });
  const pending = sh.status === 'pending';
  return html`
    <li class="card share" data-share-id=${sh.id} data-status=${sh.status}>
      <h3>${camera} → ${sh.invitee_email}</h3>
      <p class="muted">
        ${pending ? html`Invited, not accepted yet · expires <${Time} value=${sh.expires_at} />` : html`Accepted <${Time} value=${sh.accepted_at} />`}
      </p>
      <label for=${`share-role-${sh.id}`}>Role</label>
      <select id=${`share-role-${sh.id}`} class="role" disabled=${roleState.busy} onChange=${(e) => setRole(e.currentTarget.value)}>
        ${Object.keys(ROLES).map((r) => html`<option key=${r} value=${r} selected=${r === sh.role}>${r}</option>`)}
      </select>
      <${ErrorText} error=${roleState.error || revokeState.error} />
      <button type="button" class="danger revoke" disabled=${revokeState.busy}
        aria-label=${`${pending ? 'Cancel invitation' : 'Revoke share'} of ${camera} to ${sh.invitee_email}`} onClick=${() => revoke()}>
        ${pending ? 'Cancel invitation' : 'Revoke'}
      </button>
    </li>`;
}

function ReceivedItem({ share: sh, onChange }) {
  const s = useAppState();
  const cam = s.devices.find((d) => d.id === sh.camera_device_id);
  const name = cam ? cam.name : 'A camera';
  const owner = cam?.shared?.owner_name || 'its owner';
  const [leave, { busy, error }] = useAction(async () => {
    await api.deleteShare(sh.id);
    document.getElementById('main')?.focus();
    await onChange();
    announce(`You left ${name}.`);
  });
  return html`
    <li class="card received" data-share-id=${sh.id}>
      <h3>${name}</h3>
      <p>Shared by <strong>${owner}</strong> · you are <span class="role">${sh.role}</span></p>
      ${(sh.role === 'operator' || sh.role === 'admin') && html`<${HouseholdArm} household=${sh.owner_user_id} owner=${owner} />`}
      <${ErrorText} error=${error} />
      <div class="actions">
        <button type="button" class="primary watch" aria-label=${`Watch ${name}`} onClick=${() => navigate(`/live/${sh.camera_device_id}`)}>Watch</button>
        <button type="button" class="danger leave" disabled=${busy} aria-label=${`Leave ${name}`} onClick=${() => leave()}>Leave</button>
      </div>
    </li>`;
}

// AcceptSharePage takes the token of a mailed invitation; the invitee must be
// signed in with the invited address (a signed-out visitor signs in first).
export function AcceptSharePage({ token }) {
  const [accepted, setAccepted] = useState(null);
  const [accept, { busy, error }] = useAction(async () => {
    const res = await api.acceptShare(token);
    await refreshDevices();
    setAccepted(res.items);
    announce(`Accepted: ${res.items.length} camera${res.items.length === 1 ? '' : 's'} shared with you.`);
  });
  if (!token) {
    return html`<h1>Accept a shared camera</h1><p class="error" role="alert">This link has no invitation token. Open the link from the email again.</p>`;
  }
  return html`
    <h1>Accept a shared camera</h1>
    ${accepted
      ? html`<div id="share-accepted" role="status">
          <p>You can now see ${accepted.map((sh) => deviceName(sh.camera_device_id)).join(', ')}.</p>
          <p><${Link} href="/">Go to your devices<//> · <${Link} href="/links">Link a viewer to watch<//></p>
        </div>`
      : html`<p>Someone invited this account to cameras on SecureCam Hub.</p>
          <button type="button" class="primary" id="accept-share" disabled=${busy} onClick=${() => accept()}>Accept the invitation</button>
          <${ErrorText} error=${error} />`}`;
}
