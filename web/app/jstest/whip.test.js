// Unit tests of the camera's WHIP publisher with a fake RTCPeerConnection and a
// fake fetch: `node --test web/app/jstest`.
import assert from 'node:assert/strict';
import { test } from 'node:test';

globalThis.location = new URL('https://192.168.1.20:8443/camera');

class FakePC extends EventTarget {
  static all = [];
  connectionState = 'new';
  iceGatheringState = 'new';
  localDescription = null;
  closed = false;
  constructor(config) {
    super();
    this.config = config;
    this.transceivers = [];
    FakePC.all.push(this);
  }
  addTransceiver(track, init) {
    this.transceivers.push({ track, init });
  }
  getSenders() {
    return this.transceivers.map((t) => ({ track: t.track }));
  }
  async createOffer() {
    return { type: 'offer', sdp: 'v=0\r\na=ice-ufrag:uf\r\na=ice-pwd:pw\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n' };
  }
  async setLocalDescription(d) {
    this.localDescription = d;
    this.iceGatheringState = 'complete';
  }
  async setRemoteDescription(d) {
    this.remote = d;
  }
  setState(st) {
    this.connectionState = st;
    this.onconnectionstatechange?.();
    this.dispatchEvent(new Event('connectionstatechange'));
  }
  close() {
    this.closed = true;
  }
}
globalThis.RTCPeerConnection = FakePC;

const calls = [];
let n = 0;
globalThis.fetch = async (url, init = {}) => {
  calls.push({ url, method: init.method || 'GET', body: init.body, headers: init.headers || {} });
  if (url.startsWith('/api/v1/ice-servers')) {
    return new Response(JSON.stringify({ ice_servers: [{ urls: ['stun:s.example'] }], ttl_seconds: 3600 }), { status: 200 });
  }
  if (init.method === 'POST') {
    n++;
    return new Response('answer-sdp', {
      status: 201,
      headers: {
        Location: `/api/v1/whip/s${n}`,
        Link: '<turn:t.example:3478>; rel="ice-server"; username="u"; credential="c"; credential-type="password"',
      },
    });
  }
  return new Response(null, { status: init.method === 'PATCH' ? 204 : 200 });
};

const { Publisher, parseIceLinks, whipEndpoint } = await import('../static/js/camera/whip.js');

test('parseIceLinks reads STUN and TURN servers and skips other links', () => {
  const h =
    '<stun:stun.example.com>; rel="ice-server", <https://x.example/doc>; rel="help", ' +
    '<turn:192.0.2.1:3478?transport=udp>; rel="ice-server"; username="1700000000:dev"; credential="a,b;c=="; credential-type="password", ' +
    '<turns:t.example:5349>; rel=ice-server; username=plain; credential="q\\"uote"';
  assert.deepEqual(parseIceLinks(h), [
    { urls: 'stun:stun.example.com' },
    { urls: 'turn:192.0.2.1:3478?transport=udp', username: '1700000000:dev', credential: 'a,b;c==' },
    { urls: 'turns:t.example:5349', username: 'plain', credential: 'q"uote' },
  ]);
  assert.deepEqual(parseIceLinks(null), []);
  assert.deepEqual(parseIceLinks(''), []);
});

test('whipEndpoint keeps the path on this origin and names the camera', () => {
  assert.equal(whipEndpoint('http://localhost:8080/api/v1/whip', 'cam-1'), '/api/v1/whip?device_id=cam-1');
  assert.equal(whipEndpoint('https://hub/api/v1/whip?x=1', 'c 2'), '/api/v1/whip?x=1&device_id=c+2');
});

test('Publisher publishes once per ask, trickles late candidates, replaces a dead publication and DELETEs on stop', async () => {
  const track = { kind: 'video' };
  const stream = { getTracks: () => [track] };
  const states = [];
  const pub = new Publisher('cam-1', { media: async () => stream, stopped: () => false, onChange: (on) => states.push(on) });

  const first = pub.receive({ whip_url: 'http://hub.local/api/v1/whip' });
  const again = pub.receive({ whip_url: 'http://hub.local/api/v1/whip' }); // a second viewer's ask while connecting
  await again;
  await until(() => FakePC.all[0]?.remote);
  const pc = FakePC.all[0];
  assert.deepEqual(pc.config.iceServers, [{ urls: ['stun:s.example'] }], 'the app ICE servers first');
  assert.deepEqual(pc.transceivers[0].init.direction, 'sendonly');
  const post = calls.find((c) => c.method === 'POST');
  assert.equal(post.url, '/api/v1/whip?device_id=cam-1');
  assert.equal(post.headers['Content-Type'], 'application/sdp');
  assert.equal(pc.remote.sdp, 'answer-sdp');
  pc.onicecandidate({ candidate: { candidate: 'candidate:1 1 udp 1 10.0.0.2 5000 typ host', sdpMid: '0' } });
  await until(() => calls.some((c) => c.method === 'PATCH'));
  const patch = calls.find((c) => c.method === 'PATCH');
  assert.equal(patch.url, '/api/v1/whip/s1');
  assert.equal(patch.body, 'a=ice-ufrag:uf\r\na=ice-pwd:pw\r\na=mid:0\r\na=candidate:1 1 udp 1 10.0.0.2 5000 typ host\r\n');
  pc.setState('connected');
  await first;
  assert.equal(FakePC.all.length, 1, 'one publication for both asks');
  assert.deepEqual(states, [true]);

  // The hub asks again (it restarted and lost the publication): publish anew,
  // with the ICE servers of the last answer.
  const second = pub.receive({ whip_url: 'http://hub.local/api/v1/whip' });
  await until(() => FakePC.all[1]?.remote);
  assert.ok(pc.closed);
  assert.ok(calls.some((c) => c.method === 'DELETE' && c.url === '/api/v1/whip/s1'));
  assert.deepEqual(FakePC.all[1].config.iceServers, [{ urls: 'turn:t.example:3478', username: 'u', credential: 'c' }]);
  FakePC.all[1].setState('connected');
  await second;

  pub.stop();
  assert.ok(FakePC.all[1].closed);
  assert.ok(calls.some((c) => c.method === 'DELETE' && c.url === '/api/v1/whip/s2'));
  assert.deepEqual(states, [true, false, true, false]);
});

async function until(cond) {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 1));
  assert.ok(cond(), 'condition not met');
}
