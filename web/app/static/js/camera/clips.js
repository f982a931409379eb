// Camera mode, motion events and clips: motion starts an event (over the
// socket, or REST when the socket is down) and records it in clips of 5 to
// 30 s, each uploaded as it ends (one after the other while the motion goes
// on); the end of motion ends the event. Endless motion does not make one
// endless event: after maxEventMinutes the event ends and a new one starts.

import { api } from '../api.js';

const CLIP_MIN_MS = 5_000;
const CLIP_MAX_MS = 30_000;
export const DEFAULT_MAX_EVENT_MINUTES = 5;

export class MotionEvents {
  #socket;
  #deviceId;
  #stream; // () => the camera's MediaStream
  #onChange; // (state patch: motionActive, recording, lastMotionAt) => void
  #maxEventMs;
  #event = null; // motion event in progress: {id (promise), startedAt, splitTimer, clip}
  #clips = new Set(); // clips recording or stopping: {rec, startedAt, timer}

  constructor(socket, deviceId, { stream, onChange, maxEventMinutes = DEFAULT_MAX_EVENT_MINUTES }) {
    this.#socket = socket;
    this.#deviceId = deviceId;
    this.#stream = stream;
    this.#onChange = onChange;
    this.setMaxEventMinutes(maxEventMinutes);
  }

  // setMaxEventMinutes caps the length of one event (1 to 60 minutes); it
  // applies from the next event on.
  setMaxEventMinutes(minutes) {
    const m = Number(minutes);
    this.#maxEventMs = Math.min(60, Math.max(1, Number.isFinite(m) ? m : DEFAULT_MAX_EVENT_MINUTES)) * 60_000;
  }

  started() {
    this.#onChange({ motionActive: true, lastMotionAt: new Date() });
    if (!this.#event) this.#begin();
  }

  async ended() {
    this.#onChange({ motionActive: false });
    const ev = this.#event;
    if (!ev) return;
    this.#event = null;
    await this.#finish(ev);
  }

  // stopClip ends the clip being recorded, if any; it is uploaded as it is.
  stopClip() {
    for (const clip of this.#clips) stopRecorder(clip.rec);
  }

  #begin() {
    const ev = { id: this.#startEvent(), startedAt: Date.now(), splitTimer: 0, clip: null };
    this.#event = ev;
    ev.splitTimer = setTimeout(() => this.#split(ev), this.#maxEventMs);
    this.#startClip(ev);
  }

  // #split ends an event that reached its maximum length while the motion
  // goes on, and starts the next one.
  #split(ev) {
    if (this.#event !== ev) return;
    this.#event = null;
    if (ev.clip) stopRecorder(ev.clip.rec);
    this.#finish(ev);
    this.#begin();
  }

  // #finish stops the event's clip (after its minimum length) and ends the event.
  async #finish(ev) {
    clearTimeout(ev.splitTimer);
    const clip = ev.clip;
    if (clip) {
      clearTimeout(clip.timer);
      clip.timer = setTimeout(() => stopRecorder(clip.rec), Math.max(0, clip.startedAt + CLIP_MIN_MS - Date.now()));
    }
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

  // #startClip records the next clip of ev: at most CLIP_MAX_MS, then, if the
  // event is still going on, the one after it.
  #startClip(ev) {
    const mimeType = clipType();
    if (!mimeType) return;
    const rec = new MediaRecorder(this.#stream(), { mimeType });
    const clip = { rec, startedAt: Date.now(), timer: 0 };
    const chunks = [];
    rec.ondataavailable = (e) => e.data.size && chunks.push(e.data);
    rec.onstop = () => {
      clearTimeout(clip.timer);
      this.#clips.delete(clip);
      this.#onChange({ recording: this.#clips.size > 0 });
      const contentType = mimeType.split(';')[0];
      const seconds = Math.round((Date.now() - clip.startedAt) / 1000);
      this.#uploadClip(ev, new Blob(chunks, { type: contentType }), contentType, seconds);
    };
    rec.start(1_000);
    clip.timer = setTimeout(() => {
      stopRecorder(rec);
      if (this.#event === ev) this.#startClip(ev);
    }, CLIP_MAX_MS);
    ev.clip = clip;
    this.#clips.add(clip);
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
