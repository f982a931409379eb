// LiveView: the viewer's side of one live-view session with one camera
// (PROTOCOL.md, "Live view"). It requests the stream, prepares its offer while
// the camera wakes and accepts, sends it on stream.ready, trickles ICE both
// ways, and recovers by itself (docs/live-view.md, "When signaling reconnects"):
//   - the hub socket reconnects (a hub restart, a drain): the peer connection
//     and the picture live on, since media is peer to peer, and the session is
//     resumed with stream.resume once the socket is back;
//   - the peer connection drops: an ICE restart, then a new session if that
//     does not bring it back;
//   - the session ends for a reason that passes (the camera went offline, a
//     timeout): a new request, with backoff, once the camera is online.

import { addCandidate, candidateData, serial } from './rtc.js';
import { backoffDelay } from './socket.js';

const RESTART_AFTER_MS = 2_000; // "disconnected" this long → ICE restart
const RECOVER_MS = 10_000; // ICE restart not connected by then → new session

// The reasons of stream.ended (and request errors) after which the viewer asks
// again by itself once the camera is online; the others need a person.
export const RETRY_REASONS = new Set([
  'disconnected',
  'camera_offline',
  'camera_unreachable',
  'timeout',
  'camera_stopped',
  'connection_failed',
  'unavailable',
]);

const isOver = (status) => status === 'ended' || status === 'failed';

// Phases reported to onState({phase, reason, session}):
//   waiting      the hub socket is not open yet
//   requesting   stream.request sent (the camera may be waking up)
//   waking       the hub said the camera is being woken by push
//   negotiating  the camera accepted; offer/answer/ICE under way
//   live         media connected
//   recovering   connection lost: ICE restart or new session under way
//   retrying     the session ended (reason says why); a new request goes out
//                once the camera is online, after a backoff
//   ended        over until a person asks again; reason says why
export class LiveView {
  #socket;
  #cameraId;
  #onState;
  #onStream;
  #unsubscribe = [];
  #gen = 0; // bumped whenever a session is torn down; stale async work checks it
  #phase = '';
  #session = null;
  #pc = null;
  #run = null;
  #offer = null;
  #offerSent = false;
  #outbox = [];
  #connectedSent = false;
  #restartTimer = 0;
  #recoverTimer = 0;
  #retryTimer = 0;
  #attempt = 0; // requests in a row since the last live picture
  #cameraOnline = false;

  constructor(socket, cameraId, { onState, onStream }) {
    this.#socket = socket;
    this.#cameraId = cameraId;
    this.#onState = onState;
    this.#onStream = onStream;
  }

