// Events screen: the timeline of motion (and other) events, newest first,
// with clip playback, and the latest recordings (clips and snapshots).

import { html, useEffect, useRef, useState } from '../../vendor/htm-preact.js';
import { api, sameOrigin } from '../api.js';
import { announce, deviceName, loadEvents, refreshDevices, useAppState } from '../store.js';
import { NO_FILTER, durationText } from '../timeline.js';
import { ErrorText, Time, useAction } from './common.js';

// A motion clip is uploaded a few seconds after its motion ends, and nothing
// announces it: while a recent motion event has no clip, look again now and then.
const CLIP_WAIT_MS = 120_000;
const CLIP_POLL_MS = 5_000;

export function EventsPage({ eventId }) {
  const s = useAppState();
  const [recordings, setRecordings] = useState({ items: [], next_cursor: null });
  const [polls, setPolls] = useState(0);
  const reload = async () => {
    const [, page] = await Promise.all([loadEvents(), api.listRecordings()]);
    setRecordings(page);
  };
  const [refresh, { busy, error }] = useAction(() => Promise.all([reload(), refreshDevices()]));
  const [more, moreState] = useAction(() => loadEvents(true));
  const [moreRecordings, moreRecState] = useAction(async () => {
    const page = await api.listRecordings(recordings.next_cursor);
    setRecordings({ items: [...recordings.items, ...page.items], next_cursor: page.next_cursor });
  });
  useEffect(() => {
    refresh();
  }, []);

  // An event's clips: the recordings naming it (a long motion is recorded in
  // several), oldest first; else its video_url, unless that clip was deleted here.
  const [deleted, setDeleted] = useState([]);
  const clipsOf = (e) => {
    const recs = recordings.items.filter(
      (r) => r.event_id === e.id && r.status === 'available' && !(r.content_type || '').startsWith('image/'),
    );
    if (recs.length) return recs.reverse().map((r) => ({ url: api.recordingContent(r.id), recording: r }));
    if (e.video_url && !deleted.some((id) => e.video_url.includes(id))) return [{ url: sameOrigin(e.video_url) }];
    return [];
  };
  const clipOf = (e) => clipsOf(e)[0];
  const removed = (id) => {
    setDeleted((d) => [...d, id]);
    setRecordings((p) => ({ ...p, items: p.items.filter((r) => r.id !== id) }));
  };
  const [filter, filterState] = useAction((f) => loadEvents(false, f));

  useEffect(() => {
    const awaited = (e) =>
      e.triggered_by === 'motion' && !clipOf(e) && Date.now() - new Date(e.started_at || e.created_at) < CLIP_WAIT_MS;
    if (busy || !s.events.some(awaited)) return;
    const t = setTimeout(
      () =>
        reload()
          .catch((err) => console.warn('events', err))
          .finally(() => setPolls((n) => n + 1)),
      CLIP_POLL_MS,
    );
    return () => clearTimeout(t);
  }, [s.events, recordings, busy, polls]);

  return html`
    <div class="section-head">
      <h1 id="events-title">Events</h1>
      <button type="button" disabled=${busy} onClick=${() => refresh()}>Refresh</button>
    </div>
    <${ErrorText} error=${error} />
    <${Filters} value=${s.eventsFilter} cameras=${s.devices.filter((d) => d.role === 'camera')} onChange=${(f) => filter(f)} />
    <${ErrorText} error=${filterState.error} />
    <ol id="events-timeline" class="timeline" aria-labelledby="events-title">
      ${s.events.map(
        (e) => html`<${EventItem} key=${e.id} event=${e} clips=${clipsOf(e)} current=${e.id === eventId} onRemoved=${removed} />`,
      )}
    </ol>
    ${!s.events.length &&
    !busy &&
    html`<p class="muted">${filtered(s.eventsFilter) ? 'No events match these filters.' : 'No events yet. Cameras report motion here.'}</p>`}
    ${s.eventsCursor &&
    html`<button type="button" disabled=${moreState.busy} onClick=${() => more()}>Older events</button>
      <${ErrorText} error=${moreState.error} />`}

    <h2 id="recordings-title">Recordings</h2>
    <ul id="recordings-list" class="cards" aria-labelledby="recordings-title">
      ${recordings.items.map((r) => html`<${RecordingItem} key=${r.id} recording=${r} />`)}
    </ul>
    ${!recordings.items.length && !busy && html`<p class="muted">No recordings yet.</p>`}
    ${recordings.next_cursor &&
    html`<button type="button" disabled=${moreRecState.busy} onClick=${() => moreRecordings()}>Older recordings</button>
      <${ErrorText} error=${moreRecState.error} />`}`;
}

const TYPES = [
  ['motion', 'Motion'],
  ['sound', 'Sound'],
  ['manual', 'Manual'],
  ['camera_offline', 'Camera offline'],
];

const filtered = (f) => !!(f.camera || f.type || f.day);

