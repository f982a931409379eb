// REST client of the hub (/api/v1). The browser holds the HttpOnly session
// cookie set at sign-in, so requests carry no token; errors are thrown as
// ApiError built from the problem document.

const BASE = '/api/v1';

class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `Request failed (${status})`);
    this.status = status;
    this.code = problem.code || '';
  }
}

// Friendlier text for codes whose server wording may be terse.
const MESSAGES = {
  invalid_credentials: 'Invalid email or password.',
  rate_limited: 'Too many attempts. Wait a minute and try again.',
  unavailable: 'The hub is busy or restarting. Try again in a moment.',
};

async function request(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(`${BASE}/${path}`, init);
  } catch {
    throw new ApiError(0, { title: 'Cannot reach the hub. Check the network connection.' });
  }
  if (res.status === 204) return null;
  const type = res.headers.get('Content-Type') || '';
  const data = type.includes('json') ? await res.json().catch(() => ({})) : {};
  if (!res.ok) {
    const err = new ApiError(res.status, data);
    if (MESSAGES[err.code]) err.message = MESSAGES[err.code];
    throw err;
  }
  return data;
}

const q = (params) => {
  const s = new URLSearchParams(Object.entries(params).filter(([, v]) => v != null && v !== '')).toString();
  return s ? `?${s}` : '';
};

// sameOrigin keeps the path and query of a hub URL but points it at the origin
// this page was loaded from. The hub builds absolute URLs from its public URL,
// which on a home network often differs from the address a phone uses
// (http://localhost:8080 vs https://192.168.1.20:8443); the cookie only goes to
// the page's own origin.
export function sameOrigin(url) {
  const u = new URL(url, location.href);
  return u.pathname + u.search;
}

export const api = {
  signUp: (email, password, name) => request('POST', 'auth/sign-up', { email, password, name }),
  signIn: (email, password) => request('POST', 'auth/sign-in', { email, password }),
  signOut: () => request('POST', 'auth/sign-out'),
  me: () => request('GET', 'me'),
  requestVerifyEmail: () => request('POST', 'auth/verify-email/request', {}),
  verifyEmail: (token) => request('POST', 'auth/verify-email', { token }),
  requestPasswordReset: (email) => request('POST', 'auth/password-reset/request', { email }),
  resetPassword: (token, password) => request('POST', 'auth/password-reset', { token, password }),

  createDevice: (device) => request('POST', 'devices', device),
  getDevice: (id) => request('GET', `devices/${id}`),
  listDevices: () => request('GET', 'devices?limit=200'),
  updateDevice: (id, patch) => request('PATCH', `devices/${id}`, patch),
  deleteDevice: (id) => request('DELETE', `devices/${id}`),
  createTicket: (deviceId) => request('POST', 'ws-tickets', { device_id: deviceId }),
  webPushKey: () => request('GET', 'webpush/public-key'),

  createLink: (cameraId, clientId) =>
    request('POST', 'device-links', { camera_device_id: cameraId, client_device_id: clientId }),
  listLinks: () => request('GET', 'device-links?limit=200'),
  deleteLink: (id) => request('DELETE', `device-links/${id}`),

  createShare: (email, cameraIds, role) => request('POST', 'shares', { email, camera_device_ids: cameraIds, role }),
  acceptShare: (token) => request('POST', 'shares/accept', { token }),
  listShares: () => request('GET', 'shares?limit=200'),
  listReceivedShares: (status) => request('GET', `shares/received${q({ status, limit: 200 })}`),
  updateShare: (id, role) => request('PATCH', `shares/${id}`, { role }),
  deleteShare: (id) => request('DELETE', `shares/${id}`),

  createEvent: (event) => request('POST', 'events', event),
  endEvent: (id) => request('PATCH', `events/${id}`, { status: 'ended' }),
  listEvents: (cursor, filter = {}) => request('GET', `events${q({ limit: 50, cursor, ...filter })}`),
  listRecordings: (cursor) => request('GET', `recordings${q({ limit: 20, cursor })}`),
  listCameraRecordings: (cameraId) => request('GET', `recordings${q({ camera_device_id: cameraId, limit: 20 })}`),
  recordingContent: (id) => `${BASE}/recordings/${id}/content`,
  deleteRecording: (id) => request('DELETE', `recordings/${id}`),

  // uploadRecording registers a recording then PUTs its bytes to upload_url.
  async uploadRecording(meta, blob) {
    const { upload_url: uploadURL } = await request('POST', 'recordings', meta);
    const res = await fetch(sameOrigin(uploadURL), {
      method: 'PUT',
      credentials: 'same-origin',
      headers: { 'Content-Type': meta.content_type },
      body: blob,
    });
    if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => ({})));
    return res.json();
  },

  // household: another's (its owner's user id) whose camera is shared with this user; omitted: this user's own.
  getArming: (household) => request('GET', household ? `arming?household=${encodeURIComponent(household)}` : 'arming'),
  setArming: (mode, household) => request('PUT', 'arming', household ? { mode, household_id: household } : { mode }),
  setArmingSchedule: (timeZone, rules) => request('PUT', 'arming/schedule', { time_zone: timeZone, rules }),
  getNotificationPrefs: () => request('GET', 'notification-preferences'),
  setQuietHours: (quietHours) => request('PUT', 'notification-preferences', { quiet_hours: quietHours }),

  listNotifications: () => request('GET', 'notifications?unread=true&limit=200'),
  markNotificationRead: (id) => request('POST', `notifications/${id}/read`),
};
