// Unit tests of the reconnect backoff: `node --test web/app/jstest`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay } from '../static/js/socket.js';

test('backoffDelay doubles up to 30 s and jitters within the upper half', () => {
  const cases = [
    [0, 500, 1000],
    [1, 1000, 2000],
    [4, 8000, 16000],
    [5, 15000, 30000],
    [20, 15000, 30000],
  ];
  for (const [attempt, min, max] of cases) {
    assert.equal(backoffDelay(attempt, () => 0), min, `attempt ${attempt} low`);
    assert.equal(backoffDelay(attempt, () => 1), max, `attempt ${attempt} high`);
    const d = backoffDelay(attempt);
    assert.ok(d >= min && d <= max, `attempt ${attempt}: ${d} in [${min}, ${max}]`);
  }
});
