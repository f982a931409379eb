// Camera: this browser as a camera device. It owns the camera stream and
// serves it to every viewer that asks (one RTCPeerConnection per session),
// answers the standard commands it can honour, detects motion and reports it
// as events with a short clip, sends telemetry, and keeps the screen awake.

import { api } from './api.js';
import { MotionDetector } from './motion.js';
import { addCandidate, candidateData, serial } from './rtc.js';

const CLIP_MIN_MS = 5_000;
const CLIP_MAX_MS = 30_000;
const TELEMETRY_MS = 60_000;
const FAILED_SESSION_MS = 30_000; // a failed connection waits this long for the viewer's ICE restart

class CommandError extends Error {}
const unsupported = () => new CommandError('unsupported');

// State passed to onChange:
//   media       'starting' | 'on' | 'error'   (error: text for the user)
//   stream      the local MediaStream, for the preview
//   viewers     number of live-view sessions
//   motion      {enabled, sensitivity}; level: last motion level (1 = trigger)
//   motionActive, recording, lastMotionAt
//   torch       null when the camera has no torch, else on/off
export class Camera {
  state = {
    media: 'starting',
    error: '',
    stream: null,
    viewers: 0,
    motion: { enabled: true, sensitivity: 0.5 },
    level: 0,
    motionActive: false,
    recording: false,
    lastMotionAt: null,
    torch: null,
  };
  #socket;
  #deviceId;
  #onChange;
  #video = document.createElement('video'); // feeds motion detection and snapshots
  #detector;
  #sessions = new Map();
  #commands = new Map(); // command_id → Promise of the result (commands may repeat)
  #event = null; // motion event in progress
  #recorder = null;
  #wakeLock = null;
  #media = null; // Promise of the stream, null if the camera could not start
  #stopped = false;
  #abort = new AbortController();
  #unsubscribe = [];
  #timer = 0;

