// Types for the pxl-ws browser client (/pxl-ws.js).

/** Client-side codes, next to the server's codes (UNKNOWN_ROUTE, INVALID_PAYLOAD, app codes, ...). */
export type ClientErrorCode =
  | "TIMEOUT"
  | "DISCONNECTED"
  | "NOT_CONNECTED"
  | "CLOSED"
  | "CONNECT_FAILED"
  | "INVALID_URL"
  | "JOIN_REFUSED"
  | "LEAVE_REFUSED";

/** The server's error frame (`code`, `error` as message, other fields in `details`), or a client-side failure. */
export class PxlWsError extends Error {
  readonly name: "PxlWsError";
  readonly code: ClientErrorCode | string;
  readonly details: Record<string, unknown>;
  constructor(code: string, message: string, details?: Record<string, unknown>);
}

export interface ReconnectPolicy {
  /** Reconnect after a lost connection (default true). */
  enabled: boolean;
  /** Delay before the first attempt, ms (default 500). */
  initialDelay: number;
  /** Longest delay, ms (default 30000). */
  maxDelay: number;
  /** Attempts in a row before giving up (default Infinity). */
  maxAttempts: number;
  /** Largest fraction of a delay taken off at random, 0..1 (default 0.5). */
  jitter: number;
}

export interface ClientOptions {
  /** A JWT, sent as `?token=` (browsers cannot set headers on WebSocket upgrades). */
  token?: string | null;
  /** Time for one connect including `system/connected`, ms (default 10000). */
  connectTimeout?: number;
  /** Time a request waits for its reply, ms (default 30000). */
  requestTimeout?: number;
  reconnect?: Partial<ReconnectPolicy>;
  /** Retry the first connect too, with the reconnect policy (default false: connect() rejects). */
  retryFirstConnect?: boolean;
  /** Runs after every reconnect, before the rooms are rejoined (e.g. to restore a display name). */
  onReconnect?: (client: PxlWsClient) => void | Promise<void>;
}

export type ConnectionState = "idle" | "connecting" | "connected" | "reconnecting" | "closed";

/** A frame as the server sent it. */
export interface Frame<D = unknown, R = unknown> {
  type: string;
  action: string;
  data?: D;
  response?: R;
  id?: string | number;
  /** Frames sent to a history room: their place in the room's stream. */
  stream?: StreamStamp;
}

/** Where a frame sits in a history room's stream. */
export interface StreamStamp {
  room: string;
  offset: number;
  epoch: string;
}

/** A position in a history room's stream: the last frame seen. */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

/** `data.stream` of a system/joinRoom reply in a history room. */
export interface JoinStream {
  offset?: number;
  epoch?: string;
  /** false: the gap could not be filled (older than the history, or another epoch). */
  recovered: boolean;
  /** The frames missed (or the last `history` ones), as sent live; also handled as pushes. */
  missed: Frame[];
  /** Set when the history could not be read. */
  unavailable?: true;
}

/** What joinRoom sends besides the room name; in a history room `since` or `history` (not both). */
export interface JoinRoomOptions {
  /** Resume after this position: the reply's `stream.missed` holds the frames after it. */
  since?: StreamPosition;
  /** The last this many frames of the room's history. */
  history?: number;
  /** Display name. */
  username?: string;
  [field: string]: unknown;
}

/** One connection in a room (system/presence). */
export interface PresenceMember {
  clientId: string;
  /** The user id, or the client id of a connection without one. */
  userId: string;
  username: string | null;
}

/** The `response` of system/presence: across the cluster, at most `rooms.presence_max_members` members listed. */
export interface Presence {
  roomName: string;
  count: number;
  members: PresenceMember[];
  /** More than the listed members are in the room. */
  truncated: boolean;
}

/** The `response` of system/presenceStats. */
export interface PresenceStats {
  roomName: string;
  clients: number;
  users: number;
}

/** The `data` of room/userJoined (a user's first connection joined) and room/userLeft (its last one left). */
export interface UserPresence {
  roomName: string;
  userId: string;
  username: string | null;
}

/** The `data` of room/memberJoined and room/memberLeft (every connection). */
export interface MemberPresence {
  roomName: string;
  clientId: string;
  userId: string | null;
  username: string | null;
}

export type ConnectionEvent =
  | { type: "state"; state: ConnectionState }
  | { type: "connected"; clientId: string }
  | { type: "disconnected"; code: number; reason: string }
  | { type: "reconnecting"; attempt: number; delay: number }
  | { type: "reconnectAttemptFailed"; attempt: number; error: string }
  /** `notRecovered`: the history rooms whose rejoin could not fill the gap (`recovered: false`). */
  | { type: "reconnected"; clientId: string; rooms: string[]; notRecovered: string[] }
  | { type: "rejoinFailed"; room: string; error: string }
  | { type: "reconnectFailed"; attempts: number }
  | { type: "closed" };

/** The `response` of a successful system/joinRoom or system/leaveRoom. */
export interface RoomReply {
  success: true;
  message: string;
  data: Record<string, unknown> & { stream?: JoinStream };
}

export class PxlWsClient {
  /** `ws(s)://<this page's host><path>` (default path "/ws"). */
  static urlFor(path?: string): string;
  constructor(url: string, options?: ClientOptions);
  readonly url: string;
  readonly state: ConnectionState;
  /** The server's id for the current connection (changes with every reconnect). */
  readonly clientId: string | null;
  /** The last position seen in a history room (resumed from on rejoin). */
  streamPosition(room: string): StreamPosition | undefined;
  /** Rooms joined, rejoined after every reconnect. */
  readonly rooms: string[];
  /** Resolves with the client id; rejects with CONNECT_FAILED if the first connect fails (unless retryFirstConnect). */
  connect(): Promise<string>;
  request<R = unknown>(type: string, action: string, data?: unknown, options?: { timeout?: number }): Promise<R>;
  /** Fire and forget; false when not connected. */
  send(type: string, action: string, data?: unknown): boolean;
  /** Joins a room; rejoined after every reconnect (resuming with `since` in a history room) until left. */
  joinRoom(roomName: string, extra?: JoinRoomOptions): Promise<RoomReply>;
  leaveRoom(roomName: string): Promise<RoomReply>;
  /** system/presence: who is in the room. Only members may ask, unless the server decides otherwise. */
  presence(roomName: string): Promise<Presence>;
  /** system/presenceStats: how many connections and users are in the room. */
  presenceStats(roomName: string): Promise<PresenceStats>;
  /** Handler for pushes of one type/action; returns an unsubscribe function. */
  on<D = any>(type: string, action: string, handler: (data: D, frame: Frame<D>) => void): () => void;
  /** Every frame that is not the answer to a request(). */
  onFrame(handler: (frame: Frame) => void): () => void;
  onEvent(handler: (event: ConnectionEvent) => void): () => void;
  close(): void;
}

/** The delay before reconnect attempt `attempt` (1-based), ms. */
export function backoffDelay(policy: ReconnectPolicy, attempt: number, random?: number): number;
