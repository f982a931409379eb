// Snapshots a viewer asked for: the camera answers the snapshot command with
// only "acknowledged" after uploading the frame as a recording, so the viewer
// finds the image among the camera's recordings: the newest image that was not
// there before it asked.

import { api } from './api.js';

const isImage = (r) => (r.content_type || '').startsWith('image/') && r.status === 'available';

// recentRecordingIds lists the ids of the camera's latest recordings.
export async function recentRecordingIds(cameraId) {
  const { items } = await api.listCameraRecordings(cameraId);
  return new Set(items.map((r) => r.id));
}

// newSnapshot returns the newest image recording in items (newest first) whose
// id is not in before, or null.
export function newSnapshot(before, items) {
  return items.find((r) => isImage(r) && !before.has(r.id)) || null;
}

// findSnapshot reads the camera's latest recordings and returns the new
// snapshot, or null.
export async function findSnapshot(cameraId, before) {
  const { items } = await api.listCameraRecordings(cameraId);
  return newSnapshot(before, items);
}

// snapshotFileName names the download: "snapshot-porch-2026-12-02-15-04-05.jpg".
export function snapshotFileName(cameraName, at) {
  const slug = cameraName.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'camera';
  const d = new Date(at);
  const p = (n) => String(n).padStart(2, '0');
  const stamp = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}-${p(d.getHours())}-${p(d.getMinutes())}-${p(d.getSeconds())}`;
  return `snapshot-${slug}-${stamp}.jpg`;
}
