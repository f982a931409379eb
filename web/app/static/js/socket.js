// The hub socket of one device (PROTOCOL.md, "WebSocket"): a one-time ticket
// from REST, subprotocol securecam.v1, requests matched to ack/error by ref,
// application heartbeats, and reconnection with jittered exponential backoff
// that follows the close codes.

import { api } from './api.js';

const SUBPROTOCOL = 'securecam.v1';

// backoffDelay is the wait before reconnect attempt number `attempt` (0-based):
// an exponential cap from 1 s to 30 s, and a random point in its upper half so
// that a hub restart is not met by every client at the same instant.
export function backoffDelay(attempt, random = Math.random) {
  const cap = Math.min(30_000, 1000 * 2 ** attempt);
  return Math.round(cap / 2 + (random() * cap) / 2);
}

class SocketError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

// Socket states (state.status):
//   connecting   getting a ticket or opening the socket
//   open         hello received; messages flow
//   retrying     waiting state.retryAt before the next attempt
//   replaced     closed 4001: this device connected elsewhere; no reconnect
//   forbidden    closed 4003, or the ticket refused the device: session revoked or device deleted
//   unauthorized the session is gone (ticket got 401): sign in again
//   stopped      stop() was called
export class Socket {
  state = { status: 'connecting' };
  hello = null;
  #deviceId;
  #ws = null;
  #attempt = 0;
  #timer = 0;
  #heartbeat = 0;
  #lastHeard = 0;
  #seq = 0;
  #pending = new Map();
  #subscribers = new Set();
  #watchers = new Set();
  #stopped = false;
  #online = () => {
    if (this.state.status === 'retrying') {
      clearTimeout(this.#timer);
      this.#connect();
    }
  };

  constructor(deviceId) {
    this.#deviceId = deviceId;
  }

  get isOpen() {
    return this.state.status === 'open';
  }

  start() {
    addEventListener('online', this.#online);
    this.#connect();
  }

  stop() {
    this.#stopped = true;
    removeEventListener('online', this.#online);
    clearTimeout(this.#timer);
    clearInterval(this.#heartbeat);
    this.#ws?.close(1000);
    this.#ws = null;
    this.#failPending();
    this.#set({ status: 'stopped' });
  }

  // subscribe calls fn with every message that is not an answer to request().
  subscribe(fn) {
    this.#subscribers.add(fn);
    return () => this.#subscribers.delete(fn);
  }

  // watch calls fn with the new state on every state change.
  watch(fn) {
    this.#watchers.add(fn);
    return () => this.#watchers.delete(fn);
  }

  // send sends a message without an id; false if the socket is not open.
  send(type, data = {}, session) {
    if (!this.isOpen) return false;
    this.#ws.send(JSON.stringify(session ? { type, session, data } : { type, data }));
    return true;
  }

  // request sends a message with an id and resolves with the data of its ack,
  // or rejects with a SocketError carrying the error code.
  request(type, data = {}, session, timeoutMs = 15_000) {
    return new Promise((resolve, reject) => {
      if (!this.isOpen) {
        reject(new SocketError('disconnected', 'Not connected to the hub.'));
        return;
      }
      const id = `m-${++this.#seq}`;
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new SocketError('timeout', 'The hub did not answer in time.'));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      const msg = { type, id, data };
      if (session) msg.session = session;
      this.#ws.send(JSON.stringify(msg));
    });
  }

  #set(state) {
    this.state = state;
    for (const fn of this.#watchers) fn(state);
  }

  async #connect() {
    this.#set({ status: 'connecting' });
    let ticket;
    try {
      ({ ticket } = await api.createTicket(this.#deviceId));
    } catch (err) {
      if (this.#stopped) return;
      if (err.status === 401) return this.#set({ status: 'unauthorized' });
      if (err.status === 403 || err.status === 404) return this.#set({ status: 'forbidden' });
      return this.#retry();
    }
    if (this.#stopped) return;
    const url = `${location.origin.replace(/^http/, 'ws')}/ws?ticket=${encodeURIComponent(ticket)}`;
    const ws = new WebSocket(url, SUBPROTOCOL);
    this.#ws = ws;
    ws.onmessage = (e) => this.#ws === ws && this.#receive(e.data);
    ws.onclose = (e) => this.#ws === ws && this.#closed(e.code);
  }

  #receive(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    this.#lastHeard = Date.now();
    switch (msg.type) {
      case 'hello':
        this.hello = msg.data;
        this.#attempt = 0;
        this.#startHeartbeat(msg.data?.heartbeat_seconds || 25);
        this.#set({ status: 'open' });
        break;
      case 'ping':
        this.#ws.send(JSON.stringify(msg.id ? { type: 'pong', ref: msg.id, data: {} } : { type: 'pong', data: {} }));
        return;
      case 'pong':
        return;
      case 'ack':
      case 'error': {
        const p = this.#pending.get(msg.ref);
        if (!p) break;
        this.#pending.delete(msg.ref);
        clearTimeout(p.timer);
        if (msg.type === 'ack') p.resolve(msg.data || {});
        else p.reject(new SocketError(msg.data?.code || 'error', msg.data?.message));
        return;
      }
    }
    for (const fn of this.#subscribers) fn(msg);
  }

  // A browser cannot see WebSocket pings, and a phone that changed networks
  // can hold a dead socket for minutes: ping the hub and give up on silence.
  #startHeartbeat(seconds) {
    clearInterval(this.#heartbeat);
    this.#heartbeat = setInterval(() => {
      if (Date.now() - this.#lastHeard > seconds * 2500) {
        const ws = this.#ws;
        this.#ws = null;
        ws.close();
        this.#closed(1006);
        return;
      }
      this.#ws.send(JSON.stringify({ type: 'ping', id: `hb-${++this.#seq}`, data: {} }));
    }, seconds * 1000);
  }

  #closed(code) {
    clearInterval(this.#heartbeat);
    this.#ws = null;
    this.#failPending();
    if (this.#stopped) return;
    switch (code) {
      case 4001:
        return this.#set({ status: 'replaced' });
      case 4003:
        return this.#set({ status: 'forbidden' });
      case 1012:
        this.#attempt = 0;
        return this.#retry(Math.round(Math.random() * 1000));
      case 4008:
      case 4029:
        this.#attempt = Math.max(this.#attempt, 3);
    }
    this.#retry();
  }

  #retry(delay = backoffDelay(this.#attempt++)) {
    this.#set({ status: 'retrying', retryAt: Date.now() + delay });
    this.#timer = setTimeout(() => this.#connect(), delay);
  }

  #failPending() {
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(new SocketError('disconnected', 'The connection to the hub was lost.'));
    }
    this.#pending.clear();
  }
}
