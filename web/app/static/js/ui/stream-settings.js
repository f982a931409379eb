// A camera's live settings, shown on the camera-mode page and on a viewer's
// camera page: how many watch it now (the hub's count: live peer-to-peer
// sessions and relay viewers, GET /devices/{id} watchers), its live mode and its
// recording mode, editable by whoever may configure it (PATCH /devices/{id}).

import { html, useEffect, useState } from '../../vendor/htm-preact.js';
import { api } from '../api.js';
import { announce } from '../store.js';
import { ErrorText, useAction } from './common.js';

const POLL_MS = 3000;

// useCameraStatus polls the camera's device object (with its watchers) while
// the page is shown; refresh() reads it at once.
export function useCameraStatus(id) {
  const [device, setDevice] = useState(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let stopped = false;
    let timer = 0;
    const poll = async () => {
      clearTimeout(timer);
      if (document.visibilityState === 'visible') {
        try {
          const d = await api.getDevice(id);
          if (!stopped) setDevice(d);
        } catch {
          // offline or restarting: the next poll tries again
        }
      }
      if (!stopped) timer = setTimeout(poll, POLL_MS);
    };
    poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [id, tick]);
  return [device, () => setTick((n) => n + 1)];
}

export const watchingText = (n) => (n === 0 ? 'no one watching' : n === 1 ? '1 viewer watching' : `${n} viewers watching`);

const LIVE_MODES = [
  ['auto', 'Automatic: direct for one viewer, through the hub for more'],
  ['p2p', 'Direct (peer to peer): one upload per viewer'],
  ['relay', 'Through the hub: one upload whatever the number of viewers'],
];
const RECORDING_MODES = [
  ['events', 'Motion events'],
  ['continuous', 'Continuous (on the hub)'],
  ['off', 'Off'],
];

// StreamSettings shows device's watchers and modes; editable says whether the
// user may change them.
export function StreamSettings({ device, editable, onSaved }) {
  const [save, { busy, error }] = useAction(async (patch, what) => {
    await api.updateDevice(device.id, patch);
    onSaved?.();
    announce(`${what} saved.`);
  });
  const id = device.id;
  const select = (name, label, value, options) => html`
    <label for=${`${name}-${id}`}>${label}</label>
    <select
      id=${`${name}-${id}`}
      class=${name}
      value=${value}
      disabled=${!editable || busy}
      onChange=${(e) => save({ [name.replace('-', '_')]: e.currentTarget.value }, label)}
    >
      ${options.map(([v, text]) => html`<option value=${v}>${text}</option>`)}
    </select>`;
  return html`
    <fieldset class="stream-settings" data-camera-id=${id}>
      <legend>Live view and recording</legend>
      <p class="watchers" role="status" data-watchers=${device.watchers ?? ''}>
        ${device.watchers == null ? 'Watching now: unknown' : `Watching now: ${watchingText(device.watchers)}`}
      </p>
      ${select('live-mode', 'Live mode', device.live_mode || 'auto', LIVE_MODES)}
      ${select('recording-mode', 'Recording mode', device.recording_mode || 'events', RECORDING_MODES)}
      <${ErrorText} error=${error} />
    </fieldset>`;
}
