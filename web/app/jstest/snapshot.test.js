// Unit tests of finding and naming a snapshot: `node --test web/app/jstest`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newSnapshot, snapshotFileName } from '../static/js/snapshot.js';

test('newSnapshot picks the newest available image not seen before', () => {
  const before = new Set(['old']);
  const items = [
    { id: 'clip', content_type: 'video/mp4', status: 'available' },
    { id: 'uploading', content_type: 'image/jpeg', status: 'pending' },
    { id: 'new', content_type: 'image/jpeg', status: 'available' },
    { id: 'old', content_type: 'image/jpeg', status: 'available' },
  ];
  assert.equal(newSnapshot(before, items).id, 'new');
  assert.equal(newSnapshot(new Set(['new', 'old']), items), null);
  assert.equal(newSnapshot(before, []), null);
});

test('snapshotFileName names the camera and the local time', () => {
  const at = new Date(2026, 11, 2, 15, 4, 5);
  assert.equal(snapshotFileName('Front door (camera 7f3a)', at), 'snapshot-front-door-camera-7f3a-2026-12-02-15-04-05.jpg');
  assert.equal(snapshotFileName('☀', at), 'snapshot-camera-2026-12-02-15-04-05.jpg');
});
