// Unit tests of the pure motion helpers: `node --test web/app/jstest`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MotionTracker, changedFraction, triggerLevel } from '../static/js/motion.js';

const frame = (pixels, gray) => {
  const f = new Uint8ClampedArray(pixels * 4);
  for (let i = 0; i < f.length; i += 4) f.set([gray, gray, gray, 255], i);
  return f;
};

test('changedFraction counts pixels whose brightness moved past the threshold', () => {
  const a = frame(100, 100);
  assert.equal(changedFraction(a, frame(100, 100)), 0);
  assert.equal(changedFraction(a, frame(100, 120)), 0, 'below threshold is noise');
  assert.equal(changedFraction(a, frame(100, 200)), 1);
  const b = frame(100, 100);
  for (let i = 0; i < 25; i++) b.set([255, 255, 255], i * 4);
  assert.equal(changedFraction(a, b), 0.25);
});

test('triggerLevel falls from 25% to 1% as sensitivity rises', () => {
  assert.equal(triggerLevel(0), 0.25);
  assert.ok(Math.abs(triggerLevel(0.5) - 0.05) < 1e-9);
  assert.ok(Math.abs(triggerLevel(1) - 0.01) < 1e-9);
  assert.equal(triggerLevel(-3), triggerLevel(0), 'clamped low');
  assert.equal(triggerLevel(7), triggerLevel(1), 'clamped high');
  assert.equal(triggerLevel('x'), triggerLevel(0), 'garbage is least sensitive');
});

test('MotionTracker starts after consecutive samples and ends after quiet', () => {
  const t = new MotionTracker({ startSamples: 2, quietMs: 1000 });
  const level = 0.1;
  assert.equal(t.update(0.5, level, 0), null, 'one sample is not enough');
  assert.equal(t.update(0.0, level, 100), null, 'streak broken');
  assert.equal(t.update(0.5, level, 200), null);
  assert.equal(t.update(0.5, level, 300), 'start');
  assert.equal(t.update(0.5, level, 400), null, 'already active');
  assert.equal(t.update(0.0, level, 900), null, 'quiet too short');
  assert.equal(t.update(0.2, level, 1000), null, 'motion again resets the quiet period');
  assert.equal(t.update(0.0, level, 1900), null);
  assert.equal(t.update(0.0, level, 2000), 'end');
  assert.equal(t.update(0.0, level, 5000), null, 'ends once');
});
