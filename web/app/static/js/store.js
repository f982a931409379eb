// App state shared by the screens: the signed-in user, the
// user's devices with live presence and telemetry, links, events, unread
// notifications and the household's arming. One plain object replaced on every change; components read
// it with useAppState() and re-render.

import { useEffect, useReducer } from '../vendor/htm-preact.js';
import { api } from './api.js';
import { NO_FILTER, eventQuery, matchesFilter } from './timeline.js';

let state = {
  authChecked: false,
  user: null,
  devices: [],
  links: [],
  telemetry: {}, // device id → {battery, charging, network, …, at}
  events: [],
  eventsCursor: null,
  eventsFilter: NO_FILTER,
  unread: [],
  arming: null, // GET /api/v1/arming, kept current by arming messages
  sharedArming: {}, // household (owner's user id) → its arming, for the households whose cameras are shared with this user
  announcement: '',
};
const listeners = new Set();

export const getState = () => state;

export function setState(patch) {
  state = { ...state, ...(typeof patch === 'function' ? patch(state) : patch) };
  for (const fn of listeners) fn();
}

export function useAppState() {
  const [, rerender] = useReducer((n) => n + 1, 0);
  useEffect(() => {
    listeners.add(rerender);
    return () => listeners.delete(rerender);
  }, []);
  return state;
}

// announce puts text in the polite aria-live region. A no-break space is
// toggled so that the same message twice is announced twice.
let toggle = false;
export function announce(text) {
  toggle = !toggle;
  setState({ announcement: toggle ? text : `${text}\u00a0` });
}

// ---- session ----

// The last signed-in user stays remembered after sign-out, to fill in the
// sign-in form; device ids are remembered per user and role.
const USER_KEY = 'securecam.user';

export function signedIn(user) {
  localStorage.setItem(USER_KEY, JSON.stringify({ id: user.id, email: user.email, name: user.name }));
  setState({ user, authChecked: true });
}

export function signedOut() {
  setState({ user: null, authChecked: true, devices: [], links: [], telemetry: {}, events: [], eventsCursor: null, eventsFilter: NO_FILTER, unread: [], arming: null, sharedArming: {} });
}

export function rememberedEmail() {
  return JSON.parse(localStorage.getItem(USER_KEY) || 'null')?.email || '';
}

const deviceKey = (user, role) => `securecam.device.${user.id}.${role}`;

// ensureDevice returns this browser's device for the role, re-using the one
// remembered in localStorage while it still exists, else registering anew.
export async function ensureDevice(user, role, name = defaultDeviceName(role)) {
  const id = localStorage.getItem(deviceKey(user, role));
  if (id) {
    try {
      const device = await api.getDevice(id);
      if (device.role === role) return device;
    } catch (err) {
      if (err.status !== 404 && err.status !== 403) throw err;
    }
  }
  const { device } = await api.createDevice({ name, role, platform: 'web' });
  localStorage.setItem(deviceKey(user, role), device.id);
  return device;
}

// hasDevice reports whether this browser remembers a device of the role.
export function hasDevice(user, role) {
  return !!localStorage.getItem(deviceKey(user, role));
}

export function forgetDevice(user, role) {
  localStorage.removeItem(deviceKey(user, role));
}

export function isThisBrowser(deviceId) {
  return !!state.user && ['viewer', 'camera'].some((r) => localStorage.getItem(deviceKey(state.user, r)) === deviceId);
}

// defaultDeviceName says what and where, with a short random tag so that two
// browsers of the same kind differ: "Chrome on Android (camera 7f3a)".
export function defaultDeviceName(role) {
  const ua = navigator.userAgent;
  const browser = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox' : /Chrome\//.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : 'Browser';
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Mac OS/.test(ua) ? 'macOS' : /Windows/.test(ua) ? 'Windows' : /Linux/.test(ua) ? 'Linux' : '';
  const tag = Math.floor(Math.random() * 0x10000).toString(16).padStart(4, '0');
  return `${browser}${os ? ` on ${os}` : ''} (${role} ${tag})`;
}

// ---- data loading ----

export async function refreshDevices() {
  const { items } = await api.listDevices();
  setState({ devices: items });
}

export async function refreshLinks() {
  const { items } = await api.listLinks();
  setState({ links: items });
}

export async function refreshNotifications() {
  const { items } = await api.listNotifications();
  setState({ unread: items.filter((n) => !n.is_read) });
}

