// Live view: one camera full screen (/live/<camera id>) with remote controls,
// or a grid of every online camera (/live).

import { html, useEffect, useRef, useState } from '../../vendor/htm-preact.js';
import { api } from '../api.js';
import { findSnapshot, recentRecordingIds, snapshotFileName } from '../snapshot.js';
import { ensureLink, useAppState } from '../store.js';
import { LiveView } from '../viewer.js';
import { ErrorText, Link, navigate, useAction } from './common.js';
import { StreamSettings, useCameraStatus } from './stream-settings.js';

const REASONS = {
  camera_offline: 'Camera offline',
  camera_unreachable: 'Camera unreachable',
  declined: 'The camera declined',
  camera_unavailable: 'The camera is not capturing',
  camera_stopped: 'The camera was stopped',
  busy: 'Camera busy: too many viewers',
  timeout: 'The camera did not answer',
  disconnected: 'Connection lost',
  link_revoked: 'Link revoked',
  not_linked: 'This browser is not linked to the camera',
  not_found: 'Camera not found',
  forbidden: 'Not allowed',
  connection_failed: 'Connection lost',
  unavailable: 'The hub is busy',
  replaced: 'This device connected elsewhere',
  unauthorized: 'Signed out',
};

function statusText({ phase, reason }, camera) {
  switch (phase) {
    case 'waiting':
      return 'Connecting to the hub…';
    case 'requesting':
      return camera.status === 'online' ? 'Connecting…' : 'Waking camera…';
    case 'waking':
      return 'Waking camera…';
    case 'negotiating':
      return 'Connecting…';
    case 'live':
      return 'Live';
    case 'recovering':
      return 'Reconnecting…';
    case 'retrying':
      return camera.status === 'online'
        ? 'Reconnecting…'
        : `${REASONS[reason] || reason} · watching again when it is back`;
    case 'ended':
      return reason && reason !== 'ended' ? `Ended: ${REASONS[reason] || reason}` : 'Ended';
    default:
      return 'Connecting…';
  }
}

// useLiveView runs one LiveView for the component's lifetime.
function useLiveView(conn, camera) {
  const [state, setState] = useState({ phase: 'waiting' });
  const [stream, setStream] = useState(null);
  const view = useRef(null);
  useEffect(() => {
    const lv = new LiveView(conn.socket, camera.id, { onState: setState, onStream: setStream });
    view.current = lv;
    let cancelled = false;
    ensureLink(camera.id, conn.device.id).then(
      () => !cancelled && lv.start(),
      (err) => !cancelled && setState({ phase: 'ended', reason: err.code || err.message }),
    );
    return () => {
      cancelled = true;
      lv.stop();
    };
  }, [conn, camera.id]);
  return [state, stream, view];
}

function LiveVideo({ stream, camera, muted }) {
  const video = useRef(null);
  useEffect(() => {
    video.current.srcObject = stream;
    if (stream) video.current.play().catch(() => {});
  }, [stream]);
  // defaultMuted is the muted attribute (autoplay needs it); muted is the live state.
  return html`<video
    ref=${video}
    autoplay
    playsinline
    defaultMuted=${true}
    muted=${muted}
    aria-label=${`Live view of ${camera.name}`}
  ></video>`;
}

export function LivePage({ conn, cameraId }) {
  const s = useAppState();
  if (!cameraId) return html`<${LiveGrid} conn=${conn} cameras=${s.devices.filter((d) => d.role === 'camera')} />`;
  const camera = s.devices.find((d) => d.id === cameraId);
  if (!camera) {
    return html`<p role="status">${s.devices.length ? 'This camera does not exist.' : 'Loading…'}</p>
      <${Link} href="/">Back to devices<//>`;
  }
  return html`<${LiveSingle} key=${camera.id} conn=${conn} camera=${camera} />`;
}

