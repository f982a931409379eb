// Unit tests of the timeline helpers: `node --test web/app/jstest`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { durationText, eventQuery, matchesFilter } from '../static/js/timeline.js';

test('eventQuery turns a camera, a type and a local day into query parameters', () => {
  assert.deepEqual(eventQuery({ camera: '', type: '', day: '' }), {});
  const q = eventQuery({ camera: 'cam1', type: 'motion', day: '2026-12-02' });
  assert.equal(q.device_id, 'cam1');
  assert.equal(q.triggered_by, 'motion');
  assert.equal(new Date(q.since).getTime(), new Date(2026, 11, 2).getTime());
  assert.equal(new Date(q.until).getTime(), new Date(2026, 11, 3).getTime());
  assert.deepEqual(eventQuery({ day: 'not a day' }), {});
});

test('matchesFilter keeps live events that belong in the filtered list', () => {
  const e = { device_id: 'cam1', triggered_by: 'motion', started_at: new Date(2026, 11, 2, 15).toISOString() };
  assert.ok(matchesFilter(e, { camera: '', type: '', day: '' }));
  assert.ok(matchesFilter(e, { camera: 'cam1', type: 'motion', day: '2026-12-02' }));
  assert.ok(!matchesFilter(e, { camera: 'cam2', type: '', day: '' }));
  assert.ok(!matchesFilter(e, { camera: '', type: 'sound', day: '' }));
  assert.ok(!matchesFilter(e, { camera: '', type: '', day: '2026-12-03' }));
});

test('durationText', () => {
  const at = (s) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
  assert.equal(durationText({ started_at: at(0) }), 'ongoing');
  assert.equal(durationText({ started_at: at(0), ended_at: at(45) }), '45 s');
  assert.equal(durationText({ started_at: at(0), ended_at: at(125) }), '2 min 5 s');
  assert.equal(durationText({ started_at: at(0), ended_at: at(120) }), '2 min');
  assert.equal(durationText({ started_at: at(0), ended_at: at(3780) }), '1 h 3 min');
});