// loadEvents reads the first page of events under filter (default: the one in
// use), or with more the next page. The filter applies at once; the answer of
// an older load (another filter, changed meanwhile) is dropped.
let eventsLoads = 0;
export async function loadEvents(more = false, filter = state.eventsFilter) {
  const seq = ++eventsLoads;
  if (!more) setState({ eventsFilter: filter });
  const page = await api.listEvents(more ? state.eventsCursor : undefined, eventQuery(filter));
  if (seq !== eventsLoads) return;
  setState((s) => ({ events: more ? [...s.events, ...page.items] : page.items, eventsCursor: page.next_cursor }));
}

export function deviceName(id) {
  return state.devices.find((d) => d.id === id)?.name || 'Unknown device';
}

function isLinked(cameraId, viewerId) {
  return state.links.some((l) => l.camera_device_id === cameraId && l.client_device_id === viewerId && l.status === 'active');
}

// ensureLink links the camera to this viewer if it is not yet: the owner asked
// to watch it, which is the consent a link records.
export async function ensureLink(cameraId, viewerId) {
  await refreshLinks(); // the list may not be loaded yet on a page opened directly
  if (isLinked(cameraId, viewerId)) return;
  await api.createLink(cameraId, viewerId);
  await refreshLinks();
  announce(`Linked ${deviceName(cameraId)} to this browser.`);
}

const patchDevice = (id, patch) =>
  setState((s) => ({ devices: s.devices.map((d) => (d.id === id ? { ...d, ...patch } : d)) }));

// applyDeviceChange returns the device list after a "device" message: created
// adds, updated replaces the stored fields (live presence stays, the message
// carries the stored status), deleted removes.
export function applyDeviceChange(devices, { change, device }) {
  if (!device?.id) return devices;
  const known = devices.find((x) => x.id === device.id);
  switch (change) {
    case 'created':
      return known ? devices : [device, ...devices];
    case 'updated':
      return known
        ? devices.map((x) => (x.id === device.id ? { ...device, status: x.status, last_seen_at: x.last_seen_at } : x))
        : [device, ...devices];
    case 'deleted':
      return devices.filter((x) => x.id !== device.id);
    default:
      return devices;
  }
}

// refreshArming reads the household's arming.
export async function refreshArming() {
  setState({ arming: await api.getArming() });
}

// connectState keeps the shared state current from the socket's messages.
// It returns the function that disconnects it.
export function connectState(socket) {
  const warn = (what) => (err) => console.warn(what, err);
  return socket.subscribe((msg) => {
    const d = msg.data || {};
    const about = msg.type === 'presence' ? d.device_id : msg.type === 'event' ? d.device_id : msg.from;
    if (about && !state.devices.some((x) => x.id === about)) refreshDevices().catch(warn('devices'));
    switch (msg.type) {
      case 'hello':
        for (const p of d.presence || []) patchDevice(p.device_id, { status: p.status, last_seen_at: p.last_seen_at });
        // this device is online: the list may have been read just before the hub said so
        refreshDevices()
          .then(() => patchDevice(d.device_id, { status: 'online' }))
          .catch(warn('devices'));
        refreshLinks().catch(warn('links'));
        refreshNotifications().catch(warn('notifications'));
        refreshArming().catch(warn('arming'));
        break;
      case 'arming':
        if (d.household_id && state.user && d.household_id !== state.user.id) {
          // another's household, whose camera is shared with this user
          setState((st) => ({ sharedArming: { ...st.sharedArming, [d.household_id]: d } }));
          break;
        }
        setState({ arming: d });
        announce(`Now ${d.mode}${d.source === 'schedule' ? ' (schedule)' : ''}.`);
        break;
      case 'presence': {
        const before = state.devices.find((x) => x.id === d.device_id);
        patchDevice(d.device_id, { status: d.status, last_seen_at: d.last_seen_at });
        if (before && before.status !== d.status) announce(`${before.name} is ${d.status}.`);
        break;
      }
      case 'device':
        setState((s) => ({ devices: applyDeviceChange(s.devices, d) }));
        break;
      case 'telemetry':
        if (msg.from) setState((s) => ({ telemetry: { ...s.telemetry, [msg.from]: { ...d, at: new Date() } } }));
        break;
      case 'event':
        setState((s) =>
          s.events.some((e) => e.id === d.id)
            ? { events: s.events.map((e) => (e.id === d.id ? d : e)) }
            : matchesFilter(d, s.eventsFilter)
              ? { events: [d, ...s.events] }
              : {},
        );
        announce(`${d.title || 'Event'} on ${deviceName(d.device_id)}.`);
        break;
      case 'notification':
        if (!d.is_read) setState((s) => ({ unread: [d, ...s.unread.filter((n) => n.id !== d.id)] }));
        break;
    }
  });
}