function LiveSingle({ conn, camera }) {
  const { telemetry } = useAppState();
  const [state, stream, view] = useLiveView(conn, camera);
  const [status, refresh] = useCameraStatus(camera.id);
  const [muted, setMuted] = useState(true);
  const figure = useRef(null);
  const text = statusText(state, camera);
  const fullScreen = () => {
    const video = figure.current.querySelector('video');
    if (figure.current.requestFullscreen) figure.current.requestFullscreen().catch(() => {});
    else video.webkitEnterFullscreen?.();
  };
  return html`
    <figure
      ref=${figure}
      class="live single"
      data-camera-id=${camera.id}
      data-phase=${state.phase}
      data-session=${state.session || ''}
    >
      <${LiveVideo} stream=${stream} camera=${camera} muted=${muted} />
      <figcaption>
        <h1 class="name">${camera.name}</h1>
        <span class="live-status" role="status" data-phase=${state.phase}>${text}</span>
      </figcaption>
    </figure>
    <div class="actions live-controls">
      <button type="button" onClick=${() => view.current.reconnect()}>Reconnect</button>
      <button type="button" aria-pressed=${String(!muted)} onClick=${() => setMuted(!muted)}>Sound</button>
      <button type="button" onClick=${fullScreen}>Full screen</button>
      <button type="button" onClick=${() => navigate('/')}>Leave</button>
    </div>
    <${RemoteControls} conn=${conn} camera=${camera} telemetry=${telemetry[camera.id]} />
    ${status && html`<${StreamSettings} device=${status} editable=${!camera.shared || camera.shared.role === 'admin'} onSaved=${refresh} />`}`;
}

// Why a command failed, in plain words.
const COMMAND_ERRORS = {
  unsupported: 'the camera cannot do that',
  camera_off: 'the camera is not capturing',
};

// RemoteControls sends standard commands to the camera and shows their
// outcome; a snapshot it asked for is shown with a download link. It offers
// only what the camera says it can do now (telemetry's capabilities), and
// nothing while the camera is offline or not capturing.
function RemoteControls({ conn, camera, telemetry }) {
  const [outcome, setOutcome] = useState('');
  const [snapshot, setSnapshot] = useState(null); // the recording
  const pending = useRef(new Map()); // command_id → {label, before}
  useEffect(
    () =>
      conn.socket.subscribe((msg) => {
        const sent = msg.type === 'command.status' && pending.current.get(msg.data.command_id);
        if (!sent) return;
        const { label, before } = sent;
        const { status, error } = msg.data;
        if (status === 'acknowledged' && before) showSnapshot(label, before);
        else if (status === 'acknowledged') setOutcome(`${label}: done`);
        else if (status === 'failed') setOutcome(`${label}: failed${error ? ` (${COMMAND_ERRORS[error] || error})` : ''}`);
        else if (status === 'expired') setOutcome(`${label}: the camera did not answer`);
        else return;
        pending.current.delete(msg.data.command_id);
      }),
    [conn],
  );
  const showSnapshot = (label, before) =>
    findSnapshot(camera.id, before).then(
      (r) => {
        setSnapshot(r);
        setOutcome(r ? `${label}: done` : `${label}: done, but the image was not found`);
      },
      (err) => setOutcome(`${label}: done, but the image could not be loaded (${err.message})`),
    );
  const [send, { busy, error }] = useAction(async (label, command_type, payload = {}) => {
    // A snapshot is found afterwards among the camera's recordings: note those there now.
    const before = command_type === 'snapshot' ? await recentRecordingIds(camera.id) : null;
    setOutcome(`${label}: sent`);
    const ack = await conn.socket.request('command.send', { target_device_id: camera.id, command_type, payload });
    pending.current.set(ack.command_id, { label, before });
  });
  const controls = camera.status === 'online' ? offeredControls(telemetry) : [];
  const url = snapshot && api.recordingContent(snapshot.id);
  return html`
    <section class="remote" aria-labelledby="remote-title">
      <h2 id="remote-title">Camera controls</h2>
      ${controls.length
        ? html`<div class="actions">
            ${controls.map(
              ({ label, type, payload }) =>
                html`<button type="button" key=${label} disabled=${busy} onClick=${() => send(label, type, payload)}>${label}</button>`,
            )}
          </div>`
        : html`<p class="muted controls-note">${controlsNote(camera, telemetry)}</p>`}
      <p class="command-outcome" role="status">${outcome}</p>
      <${ErrorText} error=${error} />
      ${snapshot &&
      html`<figure class="snapshot" data-recording-id=${snapshot.id}>
        <img src=${url} alt=${`Snapshot from ${camera.name}`} />
        <figcaption>
          <a href=${url} download=${snapshotFileName(camera.name, snapshot.available_at || snapshot.created_at)} class="button">Download snapshot</a>
          <button type="button" onClick=${() => setSnapshot(null)}>Close</button>
        </figcaption>
      </figure>`}
    </section>`;
}

