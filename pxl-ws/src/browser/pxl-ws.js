// pxl-ws browser client: a dependency-free ES module.
//
//   import { PxlWsClient } from "/pxl-ws.js";
//   const client = new PxlWsClient(PxlWsClient.urlFor("/ws"), { token });
//   client.on("chat", "message", (data) => console.log(data.text));
//   await client.connect();                       // rejects if the server cannot be reached
//   await client.joinRoom("lobby");               // rejoined after every reconnect
//   const { delivered } = await client.request("chat", "send", { room: "lobby", text: "hi" });
//
// Served by a pxl-ws server built with `.serve_browser_client(true)` at GET /pxl-ws.js
// (types at /pxl-ws.d.ts). Wire protocol: {type, action, data, id} out; replies
// {type, action, response, id}, errors {type:"error", action:"message", data:{error, code}, id}
// and pushes {type, action, data} in.

/** An error from the server's error frame, or a client-side failure (see `code`). */
export class PxlWsError extends Error {
  constructor(code, message, details = {}) {
    super(message);
    this.name = "PxlWsError";
    /** Server codes (e.g. "UNKNOWN_ROUTE", "NOT_IN_ROOM") or the client's own:
     *  "TIMEOUT", "DISCONNECTED", "NOT_CONNECTED", "CLOSED", "CONNECT_FAILED", "JOIN_REFUSED", "LEAVE_REFUSED". */
    this.code = code;
    /** The other fields of the error frame's `data` (type, action, path, reason, ...). */
    this.details = details;
  }
}

const DEFAULT_RECONNECT = {
  enabled: true,
  initialDelay: 500,
  maxDelay: 30000,
  maxAttempts: Infinity,
  jitter: 0.5,
};

/**
 * The delay before reconnect attempt `attempt` (1-based): min(initial · 2^(attempt−1), max),
 * less a random part of up to `jitter` (0 to 1) of it.
 */
export function backoffDelay(policy, attempt, random = Math.random()) {
  const base = Math.min(policy.maxDelay, policy.initialDelay * 2 ** Math.min(attempt - 1, 30));
  return Math.round(base * (1 - Math.min(1, Math.max(0, policy.jitter)) * random));
}

