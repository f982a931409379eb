// Camera mode, motion events and clips: motion starts an event (over the
// socket, or REST when the socket is down) and records a clip of 5 to 30 s,
// uploaded when it ends; the end of motion ends the event.

import { api } from '../api.js';

const CLIP_MIN_MS = 5_000;
const CLIP_MAX_MS = 30_000;

export class MotionEvents {
  #socket;
  #deviceId;
  #stream; // () => the camera's MediaStream
  #onChange; // (state patch: motionActive, recording, lastMotionAt) => void
  #event = null; // motion event in progress
  #recorder = null;

  constructor(socket, deviceId, { stream, onChange }) {
    this.#socket = socket;
    this.#deviceId = deviceId;
    this.#stream = stream;
    this.#onChange = onChange;
  }

  started() {
    this.#onChange({ motionActive: true, lastMotionAt: new Date() });
    if (this.#event) return;
    const ev = { id: this.#startEvent(), startedAt: Date.now(), stopTimer: 0 };
    this.#event = ev;
    this.#startClip(ev);
  }

  async ended() {
    this.#onChange({ motionActive: false });
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

  // stopClip ends the clip being recorded, if any; it is uploaded as it is.
  stopClip() {
    stopRecorder(this.#recorder);
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
    const rec = new MediaRecorder(this.#stream(), { mimeType });
    const chunks = [];
    rec.ondataavailable = (e) => e.data.size && chunks.push(e.data);
    rec.onstop = () => {
      clearTimeout(ev.stopTimer);
      this.#recorder = null;
      this.#onChange({ recording: false });
      const contentType = mimeType.split(';')[0];
      const seconds = Math.round((Date.now() - ev.startedAt) / 1000);
      this.#uploadClip(ev, new Blob(chunks, { type: contentType }), contentType, seconds);
    };
    rec.start(1_000);
    ev.recorder = rec;
    ev.stopTimer = setTimeout(() => stopRecorder(rec), CLIP_MAX_MS);
    this.#recorder = rec;
    this.#onChange({ recording: true });
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
}

function stopRecorder(rec) {
  if (rec && rec.state !== 'inactive') rec.stop();
}

function clipType() {
  if (typeof MediaRecorder === 'undefined') return '';
  return ['video/webm;codecs=vp8,opus', 'video/webm', 'video/mp4'].find((t) => MediaRecorder.isTypeSupported(t)) || '';
}
