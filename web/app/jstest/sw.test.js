// Unit tests of the service worker (static/sw.js, a classic script run here
// in a VM context with a fake `self`) and of the Web Push helpers:
// `node --test web/app/jstest`.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import vm from 'node:vm';
import { keyBytes, sameKey } from '../static/js/webpush.js';

// loadWorker runs sw.js against fakes of the worker's globals and returns
// them with a dispatch(type, event) that awaits the event's waitUntil.
function loadWorker(tabs = []) {
  const listeners = {};
  const shown = [];
  const opened = [];
  const self = {
    location: new URL('https://hub.example.net/sw.js'),
    addEventListener: (type, fn) => (listeners[type] = fn),
    skipWaiting: () => {},
    registration: { showNotification: async (title, options) => shown.push({ title, options }) },
    clients: {
      claim: async () => {},
      matchAll: async () => tabs,
      openWindow: async (url) => opened.push(url),
    },
  };
  vm.runInNewContext(readFileSync(new URL('../static/sw.js', import.meta.url), 'utf8'), { self, URL });
  const dispatch = async (type, event) => {
    let wait = Promise.resolve();
    listeners[type]({ ...event, waitUntil: (p) => (wait = p) });
    await wait;
  };
  return { dispatch, shown, opened };
}

const eventPush = (msg) => ({ data: { json: () => msg } });

test('a push of an event shows its title and body, tagged with the event', async () => {
  const w = loadWorker();
  await w.dispatch('push', eventPush({ securecam: { type: 'event', event_id: 'e1' }, title: 'Motion detected', body: 'Front door' }));
  assert.equal(w.shown.length, 1);
  assert.equal(w.shown[0].title, 'Motion detected');
  assert.equal(w.shown[0].options.body, 'Front door');
  assert.equal(w.shown[0].options.tag, 'e1');
  assert.equal(w.shown[0].options.data.url, '/events/e1');
});

test('a push that is not JSON still shows a notification (browsers require one)', async () => {
  const w = loadWorker();
  await w.dispatch('push', { data: { json: () => JSON.parse('not json') } });
  assert.equal(w.shown.length, 1);
  assert.equal(w.shown[0].title, 'SecureCam Hub');
  assert.equal(w.shown[0].options.data.url, '/notifications');
});

test('clicking opens the event: in an open tab of the app, else in a new one', async () => {
  const closed = [];
  const notification = { data: { url: '/events/e1' }, close: () => closed.push(true) };
  const w = loadWorker();
  await w.dispatch('notificationclick', { notification });
  assert.deepEqual(w.opened, ['/events/e1']);
  assert.equal(closed.length, 1);

  const posted = [];
  const tab = { url: 'https://hub.example.net/devices', postMessage: (m) => posted.push(m), focus: async () => 'focused' };
  const other = { url: 'https://elsewhere.example.org/', postMessage: () => assert.fail('message to another site'), focus: async () => {} };
  const w2 = loadWorker([other, tab]);
  await w2.dispatch('notificationclick', { notification });
  assert.equal(JSON.stringify(posted), JSON.stringify([{ type: 'securecam.open', url: '/events/e1' }])); // objects of the VM's realm
  assert.deepEqual(w2.opened, []);
});

test('keyBytes decodes base64url with or without padding; sameKey compares', () => {
  assert.deepEqual([...keyBytes('AQID_w')], [1, 2, 3, 255]);
  assert.deepEqual([...keyBytes('AQID_w==')], [1, 2, 3, 255]);
  assert.ok(sameKey(new Uint8Array([1, 2, 3, 255]).buffer, 'AQID_w'));
  assert.ok(!sameKey(new Uint8Array([1, 2, 3]).buffer, 'AQID_w'));
  assert.ok(!sameKey(null, 'AQID_w'));
});
