// Service worker of the SecureCam Hub browser app: shows the hub's Web Push
// alerts and opens the event when one is clicked. A classic script (no
// imports), served from the root so that its scope is the whole app.
//
// A push carries {"securecam": {"type": "event", "event_id"}, "title", "body"}
// (docs/protocol.md, Push payloads), decrypted by the browser.

'use strict';

// notificationOf turns a push's JSON into showNotification's arguments.
function notificationOf(msg) {
  const sc = (msg && msg.securecam) || {};
  const url = sc.type === 'event' && sc.event_id ? `/events/${encodeURIComponent(sc.event_id)}` : '/notifications';
  return {
    title: (msg && msg.title) || 'SecureCam Hub',
    options: {
      body: (msg && msg.body) || '',
      icon: '/icon.svg',
      // One notification per event: a resent alert replaces the first.
      tag: sc.event_id || 'securecam',
      data: { url },
    },
  };
}

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let msg = {};
  try {
    msg = event.data ? event.data.json() : {};
  } catch {
    msg = {};
  }
  const { title, options } = notificationOf(msg);
  event.waitUntil(self.registration.showNotification(title, options));
});

// A click focuses an open tab of the app and has it show the event (the app
// routes the message), or opens a new tab on the event.
self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || '/events';
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((tabs) => {
      const tab = tabs.find((c) => new URL(c.url).origin === self.location.origin);
      if (tab) {
        tab.postMessage({ type: 'securecam.open', url });
        return tab.focus();
      }
      return self.clients.openWindow(url);
    }),
  );
});
