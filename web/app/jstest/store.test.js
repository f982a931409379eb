// Unit tests of the shared state's device list: `node --test web/app/jstest`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyDeviceChange } from '../static/js/store.js';

test('applyDeviceChange adds, renames keeping live presence, and removes', () => {
  const cam = { id: 'c', name: 'Porch', status: 'online', last_seen_at: null };
  let list = applyDeviceChange([], { change: 'created', device: cam });
  assert.deepEqual(list, [cam]);
  assert.equal(applyDeviceChange(list, { change: 'created', device: cam }), list, 'a repeated created is ignored');

  list = applyDeviceChange(list, { change: 'updated', device: { ...cam, name: 'Garden', status: 'offline' } });
  assert.deepEqual(list, [{ ...cam, name: 'Garden', status: 'online' }]);

  const view = { id: 'v', name: 'Phone', status: 'offline' };
  list = applyDeviceChange(list, { change: 'updated', device: view });
  assert.deepEqual(list.map((d) => d.id), ['v', 'c'], 'an update of an unknown device adds it');

  list = applyDeviceChange(list, { change: 'deleted', device: { id: 'c' } });
  assert.deepEqual(list.map((d) => d.id), ['v']);
  assert.equal(applyDeviceChange(list, { change: 'moved', device: view }), list);
  assert.equal(applyDeviceChange(list, {}), list);
});