// Each standard control, shown when the camera lists its command type.
const CONTROLS = [
  { type: 'snapshot', label: 'Take snapshot' },
  { type: 'switch_camera', label: 'Use the other camera' },
  { type: 'set_torch', label: 'Light on', payload: { on: true } },
  { type: 'set_torch', label: 'Light off', payload: { on: false } },
];

// offeredControls returns the controls of the camera's capabilities; none
// while it does not capture or has not said what it can do.
export function offeredControls(telemetry) {
  if (!telemetry || telemetry.capturing === false || !Array.isArray(telemetry.capabilities)) return [];
  return CONTROLS.filter((c) => telemetry.capabilities.includes(c.type));
}

// controlsNote says why there are no controls.
export function controlsNote(camera, telemetry) {
  if (camera.status !== 'online') return 'The camera is offline: its controls appear when it is back.';
  if (telemetry?.capturing === false) return 'The camera is not capturing (camera access is off on that device).';
  if (!Array.isArray(telemetry?.capabilities)) return 'Waiting for the camera to say which controls it offers…';
  return 'This camera offers no remote controls.';
}

// LiveGrid shows a tile for every camera that has been online since the grid
// opened: a camera that drops off for a moment (a hub restart) keeps its tile
// and its picture, and one that comes back plays again by itself.
function LiveGrid({ conn, cameras }) {
  const shown = useRef(new Set());
  for (const c of cameras) if (c.status === 'online') shown.current.add(c.id);
  const tiles = cameras.filter((c) => shown.current.has(c.id));
  return html`
    <h1>Live</h1>
    ${tiles.length
      ? html`<ul id="live-grid" class="grid" aria-label="Cameras">
          ${tiles.map((c) => html`<li key=${c.id}><${GridTile} conn=${conn} camera=${c} /></li>`)}
        </ul>`
      : html`<p class="muted" role="status">No camera is online. Cameras appear here as they connect.</p>`}
    ${cameras.length > tiles.length &&
    html`<p class="muted">${cameras.length - tiles.length} camera(s) offline. Open one from <${Link} href="/">Devices<//> to wake it.</p>`}`;
}

function GridTile({ conn, camera }) {
  const [state, stream, view] = useLiveView(conn, camera);
  const [status, refresh] = useCameraStatus(camera.id);
  return html`
    <figure class="live tile" data-camera-id=${camera.id} data-phase=${state.phase} data-session=${state.session || ''}>
      <${LiveVideo} stream=${stream} camera=${camera} muted=${true} />
      <figcaption>
        <span class="name">${camera.name}</span>
        <span class="live-status" data-phase=${state.phase}>${statusText(state, camera)}</span>
        <span class="tile-actions">
          ${(state.phase === 'ended' || state.phase === 'retrying') &&
          html`<button type="button" aria-label=${`Reconnect ${camera.name}`} onClick=${() => view.current.reconnect()}>Reconnect</button>`}
          <button type="button" aria-label=${`Open ${camera.name}`} onClick=${() => navigate(`/live/${camera.id}`)}>Open</button>
        </span>
      </figcaption>
    </figure>`;
}
