// Unit tests of camera mode's controls and commands: `node --test web/app/jstest`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CommandError, Commands, motionSettings } from '../static/js/camera/controls.js';

test('motionSettings applies a change and keeps what is missing or malformed', () => {
  const cur = { enabled: true, sensitivity: 0.5 };
  assert.deepEqual(motionSettings(cur, { enabled: false }), { enabled: false, sensitivity: 0.5 });
  assert.deepEqual(motionSettings(cur, { sensitivity: '0.8' }), { enabled: true, sensitivity: 0.8 });
  assert.deepEqual(motionSettings(cur, { sensitivity: 7 }), { enabled: true, sensitivity: 1 });
  assert.deepEqual(motionSettings(cur, { sensitivity: -1 }), { enabled: true, sensitivity: 0 });
  assert.deepEqual(motionSettings(cur, { sensitivity: 'loud' }), cur);
  assert.deepEqual(motionSettings(cur, { enabled: 0 }), { enabled: false, sensitivity: 0.5 });
});

test('Commands runs a repeated command once and answers each delivery', async () => {
  const sent = [];
  const socket = { send: (type, data) => sent.push({ type, data }) };
  let torches = 0;
  const camera = {
    setTorch: async () => {
      torches++;
    },
    switchCamera: async () => {
      throw new CommandError('unsupported');
    },
    snapshot: async () => {
      throw new Error('upload failed');
    },
  };
  const cmds = new Commands(socket, camera);
  cmds.receive({ command_id: 'c1', command_type: 'set_torch', payload: { on: true } });
  cmds.receive({ command_id: 'c1', command_type: 'set_torch', payload: { on: true } }); // delivered again
  cmds.receive({ command_id: 'c2', command_type: 'switch_camera' });
  cmds.receive({ command_id: 'c3', command_type: 'snapshot' });
  cmds.receive({ command_id: 'c4', command_type: 'self_destruct' });
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(torches, 1);
  const results = sent.map((m) => [m.type, m.data.command_id, m.data.status, m.data.error]).sort((a, b) => a[1].localeCompare(b[1]));
  assert.deepEqual(results, [
    ['command.result', 'c1', 'acknowledged', undefined],
    ['command.result', 'c1', 'acknowledged', undefined],
    ['command.result', 'c2', 'failed', 'unsupported'],
    ['command.result', 'c3', 'failed', 'upload failed'],
    ['command.result', 'c4', 'failed', 'unsupported'],
  ]);
});