export class PxlWsClient {
  /** `ws(s)://<this page's host><path>`. */
  static urlFor(path = "/ws") {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${location.host}${path}`;
  }

  /**
   * @param {string} url  ws:// or wss:// URL of the socket
   * @param {object} [options]  token, connectTimeout, requestTimeout, reconnect,
   *   retryFirstConnect, onReconnect (see pxl-ws.d.ts)
   */
  constructor(url, options = {}) {
    if (!/^wss?:\/\//.test(url)) throw new PxlWsError("INVALID_URL", `the URL must start with ws:// or wss://, got "${url}"`);
    this.url = url;
    if (options.token) this.url += (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(options.token);
    this.connectTimeout = options.connectTimeout ?? 10000;
    this.requestTimeout = options.requestTimeout ?? 30000;
    this.reconnectPolicy = { ...DEFAULT_RECONNECT, ...(options.reconnect || {}) };
    this.retryFirstConnect = !!options.retryFirstConnect;
    this.onReconnect = options.onReconnect || null;
    this.state = "idle";          // idle | connecting | connected | reconnecting | closed
    this.clientId = null;
    this._ws = null;
    this._nextId = 1;
    this._pending = new Map();    // id -> { resolve, reject, timer, type, action }
    this._rooms = new Map();      // room -> joinRoom data (resent after a reconnect)
    this._joining = new Map();    // room -> joinRoom data sent, until the reply
    this._positions = new Map();  // history room -> { offset, epoch } of the last frame seen
    this._handlers = new Map();   // "type/action" -> Set(handler)
    this._frameHandlers = new Set();
    this._eventHandlers = new Set();
    this._attempt = 0;            // reconnect attempts in a row
    this._timer = null;
    this._everConnected = false;
    this._first = null;           // { resolve, reject } of connect()
  }

  /** Rooms joined (and rejoined after a reconnect). */
  get rooms() {
    return [...this._rooms.keys()];
  }

  /**
   * Opens the connection; resolves with the client id once the server sent
   * `system/connected`. Rejects with CONNECT_FAILED when the first connection fails
   * (unless `retryFirstConnect`), instead of waiting forever.
   */
  connect() {
    if (this._first) return this._first.promise;
    let resolve, reject;
    const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
    this._first = { promise, resolve, reject };
    this._open();
    return promise;
  }

  /** Sends {type, action, data, id}; resolves with the reply's `response`, rejects with a PxlWsError. */
  request(type, action, data, { timeout = this.requestTimeout } = {}) {
    return new Promise((resolve, reject) => {
      const id = this._nextId++;
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new PxlWsError("TIMEOUT", `no reply to ${type}/${action} within ${timeout} ms`));
      }, timeout);
      this._pending.set(id, { resolve, reject, timer, type, action });
      try {
        this._sendFrame(type, action, data, id);
      } catch (e) {
        clearTimeout(timer);
        this._pending.delete(id);
        reject(e);
      }
    });
  }

  /** Fire and forget. The frame carries an id, so its reply is never taken for a push. Returns false when not connected. */
  send(type, action, data) {
    try {
      this._sendFrame(type, action, data, this._nextId++);
      return true;
    } catch {
      return false;
    }
  }

  /** Joins a room (system/joinRoom); it is rejoined after every reconnect until left. */
  async joinRoom(roomName, extra = {}) {
    const r = await this.request("system", "joinRoom", { ...extra, roomName });
    if (!r || r.success !== true) throw new PxlWsError("JOIN_REFUSED", (r && r.error) || "could not join", r || {});
    return r;
  }

  /** Leaves a room (system/leaveRoom); it is no longer rejoined. */
  async leaveRoom(roomName) {
    const r = await this.request("system", "leaveRoom", { roomName });
    this._rooms.delete(roomName);
    if (!r || r.success !== true) throw new PxlWsError("LEAVE_REFUSED", (r && r.error) || "could not leave", r || {});
    return r;
  }

  /** Who is in a room across the cluster (system/presence): {roomName, count, members, truncated}. */
  presence(roomName) {
    return this.request("system", "presence", { roomName });
  }

  /** How many connections and users are in a room (system/presenceStats): {roomName, clients, users}. */
  presenceStats(roomName) {
    return this.request("system", "presenceStats", { roomName });
  }

  /** Calls handler(data, frame) for pushes of this type/action. Returns a function that unsubscribes. */
  on(type, action, handler) {
    const key = `${type}/${action}`;
    if (!this._handlers.has(key)) this._handlers.set(key, new Set());
    this._handlers.get(key).add(handler);
    return () => this._handlers.get(key)?.delete(handler);
  }

  /** Calls handler(frame) for every frame that is not the answer to a request(). */
  onFrame(handler) {
    this._frameHandlers.add(handler);
    return () => this._frameHandlers.delete(handler);
  }

  /**
   * Calls handler(event) for connection events: {type: "state", state}, "connected" {clientId},
   * "disconnected" {code, reason}, "reconnecting" {attempt, delay}, "reconnectAttemptFailed"
   * {attempt}, "reconnected" {clientId, rooms}, "rejoinFailed" {room, error},
   * "reconnectFailed" {attempts}, "closed".
   */
  onEvent(handler) {
    this._eventHandlers.add(handler);
    return () => this._eventHandlers.delete(handler);
  }

  /** Closes for good: no more reconnects; pending requests reject with DISCONNECTED. */
  close() {
    clearTimeout(this._timer);
    const ws = this._ws;
    this._finish();
    if (ws && ws.readyState <= 1) ws.close(1000, "client closed");
  }

  // ---- internals ------------------------------------------------------------------

  _emit(event) {
    for (const h of [...this._eventHandlers]) {
      try { h(event); } catch (e) { console.error("pxl-ws: event handler failed", e); }
    }
  }

  _setState(state) {
    if (this.state === state) return;
    this.state = state;
    this._emit({ type: "state", state });
  }

  _sendFrame(type, action, data, id) {
    if (this.state === "closed") throw new PxlWsError("CLOSED", "the client is closed");
    if (!this._ws || this._ws.readyState !== 1 || !this.clientId) throw new PxlWsError("NOT_CONNECTED", "not connected");
    if (type === "system" && action === "joinRoom" && data && typeof data.roomName === "string") {
      this._joining.set(data.roomName, data);
    }
    this._ws.send(JSON.stringify({ type, action, data, id }));
  }

  _open() {
    this._setState(this._everConnected ? "reconnecting" : "connecting");
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this._attemptFailed(`could not open the socket: ${e.message}`);
      return;
    }
    this._ws = ws;
    this.clientId = null;
    const connectTimer = setTimeout(() => {
      if (!this.clientId && ws.readyState <= 1) ws.close(4000, "connect timeout");
    }, this.connectTimeout);
    ws.onmessage = (ev) => this._onMessage(ws, ev.data);
    ws.onclose = (ev) => {
      clearTimeout(connectTimer);
      if (this._ws !== ws) return;
      this._ws = null;
      const wasConnected = !!this.clientId;
      this.clientId = null;
      this._failPending();
      if (this.state === "closed") return;
      if (wasConnected) {
        this._emit({ type: "disconnected", code: ev.code, reason: ev.reason });
        this._scheduleReconnect();
      } else {
        this._attemptFailed(`the connection closed before system/connected (code ${ev.code})`);
      }
    };
  }

  _attemptFailed(error) {
    if (!this._everConnected && !this.retryFirstConnect) {
      this._first?.reject(new PxlWsError("CONNECT_FAILED", error));
      this._finish();
      return;
    }
    if (this._attempt > 0) this._emit({ type: "reconnectAttemptFailed", attempt: this._attempt, error });
    this._scheduleReconnect();
  }

  _scheduleReconnect() {
    const p = this.reconnectPolicy;
    if (!p.enabled) return this._finish();
    this._attempt++;
    if (this._attempt > p.maxAttempts) {
      this._emit({ type: "reconnectFailed", attempts: this._attempt - 1 });
      if (!this._everConnected) this._first?.reject(new PxlWsError("CONNECT_FAILED", "every connect attempt failed"));
      return this._finish();
    }
    const delay = backoffDelay(p, this._attempt);
    this._setState("reconnecting");
    this._emit({ type: "reconnecting", attempt: this._attempt, delay });
    this._timer = setTimeout(() => this._open(), delay);
  }

  _finish() {
    if (this.state === "closed") return;
    clearTimeout(this._timer);
    this._failPending();
    this._setState("closed");
    this._emit({ type: "closed" });
  }

  _failPending() {
    for (const [, p] of this._pending) {
      clearTimeout(p.timer);
      p.reject(new PxlWsError("DISCONNECTED", `the connection was lost before the reply to ${p.type}/${p.action}`));
    }
    this._pending.clear();
    this._joining.clear();
  }

  async _onConnected(ws, clientId) {
    this.clientId = clientId;
    const reconnect = this._everConnected;
    if (!reconnect) {
      this._everConnected = true;
      this._attempt = 0;
      this._setState("connected");
      this._emit({ type: "connected", clientId });
      this._first?.resolve(clientId);
      return;
    }
    // A reconnect: the app's hook first (e.g. restore a display name), then the rooms.
    try {
      if (this.onReconnect) await this.onReconnect(this);
    } catch (e) {
      console.warn("pxl-ws: onReconnect failed", e);
    }
    const rejoined = [];
    const notRecovered = [];
    for (const [room, stored] of [...this._rooms]) {
      if (this._ws !== ws) return;
      try {
        // A history room resumes after the last frame seen.
        const data = { ...stored };
        const since = this._positions.get(room);
        if (since) { delete data.history; data.since = { offset: since.offset, epoch: since.epoch }; }
        const r = await this.request("system", "joinRoom", data);
        if (!r || r.success !== true) throw new PxlWsError("JOIN_REFUSED", (r && r.error) || "could not rejoin");
        rejoined.push(room);
        if (r.data && r.data.stream && r.data.stream.recovered !== true) notRecovered.push(room);
      } catch (e) {
        if (e.code === "DISCONNECTED" || e.code === "NOT_CONNECTED") return;
        this._rooms.delete(room);
        this._emit({ type: "rejoinFailed", room, error: e.message });
      }
    }
    if (this._ws !== ws) return;
    this._attempt = 0;
    this._setState("connected");
    this._emit({ type: "reconnected", clientId, rooms: rejoined, notRecovered });
  }

  _onMessage(ws, raw) {
    let frame;
    try {
      frame = JSON.parse(typeof raw === "string" ? raw : new TextDecoder().decode(raw));
    } catch {
      console.warn("pxl-ws: ignoring a frame that is not JSON");
      return;
    }
    if (!frame || typeof frame.type !== "string" || typeof frame.action !== "string") {
      console.warn("pxl-ws: ignoring a frame without type/action", frame);
      return;
    }
    if (!this.clientId && frame.type === "system" && frame.action === "connected") {
      this._onConnected(ws, String(frame.data && frame.data.clientId));
    }
    // A frame of a history room already seen (it came with a joinRoom reply): not twice.
    if (frame.stream && !this._advance(frame.stream)) return;
    if (frame.type === "system" && frame.action === "joinRoom") this._replayMissed(frame);
    this._trackRooms(frame);
    if (frame.id !== undefined && this._pending.has(frame.id)) {
      const p = this._pending.get(frame.id);
      this._pending.delete(frame.id);
      clearTimeout(p.timer);
      if (frame.type === "error") {
        const { error, code, ...details } = frame.data || {};
        p.reject(new PxlWsError(code || "ERROR", error || "error", details));
      } else {
        p.resolve(frame.response);
      }
      return;
    }
    this._dispatch(frame);
  }

  _dispatch(frame) {
    for (const h of [...this._frameHandlers]) {
      try { h(frame); } catch (e) { console.error("pxl-ws: frame handler failed", e); }
    }
    // Frames with an id or a response answer something this client sent: not pushes.
    if (frame.id !== undefined || "response" in frame) return;
    for (const h of [...(this._handlers.get(`${frame.type}/${frame.action}`) || [])]) {
      try { h(frame.data, frame); } catch (e) { console.error(`pxl-ws: handler for ${frame.type}/${frame.action} failed`, e); }
    }
  }

  /** The last stream position seen in a history room ({offset, epoch}), or undefined. */
  streamPosition(room) {
    const p = this._positions.get(room);
    return p ? { ...p } : undefined;
  }

  // Moves a room's position to a frame's; false if that frame was seen already.
  _advance({ room, offset, epoch }) {
    if (typeof room !== "string" || typeof offset !== "number") return true;
    const p = this._positions.get(room);
    if (p && p.epoch === epoch && offset <= p.offset) return false;
    this._positions.set(room, { offset, epoch });
    return true;
  }

  // A history room's joinRoom reply: its missed frames are handled as pushes, in order,
  // before the reply resolves the request; then the position moves to the reply's.
  _replayMissed(frame) {
    const r = frame.response;
    const s = r && r.success === true && r.data && r.data.stream;
    const room = r && r.data && r.data.roomName;
    if (!s || typeof room !== "string" || typeof s.offset !== "number") return;
    const p = this._positions.get(room);
    if (p && p.epoch !== s.epoch) this._positions.delete(room);
    for (const m of s.missed || []) {
      if (!m || typeof m.type !== "string" || (m.stream && !this._advance(m.stream))) continue;
      this._dispatch(m);
    }
    const now = this._positions.get(room);
    if (!now || now.epoch !== s.epoch || now.offset < s.offset) {
      this._positions.set(room, { offset: s.offset, epoch: s.epoch });
    }
  }

  _trackRooms(frame) {
    if (frame.type === "system" && frame.action === "joinRoom") {
      const r = frame.response;
      const room = r && r.success === true && r.data && r.data.roomName;
      if (typeof room === "string") {
        this._rooms.set(room, this._joining.get(room) || { roomName: room });
        this._joining.delete(room);
      }
    } else if (frame.type === "user" && frame.action === "leftRoom") {
      const room = frame.data && frame.data.roomName;
      if (typeof room === "string") this._rooms.delete(room);
    }
  }
}
