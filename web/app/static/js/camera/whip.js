// Camera mode, relay: when the hub asks (relay.publish {whip_url}) the camera
// publishes its stream once to the hub's relay by WHIP (RFC 9725), whatever the
// number of viewers; the hub serves its relayed viewers from it. The browser has
// no device token: it publishes with its user's session cookie and
// ?device_id= (docs/live-view.md, "Relay, WHIP and WHEP"). The hub asks only
// when it has no publication of this camera, so every ask (one not already
// being served) replaces the previous publication: after a hub restart the
// camera publishes again when the next viewer asks.

import { sameOrigin } from '../api.js';

const GATHER_MS = 3000; // the offer goes with the candidates gathered by then; later ones are trickled
const CONNECT_MS = 20_000; // asks while a publication connects are the same ask

// Publisher holds this camera's one publication to the relay.
export class Publisher {
  #deviceId;
  #media; // () => Promise of the stream, or of null if the camera could not start
  #stopped; // () => whether the camera stopped
  #onChange; // (publishing: boolean) => void
  #pub = null; // {pc, location}
  #busy = false; // an ask is being served
  #ice = null; // {servers, until}: ICE servers from GET /ice-servers or the last answer's Link headers

  constructor(deviceId, { media, stopped, onChange }) {
    this.#deviceId = deviceId;
    this.#media = media;
    this.#stopped = stopped;
    this.#onChange = onChange;
  }

  // receive answers relay.publish.
  async receive(data) {
    if (this.#busy || !data?.whip_url) return;
    this.#busy = true;
    try {
      const stream = await this.#media();
      if (!stream || this.#stopped()) return;
      this.stop(); // the hub has no publication of ours: the old one is dead there
      await this.#publish(data.whip_url, stream);
    } catch (err) {
      console.warn('relay: publish by WHIP', err);
      this.stop();
    } finally {
      this.#busy = false;
    }
  }

  async #publish(whipURL, stream) {
    const pc = new RTCPeerConnection({ iceServers: await this.#iceServers() });
    const pub = { pc, location: '', pending: [] };
    this.#pub = pub;
    for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
    pc.onicecandidate = (e) => e.candidate?.candidate && this.#trickle(pub, e.candidate);
    const connected = connectedOrFailed(pc);
    pc.onconnectionstatechange = () => {
      const st = pc.connectionState;
      if (this.#pub === pub) this.#onChange(st === 'connected');
      if (st === 'failed' && this.#pub === pub) this.stop(); // the next ask publishes again
    };
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, GATHER_MS);
    const res = await fetch(whipEndpoint(whipURL, this.#deviceId), {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/sdp' },
      body: pc.localDescription.sdp,
    });
    if (res.status !== 201) throw new Error(`POST ${whipURL}: ${res.status} ${await res.text()}`);
    const servers = parseIceLinks(res.headers.get('Link'));
    if (servers.length) this.#ice = { servers, until: Date.now() + ICE_REUSE_MS };
    const answer = await res.text();
    if (this.#pub !== pub) return; // stopped meanwhile (stop sent no DELETE: no location yet)
    pub.location = sameOrigin(new URL(res.headers.get('Location'), res.url || location.href).href);
    if (this.#stopped()) return this.stop();
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    for (const c of pub.pending.splice(0)) this.#trickle(pub, c);
    await connected;
  }

  // #trickle sends a candidate gathered after the offer (RFC 8840 fragment).
  #trickle(pub, c) {
    if (!pub.location) return pub.pending.push(c);
    const sdp = pub.pc.localDescription.sdp;
    const frag = `${sdpLine(sdp, 'ice-ufrag')}${sdpLine(sdp, 'ice-pwd')}a=mid:${c.sdpMid}\r\na=${c.candidate}\r\n`;
    fetch(pub.location, {
      method: 'PATCH',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/trickle-ice-sdpfrag' },
      body: frag,
    }).catch(() => {});
  }

  // #iceServers: those of the last answer while fresh, else the app's (GET
  // /ice-servers, issued to this camera).
  async #iceServers() {
    if (this.#ice && Date.now() < this.#ice.until) return this.#ice.servers;
    try {
      const res = await fetch(`/api/v1/ice-servers?device_id=${encodeURIComponent(this.#deviceId)}`, { credentials: 'same-origin' });
      if (!res.ok) return [];
      const body = await res.json();
      const servers = body.ice_servers || [];
      this.#ice = { servers, until: Date.now() + Math.min(ICE_REUSE_MS, ((body.ttl_seconds || 0) * 1000) / 2) };
      return servers;
    } catch {
      return []; // host candidates still reach a hub on the same network
    }
  }

  // replaceTrack swaps the track the publication sends (another camera).
  async replaceTrack(current, track) {
    const sender = this.#pub?.pc.getSenders().find((s) => s.track === current);
    await sender?.replaceTrack(track);
  }

  // stop ends the publication, if any (DELETE, which ends its viewers).
  stop() {
    const pub = this.#pub;
    if (!pub) return;
    this.#pub = null;
    pub.pc.close();
    this.#onChange(false);
    if (pub.location) fetch(pub.location, { method: 'DELETE', credentials: 'same-origin', keepalive: true }).catch(() => {});
  }
}

const ICE_REUSE_MS = 30 * 60_000; // TURN credentials live an hour

// whipEndpoint is the hub's WHIP URL on this page's origin (the cookie goes
// there only), publishing as deviceId.
export function whipEndpoint(whipURL, deviceId) {
  const u = new URL(sameOrigin(whipURL), 'http://x');
  u.searchParams.set('device_id', deviceId);
  return u.pathname + u.search;
}

// parseIceLinks reads the ICE servers of a WHIP answer's Link header (RFC 9725
// section 4.6; several headers arrive joined by commas): one RTCIceServer per
// link with rel="ice-server", with its TURN username and credential.
export function parseIceLinks(header) {
  const servers = [];
  if (!header) return servers;
  const link = /<([^>]*)>((?:\s*;\s*[^;,=\s]+(?:\s*=\s*(?:"(?:[^"\\]|\\.)*"|[^;,\s]*))?)*)/g;
  const param = /;\s*([^;,=\s]+)(?:\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;,\s]*)))?/g;
  for (const [, url, params] of header.matchAll(link)) {
    const p = {};
    for (const [, k, quoted, bare] of params.matchAll(param)) {
      p[k.toLowerCase()] = quoted !== undefined ? quoted.replace(/\\(.)/g, '$1') : (bare ?? '');
    }
    if (!(p.rel || '').split(/\s+/).includes('ice-server')) continue;
    const s = { urls: url };
    if (p.username !== undefined) s.username = p.username;
    if (p.credential !== undefined) s.credential = p.credential;
    servers.push(s);
  }
  return servers;
}

function sdpLine(sdp, key) {
  const m = sdp.match(new RegExp(`^a=${key}:(.*)$`, 'm'));
  return m ? `a=${key}:${m[1].trim()}\r\n` : '';
}

// gathered resolves when ICE gathering completes, or after ms.
function gathered(pc, ms) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

// connectedOrFailed resolves once the connection is up or down (or after
// CONNECT_MS): until then further asks are the same ask.
function connectedOrFailed(pc) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, CONNECT_MS);
    pc.addEventListener('connectionstatechange', () => {
      if (['connected', 'failed', 'closed'].includes(pc.connectionState)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}
