// Camera mode screen (/camera): this browser serves its camera to the user's
// viewers. Shows the preview and what the camera is doing, and offers the
// local controls that viewers can also trigger remotely.

import { html, useEffect, useRef, useState } from '../../vendor/htm-preact.js';
import { api } from '../api.js';
import { Camera } from '../camera.js';
import { triggerLevel } from '../motion.js';
import { announce, refreshDevices, useAppState } from '../store.js';
import { ErrorText, navigate, useAction } from './common.js';
import { StreamSettings, useCameraStatus, watchingText } from './stream-settings.js';

export function CameraPage({ conn }) {
  const camera = useRef(null);
  const [st, setSt] = useState(null);
  const preview = useRef(null);
  const [device, refresh] = useCameraStatus(conn.device.id);
  useEffect(() => {
    const cam = new Camera(conn.socket, conn.device.id, setSt);
    camera.current = cam;
    setSt(cam.state);
    cam.start();
    return () => cam.stop();
  }, [conn]);
  useEffect(() => {
    if (preview.current && st?.stream) preview.current.srcObject = st.stream;
  }, [st?.stream]);
  useEffect(() => {
    if (st?.motionActive) announce('Motion detected.');
  }, [st?.motionActive]);

  const [act, { busy, error }] = useAction(async (what, fn) => {
    await fn(camera.current);
    announce(`${what}: done.`);
  });
  if (!st) return null;

  // Who watches: the hub's count (relay viewers too) once known, else the
  // camera's own peer-to-peer sessions.
  const watching = watchingText(device?.watchers ?? st.viewers) + (st.relay ? ' · sent once to the hub relay' : '');
  const status = st.media === 'on' ? `Camera on · ${watching}` : st.media === 'starting' ? 'Starting the camera…' : 'Camera off · not capturing';
  return html`
    <section class="camera-mode" aria-labelledby="camera-title">
      <div class="section-head">
        <h1 id="camera-title">Camera mode</h1>
        <button type="button" id="stop-camera" onClick=${() => navigate('/')}>Stop camera</button>
      </div>
      <p class="camera-status" role="status" data-media=${st.media}>${status}${st.recording ? ' · Recording clip' : ''}</p>
      ${st.media === 'error' &&
      html`<div class="media-error">
        <p class="error" role="alert">${st.error}</p>
        <button type="button" class="primary" id="retry-camera" onClick=${() => camera.current.retryMedia()}>Try again</button>
      </div>`}
      <video ref=${preview} class="preview" autoplay playsinline defaultMuted=${true} muted aria-label="Camera preview"></video>

      <${CameraName} device=${conn.device} />
      ${device && html`<${StreamSettings} device=${device} editable=${true} onSaved=${refresh} />`}

      <fieldset class="motion">
        <legend>Motion detection</legend>
        <label class="check">
          <input
            type="checkbox"
            id="motion-enabled"
            checked=${st.motion.enabled}
            onChange=${(e) => camera.current.setMotion({ enabled: e.currentTarget.checked })}
          />
          Detect motion and record clips
        </label>
        <label for="motion-sensitivity">Motion sensitivity: how much of the picture must change</label>
        <input
          type="range"
          id="motion-sensitivity"
          min="0"
          max="1"
          step="0.05"
          value=${st.motion.sensitivity}
          aria-describedby="motion-sensitivity-hint"
          aria-valuetext=${triggerText(st.motion.sensitivity)}
          onInput=${(e) => camera.current.setMotion({ sensitivity: e.currentTarget.valueAsNumber })}
        />
        <p id="motion-sensitivity-hint" class="hint">${triggerText(st.motion.sensitivity)} (left: less sensitive, right: more).</p>
        <label for="motion-level">Motion level (full bar: motion)</label>
        <meter id="motion-level" min="0" max="1" high="0.99" value=${Math.min(1, st.level)}></meter>
        <label for="max-event-minutes">Longest event, in minutes (ongoing motion starts a new event after it)</label>
        <input
          type="number"
          id="max-event-minutes"
          min="1"
          max="60"
          step="1"
          value=${st.maxEventMinutes}
          onChange=${(e) => camera.current.setMaxEventMinutes(e.currentTarget.valueAsNumber)}
        />
        <p class="muted">${st.motionActive ? 'Motion now' : st.lastMotionAt ? `Last motion at ${st.lastMotionAt.toLocaleTimeString()}` : 'No motion yet'}</p>
      </fieldset>

      <div class="actions">
        <button type="button" disabled=${busy || st.media !== 'on'} onClick=${() => act('Switch camera', switchCamera)}>Switch camera</button>
        ${st.torch !== null &&
        html`<button type="button" aria-pressed=${String(st.torch)} disabled=${busy} onClick=${() => act('Torch', (c) => c.setTorch(!st.torch))}>
          Torch
        </button>`}
        <button type="button" disabled=${busy || st.media !== 'on'} onClick=${() => act('Snapshot', (c) => c.snapshot())}>Take snapshot</button>
      </div>
      <${ErrorText} error=${error} />
      <p class="muted">Keep this page open and the screen on. Plug the phone in.</p>
    </section>`;
}

const switchCamera = (c) =>
  c.switchCamera().catch((err) => {
    throw err.message === 'unsupported' ? new Error('This device has only one camera.') : err;
  });

const triggerText = (sensitivity) => {
  const pct = triggerLevel(sensitivity) * 100;
  return `Motion when ${pct < 10 ? pct.toFixed(1) : Math.round(pct)} % of the picture changes`;
};

// CameraName edits the camera's name. The field follows the name as renamed
// elsewhere (a viewer's Devices page; the hub announces it with a "device"
// message) while it is neither focused nor edited, so saving here never undoes
// that rename.
function CameraName({ device }) {
  const s = useAppState();
  const current = s.devices.find((d) => d.id === device.id)?.name || device.name;
  const input = useRef(null);
  const [edited, setEdited] = useState(false);
  useEffect(() => {
    const el = input.current;
    if (!edited && el && document.activeElement !== el) el.value = current;
  }, [current, edited]);
  const [save, { busy, error }] = useAction(async (e) => {
    const name = new FormData(e.currentTarget).get('name').trim();
    await api.updateDevice(device.id, { name });
    await refreshDevices();
    setEdited(false);
    announce(`Camera renamed to ${name}.`);
  });
  return html`
    <form class="row" id="camera-name-form" onSubmit=${(e) => (e.preventDefault(), save(e))}>
      <div>
        <label for="camera-name">Camera name</label>
        <input ref=${input} id="camera-name" name="name" required maxlength="100" defaultValue=${device.name} onInput=${() => setEdited(true)} />
      </div>
      <button type="submit" disabled=${busy}>Save name</button>
    </form>
    <${ErrorText} error=${error} />`;
}