// Filters narrow the timeline by camera, type and day (on the hub: GET
// /events?device_id=&triggered_by=&since=&until=).
function Filters({ value, cameras, onChange }) {
  const set = (patch) => onChange({ ...value, ...patch });
  return html`<form id="event-filters" class="filters" role="search" aria-label="Filter events" onSubmit=${(e) => e.preventDefault()}>
    <label>Camera
      <select id="filter-camera" value=${value.camera} onChange=${(e) => set({ camera: e.currentTarget.value })}>
        <option value="">All cameras</option>
        ${cameras.map((c) => html`<option value=${c.id}>${c.name}</option>`)}
      </select>
    </label>
    <label>Type
      <select id="filter-type" value=${value.type} onChange=${(e) => set({ type: e.currentTarget.value })}>
        <option value="">All types</option>
        ${TYPES.map(([v, label]) => html`<option value=${v}>${label}</option>`)}
      </select>
    </label>
    <label>Day
      <input type="date" id="filter-day" value=${value.day} onChange=${(e) => set({ day: e.currentTarget.value })} />
    </label>
    ${filtered(value) && html`<button type="button" id="filter-clear" onClick=${() => onChange(NO_FILTER)}>Clear filters</button>`}
  </form>`;
}

function EventItem({ event: e, clips, current, onRemoved }) {
  const camera = deviceName(e.device_id);
  // The event a clicked alert opened (/events/<id>) is scrolled to and marked.
  const ref = useRef(null);
  useEffect(() => {
    if (current) ref.current?.scrollIntoView({ block: 'center' });
  }, [current]);
  return html`
    <li ref=${ref} class=${current ? 'event current' : 'event'} aria-current=${current ? 'true' : undefined} data-event-id=${e.id} data-status=${e.status}>
      <h2>${e.title || 'Event'}</h2>
      <p class="meta">${camera} · <${Time} value=${e.started_at || e.created_at} /> · ${e.triggered_by} · <span class="duration">${e.status === 'ended' ? durationText(e) : 'ongoing'}</span></p>
      ${clips.length
        ? clips.map((c, i) => html`<${Clip} key=${c.url} clip=${c} label=${`${clips.length > 1 ? `clip ${i + 1} of ` : 'clip of '}${e.title || 'event'} on ${camera}`} onRemoved=${onRemoved} />`)
        : html`<p class="muted">No clip</p>`}
    </li>`;
}

// Clip shows a clip's first frame; Play clip plays it inline with the
// browser's controls (scrubber included); Download and Delete act on it.
function Clip({ clip, label, onRemoved }) {
  const [playing, setPlaying] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [remove, removeState] = useAction(async () => {
    await api.deleteRecording(clip.recording.id);
    onRemoved(clip.recording.id);
    announce('Clip deleted.');
  });
  const name = `${label.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')}.${(clip.recording?.content_type || 'video/webm').split('/')[1]}`;
  return html`<div class="clip-item">
    ${playing
      ? html`<video class="clip" src=${clip.url} controls autoplay playsinline onLoadedMetadata=${findDuration} aria-label=${label}></video>`
      : html`<button type="button" class="play" aria-label=${`Play ${label}`} onClick=${() => setPlaying(true)}>
          <video class="thumb" src=${`${clip.url}#t=0.1`} preload="metadata" muted playsinline aria-hidden="true" tabindex="-1"></video>
          <span>Play clip</span>
        </button>`}
    <div class="actions">
      <a class="button" href=${clip.url} download=${name}>Download</a>
      ${clip.recording &&
      (confirming
        ? html`<span role="group" aria-label="Delete this clip?">Delete this clip?
            <button type="button" class="danger" disabled=${removeState.busy} onClick=${() => remove()}>Delete</button>
            <button type="button" onClick=${() => setConfirming(false)}>Cancel</button></span>`
        : html`<button type="button" aria-label=${`Delete ${label}`} onClick=${() => setConfirming(true)}>Delete</button>`)}
    </div>
    <${ErrorText} error=${removeState.error} />
  </div>`;
}

// A clip recorded with MediaRecorder (WebM) does not say how long it is, so
// the player shows no length and cannot seek. Seeking past the end once makes
// the browser find it; then play from the start.
function findDuration(e) {
  const v = e.currentTarget;
  if (v.duration !== Infinity) return;
  v.addEventListener(
    'timeupdate',
    () => {
      v.currentTime = 0;
      v.play().catch(() => {});
    },
    { once: true },
  );
  v.currentTime = Number.MAX_SAFE_INTEGER;
}

function RecordingItem({ recording: r }) {
  const url = api.recordingContent(r.id);
  const camera = deviceName(r.camera_device_id);
  const image = (r.content_type || '').startsWith('image/');
  const ready = r.status === 'available';
  return html`
    <li class="card recording" data-recording-id=${r.id}>
      <p><strong>${image ? 'Snapshot' : 'Clip'}</strong> · ${camera} · <${Time} value=${r.available_at || r.created_at} /></p>
      ${!ready
        ? html`<p class="muted">${r.status}</p>`
        : image
          ? html`<img src=${url} alt=${`Snapshot from ${camera}`} loading="lazy" />`
          : html`<a href=${url} target="_blank" rel="noopener">Open clip</a>`}
    </li>`;
}
