// LiveView: the viewer's side of one live-view session with one camera
// (PROTOCOL.md, "Live view"). It requests the stream, prepares its offer while
// the camera wakes and accepts, sends it on stream.ready, trickles ICE both
// ways, and recovers: an ICE restart when the connection drops, a new session
// when that does not bring it back, and a new session after the hub socket
// reconnects (the hub ends sessions whose party went away).

import { addCandidate, candidateData, serial } from './rtc.js';

const RESTART_AFTER_MS = 2_000; // "disconnected" this long → ICE restart
const RECOVER_MS = 10_000; // ICE restart not connected by then → new session
const MAX_RENEWALS = 3; // new sessions in a row before giving up

// Phases reported to onState({phase, reason}):
//   waiting      the hub socket is not open yet
//   requesting   stream.request sent (the camera may be waking up)
//   waking       the hub said the camera is being woken by push
//   negotiating  the camera accepted; offer/answer/ICE under way
//   live         media connected
//   recovering   connection lost: ICE restart or new session under way
//   ended        over; reason says why
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
  #renewals = 0;

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
    this.#open();
  }

  stop() {
    this.#unsubscribe.forEach((u) => u());
    this.#teardown({});
  }

  // reconnect starts a fresh session at the user's request.
  reconnect() {
    this.#renewals = 0;
    this.#teardown({ reason: 'reconnect' });
    this.#open();
  }

  #set(phase, reason) {
    this.#phase = phase;
    this.#onState({ phase, reason });
  }

  #socketChanged(st) {
    if (st.status === 'open') {
      if (this.#phase === 'waiting') this.#open();
    } else if (this.#phase !== 'ended' && this.#phase !== 'waiting') {
      this.#teardown(null); // the hub ends the session itself
      this.#set('waiting');
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
      if (gen === this.#gen && err.code !== 'disconnected') this.#set('ended', err.code);
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
      case 'stream.ended': {
        const reason = msg.data?.reason || 'ended';
        this.#teardown(null);
        if (reason === 'disconnected' && this.#renewals++ < MAX_RENEWALS) this.#open();
        else this.#set('ended', reason);
        break;
      }
      default:
        if (msg.data?.status === 'waking') this.#set('waking');
    }
  }

  #connectionChanged(state) {
    switch (state) {
      case 'connected':
        clearTimeout(this.#restartTimer);
        clearTimeout(this.#recoverTimer);
        this.#recoverTimer = 0;
        this.#renewals = 0;
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
      if (this.#renewals++ < MAX_RENEWALS) this.#open();
      else this.#set('ended', 'disconnected');
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
