// Pure helpers of the events timeline: the filter as query parameters and as
// a test for events arriving live, and how long an event lasted.

// A filter is {camera, type, day}: a camera id, a trigger, a local date
// ("2026-12-02"); empty strings mean any.
export const NO_FILTER = { camera: '', type: '', day: '' };

// dayBounds returns the start and end of a local day as Dates, or null.
function dayBounds(day) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day || '');
  if (!m) return null;
  const start = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  const end = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + 1);
  return [start, end];
}

// eventQuery turns a filter into GET /events parameters.
export function eventQuery(f = NO_FILTER) {
  const q = {};
  if (f.camera) q.device_id = f.camera;
  if (f.type) q.triggered_by = f.type;
  const day = dayBounds(f.day);
  if (day) [q.since, q.until] = day.map((d) => d.toISOString());
  return q;
}

// matchesFilter says whether an event (from the socket) belongs in the list.
export function matchesFilter(e, f = NO_FILTER) {
  if (f.camera && e.device_id !== f.camera) return false;
  if (f.type && e.triggered_by !== f.type) return false;
  const day = dayBounds(f.day);
  if (day) {
    const t = new Date(e.started_at || e.created_at);
    if (!(t >= day[0] && t < day[1])) return false;
  }
  return true;
}

// durationText says how long an event lasted: "45 s", "2 min 5 s", "1 h 3 min",
// or "ongoing".
export function durationText(e) {
  if (!e.ended_at) return 'ongoing';
  const s = Math.max(0, Math.round((new Date(e.ended_at) - new Date(e.started_at || e.created_at)) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  return `${Math.floor(s / 3600)} h${Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)} min` : ''}`;
}
