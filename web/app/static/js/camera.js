// Camera: this browser as a camera device. It owns the camera stream and
// serves it to every viewer that asks (one RTCPeerConnection per session),
// answers the standard commands it can honour, detects motion and reports it
// as events with a short clip, sends telemetry, and keeps the screen awake.
// When the hub asks, it publishes its stream once to the hub's relay (WHIP) for
// the relayed viewers. Its parts live in camera/: controls and commands,
// live-view sessions, the relay publication, motion events and clips, telemetry.

import { MotionDetector } from './motion.js';
import { DEFAULT_MAX_EVENT_MINUTES, MotionEvents } from './camera/clips.js';
import { Commands, CommandError, VIDEO, capabilities, countCameras, motionSettings, nextCameraTrack, setTorch, uploadSnapshot } from './camera/controls.js';
import { Sessions } from './camera/sessions.js';
import { Publisher } from './camera/whip.js';
import { readTelemetry, watchTelemetry } from './camera/telemetry.js';

// State passed to onChange:
//   media       'starting' | 'on' | 'error'   (error: text for the user)
//   stream      the local MediaStream, for the preview
//   viewers     number of peer-to-peer live-view sessions
//   relay       whether the stream is published to the hub's relay (connected)
//   motion      {enabled, sensitivity}; level: last motion level (1 = trigger)
//   maxEventMinutes  longest event: endless motion makes one event per this many minutes
//   motionActive, recording, lastMotionAt
//   torch       null when the camera has no torch, else on/off
export class Camera {
  state = {
    media: 'starting',
    error: '',
    stream: null,
    viewers: 0,
    relay: false,
    motion: { enabled: true, sensitivity: 0.5 },
    maxEventMinutes: DEFAULT_MAX_EVENT_MINUTES,
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
  #sessions;
  #publisher;
  #commands;
  #events;
  #wakeLock = null;
  #media = null; // Promise of the stream, null if the camera could not start
  #stopped = false;
  #abort = new AbortController();
  #unsubscribe = [];

  constructor(socket, deviceId, onChange) {
    this.#socket = socket;
    this.#deviceId = deviceId;
    this.#onChange = onChange;
    const saved = JSON.parse(localStorage.getItem(this.#motionKey) || 'null');
    if (saved) this.state.motion = saved;
    const maxMinutes = Number(localStorage.getItem(`${this.#motionKey}.max-event-minutes`));
    if (maxMinutes) this.state.maxEventMinutes = maxMinutes;
    this.#video.muted = true;
    this.#video.playsInline = true;
    const media = async () => {
      await this.#media;
      return this.state.stream;
    };
    this.#sessions = new Sessions(socket, { media, stopped: () => this.#stopped, onCount: (viewers) => this.#set({ viewers }) });
    this.#publisher = new Publisher(deviceId, { media, stopped: () => this.#stopped, onChange: (relay) => this.#set({ relay }) });
    this.#commands = new Commands(socket, this);
    this.#events = new MotionEvents(socket, deviceId, {
      stream: () => this.state.stream,
      onChange: (patch) => this.#set(patch),
      maxEventMinutes: this.state.maxEventMinutes,
    });
    this.#detector = new MotionDetector(this.#video, {
      onLevel: (level) => this.#set({ level }),
      onMotion: (active) => (active ? this.#events.started() : this.#events.ended()),
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
    watchTelemetry(() => this.#sendTelemetry(), signal);
    document.addEventListener('visibilitychange', () => this.#keepAwake(), { signal });

    this.#openMedia();
  }

  // retryMedia asks for the camera again after it could not start (access
  // denied, in use by another app).
  retryMedia() {
    if (this.#stopped || this.state.media !== 'error') return;
    this.#set({ media: 'starting', error: '' });
    this.#openMedia();
  }

  #openMedia() {
    this.#media = openCamera({ facingMode: 'environment' }).then(
      (stream) => {
        if (this.#stopped) return stream.getTracks().forEach((t) => t.stop());
        this.#useStream(stream);
        this.#set({ media: 'on' });
        this.#detector.start();
        this.#keepAwake();
        this.#sendTelemetry(); // capturing, and what it can do now
        return stream;
      },
      (err) => {
        this.#set({ media: 'error', error: mediaErrorText(err) });
        this.#sendTelemetry(); // viewers learn it is not capturing
        return null;
      },
    );
  }

  stop() {
    this.#stopped = true;
    this.#unsubscribe.forEach((u) => u());
    this.#abort.abort();
    this.#detector.stop();
    this.#sessions.closeAll({ reason: 'camera_stopped' });
    this.#publisher.stop();
    this.#events.stopClip();
    this.state.stream?.getTracks().forEach((t) => t.stop());
    this.#wakeLock?.release().catch(() => {});
  }

  // Local controls, which viewers' commands use too.

  setMotion(change) {
    const motion = motionSettings(this.state.motion, change);
    Object.assign(this.#detector, motion);
    if (!motion.enabled) this.#detector.reset();
    localStorage.setItem(this.#motionKey, JSON.stringify(motion));
    this.#set({ motion, level: motion.enabled ? this.state.level : 0 });
  }

  // setMaxEventMinutes sets the longest event (1 to 60 minutes), from the next
  // event on, and remembers it in this browser.
  setMaxEventMinutes(minutes) {
    const m = Math.round(Math.min(60, Math.max(1, Number(minutes) || DEFAULT_MAX_EVENT_MINUTES)));
    this.#events.setMaxEventMinutes(m);
    localStorage.setItem(`${this.#motionKey}.max-event-minutes`, String(m));
    this.#set({ maxEventMinutes: m });
  }

  // switchCamera moves to the next camera of the device (front/back on a phone).
  async switchCamera() {
    const current = this.#videoTrack();
    if (!current) throw new CommandError('camera_off');
    const track = await nextCameraTrack(current);
    await this.#sessions.replaceTrack(current, track);
    await this.#publisher.replaceTrack(current, track);
    this.#events.stopClip(); // the clip was recording the old track
    current.stop();
    this.#useStream(new MediaStream([track, ...this.state.stream.getAudioTracks()]));
    this.#detector.reset();
    this.#sendTelemetry(); // the other camera may have no torch
  }

  async setTorch(on) {
    await setTorch(this.#videoTrack(), on);
    this.#set({ torch: !!on });
  }

  // snapshot uploads the current frame as a JPEG recording.
  snapshot() {
    return uploadSnapshot(this.#video, this.#deviceId);
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

  // Media is peer to peer: while the socket reconnects (a hub restart, a
  // drain) the viewers keep their picture, and once it is back the sessions are
  // resumed. A socket that is over (replaced, forbidden) ends them and the relay
  // publication. (A hub that lost the publication asks for it again.)
  #socketChanged(st) {
    switch (st.status) {
      case 'open':
        this.#sessions.resumeAll();
        return this.#sendTelemetry();
      case 'connecting':
      case 'retrying':
        return;
      default:
        this.#sessions.closeAll(null);
        this.#publisher.stop();
    }
  }

  #receive(msg) {
    switch (msg.type) {
      case 'command':
        return this.#commands.receive(msg.data);
      case 'relay.publish':
        return this.#publisher.receive(msg.data);
      case 'presence': // a linked viewer came online: let it see battery and network at once
        return msg.data?.status === 'online' && this.#sendTelemetry();
      case 'stream.requested': // the viewer may be newly linked: tell it what this camera can do
        this.#sendTelemetry();
        return this.#sessions.receive(msg);
      default:
        return this.#sessions.receive(msg);
    }
  }

  // #sendTelemetry reports battery and network, whether the camera captures,
  // and the commands it can honour now (once the camera has started or failed).
  async #sendTelemetry() {
    if (this.#stopped) return;
    const data = (await readTelemetry()) || {};
    if (this.state.media !== 'starting') {
      const capturing = this.state.media === 'on';
      data.capturing = capturing;
      data.capabilities = capabilities({ capturing, torch: this.state.torch !== null, cameras: capturing ? await countCameras() : 0 });
    }
    if (Object.keys(data).length && !this.#stopped) this.#socket.send('telemetry', data);
  }
}

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
      return 'Camera access was denied. Allow the camera for this site in the browser settings, then choose Try again.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No camera was found on this device.';
    case 'NotReadableError':
      return 'The camera is in use by another app.';
    default:
      return `The camera could not start: ${err.message}`;
  }
}
