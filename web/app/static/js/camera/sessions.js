// Camera mode, live view: one peer connection per session, each fed the
// camera's stream, answering the viewer's offers (the first one and any ICE
// restart) and relaying candidates. The sessions outlive a reconnection of the
// socket (media is peer to peer) and are resumed when it is back.

import { addCandidate, candidateData, serial } from '../rtc.js';

const FAILED_SESSION_MS = 30_000; // a failed connection waits this long for the viewer's ICE restart

export class Sessions {
  #socket;
  #media; // () => Promise of the stream, or of null if the camera could not start
  #stopped; // () => whether the camera stopped
  #onCount; // (number of sessions) => void
  #sessions = new Map();

  constructor(socket, { media, stopped, onCount }) {
    this.#socket = socket;
    this.#media = media;
    this.#stopped = stopped;
    this.#onCount = onCount;
  }

  // receive handles the live-view messages of the socket.
  receive(msg) {
    const s = this.#sessions.get(msg.session);
    switch (msg.type) {
      case 'stream.requested':
        return this.#accept(msg.session, msg.data);
      case 'webrtc.offer':
        return s?.run(() => this.#answer(msg.session, s.pc, msg.data.sdp));
      case 'webrtc.candidate':
        return s?.run(() => addCandidate(s.pc, msg.data));
      case 'stream.ended':
        return s && this.close(msg.session, null);
    }
  }

  // closeAll closes every session, telling the hub why when endData is set.
  closeAll(endData) {
    for (const id of [...this.#sessions.keys()]) this.close(id, endData);
  }

  // resumeAll tells the hub, after the socket reconnected, that the camera is
  // back in each of its sessions (stream.resume), and closes those that ended
  // meanwhile.
  resumeAll() {
    for (const id of this.#sessions.keys()) this.#resume(id);
  }

  async #resume(session) {
    let ack;
    try {
      ack = await this.#socket.request('stream.resume', {}, session);
    } catch (err) {
      // A hub that does not know stream.resume ended the session when the socket went.
      if (err.code === 'unknown_type' || err.code === 'not_found') this.close(session, null);
      return; // disconnected again: the next open resumes again
    }
    const s = this.#sessions.get(session);
    if (!s) return;
    if (ack.status === 'ended' || ack.status === 'failed') return this.close(session, null);
    // The peers may have connected while the socket was away.
    if (ack.status !== 'live' && s.connected) this.#socket.send('stream.connected', {}, session);
  }

  // replaceTrack swaps the track every session sends (another camera).
  async replaceTrack(current, track) {
    for (const { pc } of this.#sessions.values()) {
      const sender = pc.getSenders().find((s) => s.track === current);
      await sender?.replaceTrack(track);
    }
  }

  // A request that comes while the camera is still starting waits for it.
  async #accept(session, data) {
    if (!session || this.#sessions.has(session)) return;
    const stream = await this.#media();
    if (this.#stopped() || this.#sessions.has(session)) return;
    if (!stream) {
      this.#socket.send('stream.decline', { reason: 'camera_unavailable' }, session);
      return;
    }
    const pc = new RTCPeerConnection({ iceServers: data.ice_servers || [] });
    for (const track of stream.getTracks()) pc.addTrack(track, stream);
    const s = { pc, run: serial((err) => console.warn('camera signaling', err)), connected: false, failTimer: 0 };
    pc.onicecandidate = (e) => this.#socket.send('webrtc.candidate', candidateData(e.candidate), session);
    pc.onconnectionstatechange = () => {
      clearTimeout(s.failTimer);
      if (pc.connectionState === 'connected' && !s.connected) {
        s.connected = true;
        this.#socket.send('stream.connected', {}, session);
      } else if (pc.connectionState === 'failed' || pc.connectionState === 'disconnected') {
        s.failTimer = setTimeout(() => this.close(session, { reason: 'disconnected' }), FAILED_SESSION_MS);
      }
    };
    this.#sessions.set(session, s);
    this.#onCount(this.#sessions.size);
    this.#socket.send('stream.accept', {}, session);
  }

  // The first offer and any ICE-restart offer get an answer on the same connection.
  async #answer(session, pc, sdp) {
    await pc.setRemoteDescription({ type: 'offer', sdp });
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    this.#socket.send('webrtc.answer', { sdp: answer.sdp }, session);
  }

  // close ends one session, telling the hub why when endData is set.
  close(session, endData) {
    const s = this.#sessions.get(session);
    if (!s) return;
    clearTimeout(s.failTimer);
    if (endData) this.#socket.send('stream.end', endData, session);
    s.pc.close();
    this.#sessions.delete(session);
    this.#onCount(this.#sessions.size);
  }
}
