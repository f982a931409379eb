// Camera mode, local controls and commands: what the camera's user and its
// viewers (through commands) can change — motion settings, which camera, the
// torch — and snapshots.

import { api } from '../api.js';

export class CommandError extends Error {}
export const unsupported = () => new CommandError('unsupported');

export const VIDEO = { width: { ideal: 1280 }, height: { ideal: 720 } };

// motionSettings applies a change ({enabled, sensitivity}, either may be
// missing or malformed) to the current motion settings.
export function motionSettings(current, { enabled, sensitivity }) {
  const s = Number(sensitivity ?? current.sensitivity);
  return {
    enabled: enabled === undefined ? current.enabled : !!enabled,
    sensitivity: Number.isFinite(s) ? Math.min(1, Math.max(0, s)) : current.sensitivity,
  };
}

// nextCameraTrack opens the video track of the device's next camera after the
// one of current (front/back on a phone).
export async function nextCameraTrack(current) {
  const inputs = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput');
  if (inputs.length < 2) throw unsupported();
  const at = inputs.findIndex((d) => d.deviceId === current.getSettings().deviceId);
  const next = inputs[(at + 1) % inputs.length];
  const fresh = await navigator.mediaDevices.getUserMedia({ video: { ...VIDEO, deviceId: { exact: next.deviceId } } });
  return fresh.getVideoTracks()[0];
}

// countCameras returns how many cameras the device has.
export async function countCameras() {
  const inputs = await navigator.mediaDevices.enumerateDevices().catch(() => []);
  return inputs.filter((d) => d.kind === 'videoinput').length;
}

// capabilities lists the command types a camera honours now: ping and
// set_motion always; snapshot while it captures; set_torch with a torch;
// switch_camera with another camera to switch to.
export function capabilities({ capturing, torch, cameras }) {
  const caps = ['ping', 'set_motion'];
  if (capturing) caps.push('snapshot');
  if (capturing && torch) caps.push('set_torch');
  if (capturing && cameras > 1) caps.push('switch_camera');
  return caps;
}

// setTorch turns the torch of a video track on or off.
export async function setTorch(track, on) {
  if (!track?.getCapabilities?.().torch) throw unsupported();
  await track.applyConstraints({ advanced: [{ torch: !!on }] });
}

// uploadSnapshot uploads the current frame of video as a JPEG recording.
export async function uploadSnapshot(video, deviceId) {
  if (!video.videoWidth) throw new CommandError('camera_off');
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext('2d').drawImage(video, 0, 0);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.85));
  return api.uploadRecording({ camera_device_id: deviceId, content_type: 'image/jpeg' }, blob);
}

// Commands runs the commands viewers send through the camera's controls and
// answers each with command.result. A command that comes again (the hub
// delivers at least once) gets the answer of its first run.
export class Commands {
  #socket;
  #camera;
  #results = new Map(); // command_id → Promise of the result

  constructor(socket, camera) {
    this.#socket = socket;
    this.#camera = camera;
  }

  receive({ command_id: id, command_type: type, payload = {} }) {
    if (!this.#results.has(id)) {
      this.#results.set(id, this.#execute(type, payload));
      if (this.#results.size > 100) this.#results.delete(this.#results.keys().next().value);
    }
    this.#results.get(id).then((result) => this.#socket.send('command.result', { command_id: id, ...result }));
  }

  async #execute(type, payload) {
    const camera = this.#camera;
    try {
      switch (type) {
        case 'ping':
          break;
        case 'switch_camera':
          await camera.switchCamera();
          break;
        case 'set_torch':
          await camera.setTorch(payload.on);
          break;
        case 'set_motion':
          camera.setMotion(payload);
          break;
        case 'snapshot':
          await camera.snapshot();
          break;
        default:
          throw unsupported();
      }
      return { status: 'acknowledged' };
    } catch (err) {
      return { status: 'failed', error: err instanceof CommandError ? err.message : String(err.message || err) };
    }
  }
}
