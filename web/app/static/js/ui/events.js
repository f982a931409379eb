// Events screen: the timeline of motion (and other) events, newest first,
// with clip playback, and the latest recordings (clips and snapshots).

import { html, useEffect, useRef, useState } from '../../vendor/htm-preact.js';
import { api, sameOrigin } from '../api.js';
import { deviceName, loadEvents, refreshDevices, useAppState } from '../store.js';
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

  // A clip is found through the event's video_url, or a recording naming the event.
  const clipOf = (e) => {
    if (e.video_url) return sameOrigin(e.video_url);
    const r = recordings.items.find((r) => r.event_id === e.id && r.status === 'available');
    return r && api.recordingContent(r.id);
  };

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
    <ol id="events-timeline" class="timeline" aria-labelledby="events-title">
      ${s.events.map((e) => html`<${EventItem} key=${e.id} event=${e} clip=${clipOf(e)} current=${e.id === eventId} />`)}
    </ol>
    ${!s.events.length && !busy && html`<p class="muted">No events yet. Cameras report motion here.</p>`}
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

function EventItem({ event: e, clip, current }) {
  const [playing, setPlaying] = useState(false);
  const camera = deviceName(e.device_id);
  // The event a clicked alert opened (/events/<id>) is scrolled to and marked.
  const ref = useRef(null);
  useEffect(() => {
    if (current) ref.current?.scrollIntoView({ block: 'center' });
  }, [current]);
  return html`
    <li ref=${ref} class=${current ? 'event current' : 'event'} aria-current=${current ? 'true' : undefined} data-event-id=${e.id} data-status=${e.status}>
      <h2>${e.title || 'Event'}</h2>
      <p class="meta">${camera} · <${Time} value=${e.started_at || e.created_at} /> · ${e.triggered_by} · ${e.status === 'ended' ? 'ended' : 'ongoing'}</p>
      ${clip
        ? playing
          ? html`<video
              class="clip"
              src=${clip}
              controls
              autoplay
              playsinline
              onLoadedMetadata=${findDuration}
              aria-label=${`Clip of ${e.title || 'event'} on ${camera}`}
            ></video>`
          : html`<button type="button" class="play" aria-label=${`Play clip of ${e.title || 'event'} on ${camera}`} onClick=${() => setPlaying(true)}>
              Play clip
            </button>`
        : html`<p class="muted">No clip</p>`}
    </li>`;
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
