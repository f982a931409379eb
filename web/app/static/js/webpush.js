// Web Push in this browser: register the service worker (/sw.js), ask for
// permission (only from a click: browsers refuse otherwise), subscribe with
// the hub's VAPID key and store the subscription as this browser device's
// push_token. The hub then sends event alerts here while the app is closed.

import { api } from './api.js';

export function pushSupported() {
  return typeof navigator !== 'undefined' && 'serviceWorker' in navigator &&
    typeof PushManager !== 'undefined' && typeof Notification !== 'undefined';
}

// keyBytes decodes a base64url key for PushManager.subscribe.
export function keyBytes(b64url) {
  const b64 = b64url.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(b64url.length / 4) * 4, '=');
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

// sameKey reports whether a subscription was made with the key (an
// ArrayBuffer from subscription.options) given as base64url.
export function sameKey(buffer, b64url) {
  if (!buffer) return false;
  const a = new Uint8Array(buffer);
  const b = keyBytes(b64url);
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

// pushState says what the browser allows: 'unsupported', 'denied',
// 'default' (not asked yet) or 'granted'.
export function pushState() {
  if (!pushSupported()) return 'unsupported';
  return Notification.permission;
}

export async function registerWorker() {
  await navigator.serviceWorker.register('/sw.js', { scope: '/' });
  return navigator.serviceWorker.ready;
}

// enableAlerts must run from a user gesture (the permission prompt needs one).
export async function enableAlerts(deviceId) {
  if (!pushSupported()) throw new Error('This browser cannot receive push alerts.');
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') {
    throw new Error('Notifications are blocked for this site. Allow them in the browser’s site settings, then try again.');
  }
  const reg = await registerWorker();
  const { public_key: key } = await api.webPushKey();
  let sub = await reg.pushManager.getSubscription();
  if (sub && !sameKey(sub.options && sub.options.applicationServerKey, key)) {
    await sub.unsubscribe(); // made for another hub key: useless now
    sub = null;
  }
  if (!sub) sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
  return api.updateDevice(deviceId, { push_token: JSON.stringify(sub.toJSON()) });
}

export async function disableAlerts(deviceId) {
  if (pushSupported()) {
    const reg = await navigator.serviceWorker.getRegistration('/');
    const sub = reg && (await reg.pushManager.getSubscription());
    if (sub) await sub.unsubscribe();
  }
  return api.updateDevice(deviceId, { push_token: '' });
}

// onOpenRequest calls fn with a URL when the service worker asks the app to
// show something (a clicked notification); it returns the unsubscribe.
export function onOpenRequest(fn) {
  if (!pushSupported()) return () => {};
  const listener = (e) => {
    if (e.data && e.data.type === 'securecam.open' && typeof e.data.url === 'string' && e.data.url.startsWith('/')) fn(e.data.url);
  };
  navigator.serviceWorker.addEventListener('message', listener);
  return () => navigator.serviceWorker.removeEventListener('message', listener);
}
