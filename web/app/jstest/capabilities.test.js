// Unit tests of the capabilities a camera reports and the controls a viewer
// offers for them: `node --test web/app/jstest`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { capabilities } from '../static/js/camera/controls.js';
import { controlsNote, offeredControls } from '../static/js/ui/live.js';

test('capabilities follow what the camera can do now', () => {
  assert.deepEqual(capabilities({ capturing: true, torch: false, cameras: 1 }), ['ping', 'set_motion', 'snapshot']);
  assert.deepEqual(capabilities({ capturing: true, torch: true, cameras: 2 }), [
    'ping',
    'set_motion',
    'snapshot',
    'set_torch',
    'switch_camera',
  ]);
  assert.deepEqual(capabilities({ capturing: false, torch: true, cameras: 2 }), ['ping', 'set_motion']);
});

test('offeredControls shows only reported controls, none when not capturing or unknown', () => {
  const labels = (t) => offeredControls(t).map((c) => c.label);
  assert.deepEqual(labels({ capturing: true, capabilities: ['ping', 'set_motion', 'snapshot'] }), ['Take snapshot']);
  assert.deepEqual(labels({ capturing: true, capabilities: ['snapshot', 'set_torch', 'switch_camera'] }), [
    'Take snapshot',
    'Use the other camera',
    'Light on',
    'Light off',
  ]);
  assert.deepEqual(labels({ capturing: false, capabilities: ['snapshot'] }), []);
  assert.deepEqual(labels({ battery: 50 }), []);
  assert.deepEqual(labels(undefined), []);
});

test('controlsNote says why there are no controls', () => {
  assert.match(controlsNote({ status: 'offline' }, { capturing: true, capabilities: ['snapshot'] }), /offline/);
  assert.match(controlsNote({ status: 'online' }, { capturing: false }), /not capturing/);
  assert.match(controlsNote({ status: 'online' }, {}), /Waiting/);
  assert.match(controlsNote({ status: 'online' }, { capabilities: ['ping'] }), /no remote controls/);
});