  constructor(socket, deviceId, onChange) {
    this.#socket = socket;
    this.#deviceId = deviceId;
    this.#onChange = onChange;
    const saved = JSON.parse(localStorage.getItem(this.#motionKey) || 'null');
    if (saved) this.state.motion = saved;
    this.#video.muted = true;
    this.#video.playsInline = true;
    this.#detector = new MotionDetector(this.#video, {
      onLevel: (level) => this.#set({ level }),
      onMotion: (active) => (active ? this.#motionStarted() : this.#motionEnded()),
    });
    Object.assign(this.#detector, this.state.motion);
  }

  get #motionKey() {
    return `securecam.motion.${this.#deviceId}`;
  }

  #set(patch) {
    this.state = { ...this.state, ...patch };
    if (!this.#stopped) this.#onChange(this.state);
  }

  start() {
    const signal = this.#abort.signal;
    this.#unsubscribe = [
      this.#socket.subscribe((msg) => this.#receive(msg)),
      this.#socket.watch((st) => this.#socketChanged(st)),
    ];
    this.#timer = setInterval(() => this.#sendTelemetry(), TELEMETRY_MS);
    navigator.connection?.addEventListener('change', () => this.#sendTelemetry(), { signal });
    navigator
      .getBattery?.()
      .then((b) => {
        for (const e of ['levelchange', 'chargingchange']) b.addEventListener(e, () => this.#sendTelemetry(), { signal });
      })
      .catch(() => {});
    document.addEventListener('visibilitychange', () => this.#keepAwake(), { signal });

    this.#media = openCamera({ facingMode: 'environment' }).then(
      (stream) => {
        if (this.#stopped) return stream.getTracks().forEach((t) => t.stop());
        this.#useStream(stream);
        this.#set({ media: 'on' });
        this.#detector.start();
        this.#keepAwake();
        return stream;
      },
      (err) => {
        this.#set({ media: 'error', error: mediaErrorText(err) });
        return null;
      },
    );
  }

  stop() {
    this.#stopped = true;
    this.#unsubscribe.forEach((u) => u());
    this.#abort.abort();
    clearInterval(this.#timer);
    this.#detector.stop();
    for (const id of [...this.#sessions.keys()]) this.#closeSession(id, { reason: 'camera_stopped' });
    stopRecorder(this.#recorder);
    this.state.stream?.getTracks().forEach((t) => t.stop());
    this.#wakeLock?.release().catch(() => {});
  }

  // ---- local controls and commands ----

  setMotion({ enabled, sensitivity }) {
    const current = this.state.motion;
    const s = Number(sensitivity ?? current.sensitivity);
    const motion = {
      enabled: enabled === undefined ? current.enabled : !!enabled,
      sensitivity: Number.isFinite(s) ? Math.min(1, Math.max(0, s)) : current.sensitivity,
    };
    Object.assign(this.#detector, motion);
    if (!motion.enabled) this.#detector.reset();
    localStorage.setItem(this.#motionKey, JSON.stringify(motion));
    this.#set({ motion, level: motion.enabled ? this.state.level : 0 });
  }

  // switchCamera moves to the next camera of the device (front/back on a phone).
  async switchCamera() {
    const current = this.#videoTrack();
    if (!current) throw new CommandError('camera_off');
    const inputs = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput');
    if (inputs.length < 2) throw unsupported();
    const at = inputs.findIndex((d) => d.deviceId === current.getSettings().deviceId);
    const next = inputs[(at + 1) % inputs.length];
    const fresh = await navigator.mediaDevices.getUserMedia({ video: { ...VIDEO, deviceId: { exact: next.deviceId } } });
    const track = fresh.getVideoTracks()[0];
    for (const { pc } of this.#sessions.values()) {
      const sender = pc.getSenders().find((s) => s.track === current);
      await sender?.replaceTrack(track);
    }
    stopRecorder(this.#recorder); // the clip was recording the old track
    current.stop();
    this.#useStream(new MediaStream([track, ...this.state.stream.getAudioTracks()]));
    this.#detector.reset();
  }

  async setTorch(on) {
    const track = this.#videoTrack();
    if (!track?.getCapabilities?.().torch) throw unsupported();
    await track.applyConstraints({ advanced: [{ torch: !!on }] });
    this.#set({ torch: !!on });
  }

  // snapshot uploads the current frame as a JPEG recording.
  async snapshot() {
    const v = this.#video;
    if (!v.videoWidth) throw new CommandError('camera_off');
    const canvas = document.createElement('canvas');
    canvas.width = v.videoWidth;
    canvas.height = v.videoHeight;
    canvas.getContext('2d').drawImage(v, 0, 0);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.85));
    return api.uploadRecording({ camera_device_id: this.#deviceId, content_type: 'image/jpeg' }, blob);
  }

  #videoTrack() {
    return this.state.stream?.getVideoTracks()[0];
  }

  #useStream(stream) {
    this.#video.srcObject = stream;
    this.#video.play().catch(() => {});
    const caps = stream.getVideoTracks()[0]?.getCapabilities?.() ?? {};
    this.#set({ stream, torch: caps.torch ? false : null });
  }

  // A phone acting as a camera must not sleep.
  async #keepAwake() {
    if (this.#stopped || document.visibilityState !== 'visible' || !navigator.wakeLock) return;
    try {
      this.#wakeLock = await navigator.wakeLock.request('screen');
    } catch {
      // refused (battery saver); the docs tell the user to keep the screen on
    }
  }

  #command({ command_id: id, command_type: type, payload = {} }) {
    if (!this.#commands.has(id)) {
      this.#commands.set(id, this.#execute(type, payload));
      if (this.#commands.size > 100) this.#commands.delete(this.#commands.keys().next().value);
    }
    this.#commands.get(id).then((result) => this.#socket.send('command.result', { command_id: id, ...result }));
  }

  async #execute(type, payload) {
    try {
      switch (type) {
        case 'ping':
          break;
        case 'switch_camera':
          await this.switchCamera();
          break;
        case 'set_torch':
          await this.setTorch(payload.on);
          break;
        case 'set_motion':
          this.setMotion(payload);
          break;
        case 'snapshot':
          await this.snapshot();
          break;
        default:
          throw unsupported();
      }
      return { status: 'acknowledged' };
    } catch (err) {
      return { status: 'failed', error: err instanceof CommandError ? err.message : String(err.message || err) };
    }
  }

  // ---- live view: one peer connection per session ----

  // The hub ends the sessions of a device whose socket went away, so a camera
  // that lost its socket closes them too; viewers ask again once it is back.
  #socketChanged(st) {
    if (st.status === 'open') return this.#sendTelemetry();
    for (const id of [...this.#sessions.keys()]) this.#closeSession(id, null);
  }

  #receive(msg) {
    const s = this.#sessions.get(msg.session);
    switch (msg.type) {
      case 'stream.requested':
        return this.#accept(msg.session, msg.data);
      case 'webrtc.offer':
        return s?.run(() => this.#answer(msg.session, s.pc, msg.data.sdp));
      case 'webrtc.candidate':
        return s?.run(() => addCandidate(s.pc, msg.data));
      case 'stream.ended':
        return s && this.#closeSession(msg.session, null);
      case 'command':
        return this.#command(msg.data);
      case 'presence': // a linked viewer came online: let it see battery and network at once
        return msg.data?.status === 'online' && this.#sendTelemetry();
    }
  }

  // A request that comes while the camera is still starting waits for it.
  async #accept(session, data) {
    if (!session || this.#sessions.has(session)) return;
    await this.#media;
    const stream = this.state.stream;
    if (this.#stopped || this.#sessions.has(session)) return;
    if (!stream) {
      this.#socket.send('stream.decline', { reason: 'camera_unavailable' }, session);
      return;
    }
    const pc = new RTCPeerConnection({ iceServers: data.ice_servers || [] });
    for (const track of stream.getTracks()) pc.addTrack(track, stream);
    const s = { pc, run: serial((err) => console.warn('camera signaling', err)), connected: false, failTimer: 0 };
    pc.onicecandidate = (e) => this.#socket.send('webrtc.candidate', candidateData(e.candidate), session);
    pc.onconnectionstatechange = () => {
      clearTimeout(s.failTimer);
      if (pc.connectionState === 'connected' && !s.connected) {
        s.connected = true;
        this.#socket.send('stream.connected', {}, session);
      } else if (pc.connectionState === 'failed' || pc.connectionState === 'disconnected') {
        s.failTimer = setTimeout(() => this.#closeSession(session, { reason: 'disconnected' }), FAILED_SESSION_MS);
      }
    };
    this.#sessions.set(session, s);
    this.#set({ viewers: this.#sessions.size });
    this.#socket.send('stream.accept', {}, session);
  }

  // The first offer and any ICE-restart offer get an answer on the same connection.
  async #answer(session, pc, sdp) {
    await pc.setRemoteDescription({ type: 'offer', sdp });
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    this.#socket.send('webrtc.answer', { sdp: answer.sdp }, session);
  }

  #closeSession(session, endData) {
    const s = this.#sessions.get(session);
    if (!s) return;
    clearTimeout(s.failTimer);
    if (endData) this.#socket.send('stream.end', endData, session);
    s.pc.close();
    this.#sessions.delete(session);
    this.#set({ viewers: this.#sessions.size });
  }

  // ---- motion events and clips ----

  #motionStarted() {
    this.#set({ motionActive: true, lastMotionAt: new Date() });
    if (this.#event) return;
    const ev = { id: this.#startEvent(), startedAt: Date.now(), stopTimer: 0 };
    this.#event = ev;
    this.#startClip(ev);
  }

  async #motionEnded() {
    this.#set({ motionActive: false });
    const ev = this.#event;
    if (!ev) return;
    this.#event = null;
    clearTimeout(ev.stopTimer);
    ev.stopTimer = setTimeout(() => stopRecorder(ev.recorder), Math.max(0, ev.startedAt + CLIP_MIN_MS - Date.now()));
    const id = await ev.id;
    if (!id) return;
    if (!this.#socket.send('event.end', { event_id: id })) {
      api.endEvent(id).catch((err) => console.warn('end event', err));
    }
  }

  // #startEvent resolves to the new event's id, or null if the hub cannot be
  // reached at all (the clip is still uploaded).
  async #startEvent() {
    const event = { title: 'Motion detected', triggered_by: 'motion' };
    try {
      if (this.#socket.isOpen) return (await this.#socket.request('event.start', event)).event_id;
      return (await api.createEvent({ device_id: this.#deviceId, ...event })).id;
    } catch (err) {
      console.warn('start event', err);
      return null;
    }
  }

  #startClip(ev) {
    const mimeType = clipType();
    if (!mimeType || this.#recorder) return;
    const rec = new MediaRecorder(this.state.stream, { mimeType });
    const chunks = [];
    rec.ondataavailable = (e) => e.data.size && chunks.push(e.data);
    rec.onstop = () => {
      clearTimeout(ev.stopTimer);
      this.#recorder = null;
      this.#set({ recording: false });
      const contentType = mimeType.split(';')[0];
      const seconds = Math.round((Date.now() - ev.startedAt) / 1000);
      this.#uploadClip(ev, new Blob(chunks, { type: contentType }), contentType, seconds);
    };
    rec.start(1_000);
    ev.recorder = rec;
    ev.stopTimer = setTimeout(() => stopRecorder(rec), CLIP_MAX_MS);
    this.#recorder = rec;
    this.#set({ recording: true });
  }

  async #uploadClip(ev, blob, contentType, seconds) {
    if (!blob.size) return;
    const meta = {
      camera_device_id: this.#deviceId,
      event_id: (await ev.id) || undefined,
      content_type: contentType,
      duration_seconds: seconds,
    };
    try {
      await api.uploadRecording(meta, blob);
    } catch (err) {
      console.warn('upload clip', err);
    }
  }

  // ---- telemetry ----

  async #sendTelemetry() {
    if (this.#stopped) return;
    const data = {};
    const battery = await navigator.getBattery?.().catch(() => null);
    if (battery) {
      data.battery = Math.round(battery.level * 100);
      data.charging = battery.charging;
    }
    const c = navigator.connection;
    const network = c && (c.type && c.type !== 'unknown' ? c.type : c.effectiveType);
    if (network) data.network = network;
    if (Object.keys(data).length) this.#socket.send('telemetry', data);
  }
}

const VIDEO = { width: { ideal: 1280 }, height: { ideal: 720 } };

// openCamera asks for camera and microphone, and for the camera alone if
// there is no usable microphone.
async function openCamera(video) {
  if (!navigator.mediaDevices?.getUserMedia) throw new DOMException('insecure', 'SecurityError');
  try {
    return await navigator.mediaDevices.getUserMedia({ video: { ...VIDEO, ...video }, audio: true });
  } catch {
    return navigator.mediaDevices.getUserMedia({ video: { ...VIDEO, ...video } });
  }
}

function mediaErrorText(err) {
  switch (err.name) {
    case 'SecurityError':
      return 'The camera is only available on a secure page: open the hub over HTTPS (or on localhost).';
    case 'NotAllowedError':
      return 'Camera access was denied. Allow the camera for this site in the browser settings, then reload.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No camera was found on this device.';
    case 'NotReadableError':
      return 'The camera is in use by another app.';
    default:
      return `The camera could not start: ${err.message}`;
  }
}

function stopRecorder(rec) {
  if (rec && rec.state !== 'inactive') rec.stop();
}

function clipType() {
  if (typeof MediaRecorder === 'undefined') return '';
  return ['video/webm;codecs=vp8,opus', 'video/webm', 'video/mp4'].find((t) => MediaRecorder.isTypeSupported(t)) || '';
}