  start() {
    this.#unsubscribe = [
      this.#socket.subscribe((msg) => this.#receive(msg)),
      this.#socket.watch((st) => this.#socketChanged(st)),
    ];
    this.#noteHello(this.#socket.hello);
    this.#open();
  }

  stop() {
    this.#unsubscribe.forEach((u) => u());
    clearTimeout(this.#retryTimer);
    this.#teardown({});
  }

  // reconnect starts a fresh session at the user's request.
  reconnect() {
    this.#attempt = 0;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = 0;
    this.#teardown({ reason: 'reconnect' });
    this.#open();
  }

  #set(phase, reason) {
    this.#phase = phase;
    this.#onState({ phase, reason, session: this.#session });
  }

  #noteHello(hello) {
    const p = hello?.presence?.find((x) => x.device_id === this.#cameraId);
    if (p) this.#cameraOnline = p.status === 'online';
  }

  #socketChanged(st) {
    switch (st.status) {
      case 'open':
        this.#noteHello(this.#socket.hello);
        if (this.#session) this.#resume();
        else if (this.#phase === 'waiting') this.#open();
        else this.#scheduleRetry();
        break;
      case 'connecting':
      case 'retrying':
        // A live picture plays on while the socket comes back. A session still
        // being set up is ended by the hub when the socket goes: ask again.
        if (this.#session && this.#phase !== 'live' && this.#phase !== 'recovering') {
          this.#teardown(null);
          this.#set('waiting');
        } else if (!this.#session && this.#phase === 'requesting') {
          this.#set('waiting');
        }
        break;
      default: // replaced, forbidden, unauthorized, stopped: this socket is over
        clearTimeout(this.#retryTimer);
        this.#retryTimer = 0;
        this.#teardown(null);
        this.#set('ended', st.status);
    }
  }

  // #resume tells the hub this viewer is back in its session, after the socket
  // reconnected; the hub says where the session is.
  async #resume() {
    const session = this.#session;
    let ack;
    try {
      ack = await this.#socket.request('stream.resume', {}, session);
    } catch (err) {
      // A hub that does not know stream.resume ended the session when the socket went.
      if (session === this.#session && (err.code === 'unknown_type' || err.code === 'not_found')) {
        this.#ended('disconnected');
      }
      return; // disconnected again: the next open resumes again
    }
    if (session !== this.#session) return;
    if (isOver(ack.status)) return this.#ended(ack.reason || 'ended');
    // The peers may have connected while the socket was away.
    if (ack.status !== 'live' && this.#pc?.connectionState === 'connected') {
      this.#socket.send('stream.connected', {}, session);
    }
  }

  async #open() {
    if (!this.#socket.isOpen) return this.#set('waiting');
    const gen = ++this.#gen;
    this.#set('requesting');
    let ack;
    try {
      ack = await this.#socket.request('stream.request', { camera_device_id: this.#cameraId });
    } catch (err) {
      if (gen !== this.#gen) return;
      if (err.code === 'disconnected') this.#set('waiting'); // asked again when the socket is open
      else this.#ended(err.code);
      return;
    }
    if (gen !== this.#gen) {
      this.#socket.send('stream.end', {}, ack.session_id);
      return;
    }
    this.#session = ack.session_id;
    if (ack.status === 'waking') this.#set('waking');
    this.#preparePeer(ack.ice_servers);
  }

  // The offer and ICE gathering start at once, so that stream.ready only has
  // to send what is already there: the first frame comes sooner.
  #preparePeer(iceServers) {
    const pc = new RTCPeerConnection({ iceServers: iceServers || [] });
    const gen = this.#gen;
    this.#pc = pc;
    this.#run = serial((err) => gen === this.#gen && console.warn('live view signaling', err));
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    const stream = new MediaStream();
    pc.ontrack = (e) => {
      stream.addTrack(e.track);
      this.#onStream(stream);
    };
    pc.onicecandidate = (e) => {
      const data = candidateData(e.candidate);
      if (this.#offerSent) this.#socket.send('webrtc.candidate', data, this.#session);
      else this.#outbox.push(data);
    };
    pc.onconnectionstatechange = () => pc === this.#pc && this.#connectionChanged(pc.connectionState);
    this.#offer = pc.createOffer().then(async (offer) => {
      await pc.setLocalDescription(offer);
      return offer.sdp;
    });
  }

  #receive(msg) {
    if (msg.type === 'hello') return this.#noteHello(msg.data);
    if (msg.type === 'presence' && msg.data?.device_id === this.#cameraId) {
      this.#cameraOnline = msg.data.status === 'online';
      return this.#scheduleRetry();
    }
    if (!msg.session || msg.session !== this.#session) return;
    const pc = this.#pc;
    switch (msg.type) {
      case 'stream.ready':
        this.#set('negotiating');
        this.#run(async () => {
          const sdp = await this.#offer;
          this.#socket.send('webrtc.offer', { sdp }, this.#session);
          this.#offerSent = true;
          for (const c of this.#outbox.splice(0)) this.#socket.send('webrtc.candidate', c, this.#session);
        });
        break;
      case 'webrtc.answer':
        this.#run(() => pc.setRemoteDescription({ type: 'answer', sdp: msg.data.sdp }));
        break;
      case 'webrtc.candidate':
        this.#run(() => addCandidate(pc, msg.data));
        break;
      case 'stream.ended':
        this.#ended(msg.data?.reason || 'ended');
        break;
      default:
        if (msg.data?.status === 'waking') this.#set('waking');
    }
  }

  // #ended forgets a session the hub ended, and asks again later when the
  // reason may pass.
  #ended(reason) {
    this.#teardown(null);
    if (!RETRY_REASONS.has(reason)) return this.#set('ended', reason);
    this.#set('retrying', reason);
    this.#scheduleRetry();
  }

  // #scheduleRetry sets the next request of a retrying view going once the
  // camera is online and the socket open.
  #scheduleRetry() {
    if (this.#phase !== 'retrying' || this.#retryTimer || !this.#cameraOnline || !this.#socket.isOpen) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = 0;
      if (this.#phase === 'retrying') this.#open();
    }, backoffDelay(this.#attempt++));
  }

  #connectionChanged(state) {
    switch (state) {
      case 'connected':
        clearTimeout(this.#restartTimer);
        clearTimeout(this.#recoverTimer);
        this.#recoverTimer = 0;
        this.#attempt = 0;
        if (!this.#connectedSent) {
          this.#connectedSent = true;
          this.#socket.send('stream.connected', {}, this.#session);
        }
        this.#set('live');
        break;
      case 'disconnected':
        this.#set('recovering');
        clearTimeout(this.#restartTimer);
        this.#restartTimer = setTimeout(() => this.#restartIce(), RESTART_AFTER_MS);
        break;
      case 'failed':
        this.#restartIce();
        break;
    }
  }

  // After a network change (Wi-Fi ↔ cellular) the old candidate pairs are dead:
  // offer again with new ICE credentials; the camera answers on the same session.
  #restartIce() {
    if (this.#recoverTimer) return;
    const pc = this.#pc;
    this.#set('recovering');
    this.#run(async () => {
      const offer = await pc.createOffer({ iceRestart: true });
      await pc.setLocalDescription(offer);
      this.#socket.send('webrtc.offer', { sdp: offer.sdp }, this.#session);
    });
    this.#recoverTimer = setTimeout(() => {
      this.#recoverTimer = 0;
      this.#teardown({ reason: 'disconnected' });
      this.#set('retrying', 'disconnected');
      this.#scheduleRetry();
    }, RECOVER_MS);
  }

  // teardown forgets the current session; with endData it also tells the hub.
  #teardown(endData) {
    this.#gen++;
    clearTimeout(this.#restartTimer);
    clearTimeout(this.#recoverTimer);
    this.#recoverTimer = 0;
    if (this.#session && endData) this.#socket.send('stream.end', endData, this.#session);
    this.#pc?.close();
    this.#pc = null;
    this.#session = null;
    this.#offer = null;
    this.#offerSent = false;
    this.#outbox = [];
    this.#connectedSent = false;
  }
}
