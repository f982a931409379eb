// Unit tests of motion events and their clips with fake timers, a fake
// MediaRecorder and a fake socket: `node --test web/app/jstest`.
import assert from 'node:assert/strict';
import { test } from 'node:test';

class FakeRecorder {
  static all = [];
  static isTypeSupported = (t) => t === 'video/webm';
  state = 'inactive';
  constructor(stream, { mimeType }) {
    this.mimeType = mimeType;
    FakeRecorder.all.push(this);
  }
  start() {
    this.state = 'recording';
  }
  stop() {
    this.state = 'inactive';
    this.ondataavailable({ data: new Blob(['x']) });
    this.onstop();
  }
}
globalThis.MediaRecorder = FakeRecorder;
const { MotionEvents } = await import('../static/js/camera/clips.js');

// fakeSocket answers event.start with ids e1, e2, … and records event.end.
function fakeSocket() {
  let n = 0;
  const ended = [];
  return {
    isOpen: true,
    ended,
    request: async (type) => (type === 'event.start' ? { event_id: `e${++n}` } : {}),
    send: (type, data) => (type === 'event.end' && ended.push(data.event_id), true),
  };
}

const flush = () => new Promise((r) => setImmediate(r));

test('endless motion is recorded in 30 s clips and split into events of maxEventMinutes', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  FakeRecorder.all = [];
  const uploads = [];
  const { api } = await import('../static/js/api.js');
  api.uploadRecording = async (meta) => uploads.push(meta);
  const socket = fakeSocket();
  const m = new MotionEvents(socket, 'cam', { stream: () => ({}), onChange: () => {}, maxEventMinutes: 1 });

  m.started();
  await flush();
  for (let s = 0; s < 90; s += 10) {
    t.mock.timers.tick(10_000);
    await flush();
  }
  // 90 s of motion with a 1-minute cap: event e1 (0–60 s, clips 0–30, 30–60), then e2.
  assert.deepEqual(socket.ended, ['e1']);
  m.ended();
  await flush();
  t.mock.timers.tick(5_000);
  await flush();
  assert.deepEqual(socket.ended, ['e1', 'e2']);
  assert.deepEqual(uploads.map((u) => u.event_id), ['e1', 'e1', 'e2', 'e2']);
  assert.deepEqual(uploads.map((u) => u.duration_seconds), [30, 30, 30, 5], 'each clip its own length');
  assert.ok(FakeRecorder.all.every((r) => r.state === 'inactive'), 'no recorder left running');
});
