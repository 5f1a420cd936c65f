// A typed use of the chat's contract (chat.ts, generated) over the browser client:
// must compile with `tsc --strict --noEmit`.
import {
  PxlWsClient,
  type ConnectionEvent,
  type Frame,
  type JoinStream,
  type Presence,
  type PresenceStats,
  type StreamPosition,
  type UserPresence,
} from "./pxl-ws.js";
import { typed, type ChatMessage, type Sent, type TypingNotice, type ErrorCode } from "./chat.js";

export async function chat(url: string): Promise<number> {
  const api = typed(new PxlWsClient(url));
  await api.client.connect();
  const joined = await api.request("system", "joinRoom", { roomName: "lobby" });
  const ok: boolean = joined.success;
  const pong: "pong" = await api.request("system", "ping");
  const named = await api.request("chat", "setName", { name: "ada" });
  const name: string = named.name;
  const sent: Sent = await api.request("chat", "send", { room: "lobby", text: "hi" }, { timeout: 500 });
  const typing: undefined = await api.request("chat", "typing", { room: "lobby", typing: true });
  const off = api.on("chat", "message", (m: ChatMessage, frame) => {
    const text: string = m.text;
    const who: string | null = m.userId;
    const at: number = m.at;
    const same: ChatMessage | undefined = frame.data;
    void [text, who, at, same];
  });
  api.on("chat", "typing", (t: TypingNotice) => void t.typing);
  api.on("room", "memberJoined", (p) => void p.clientId);
  api.on("system", "connected", (c) => void c.clientId.length);
  const fired: boolean = api.send("chat", "typing", { room: "lobby", typing: false });
  const code: ErrorCode = "NOT_IN_ROOM";
  off();
  void [ok, pong, name, typing, fired, code];
  return sent.delivered;
}

// Room history and presence over the browser client's own API and the typed contract.
export async function history(url: string): Promise<number> {
  const client = new PxlWsClient(url);
  await client.connect();
  const last: JoinStream | undefined = (await client.joinRoom("lobby", { history: 50 })).data.stream;
  const missed: Frame[] = last ? last.missed : [];
  const first: number | undefined = missed[0]?.stream?.offset;
  const at: StreamPosition | undefined = client.streamPosition("lobby");
  if (at) await client.joinRoom("lobby", { since: { offset: at.offset, epoch: at.epoch } });
  const recovered: boolean | undefined = last?.recovered;
  const unavailable: true | undefined = last?.unavailable;
  client.onEvent((e: ConnectionEvent) => {
    if (e.type === "reconnected") {
      const lost: string[] = e.notRecovered;
      void lost;
    }
  });
  const who: Presence = await client.presence("lobby");
  const names: (string | null)[] = who.members.map((m) => m.username);
  const more: boolean = who.truncated;
  const stats: PresenceStats = await client.presenceStats("lobby");
  client.on<UserPresence>("room", "userJoined", (u) => void u.userId.length);

  const api = typed(client);
  const joined = await api.request("system", "joinRoom", { roomName: "lobby", since: { offset: 3, epoch: "e" } });
  const stream = joined.data?.stream;
  const offset: number | undefined = stream?.offset;
  const again: boolean | undefined = stream?.recovered;
  const frames: number | undefined = stream?.missed.map((f) => f.stream.offset).length;
  await api.request("system", "joinRoom", { roomName: "lobby", history: 10 });
  const p = await api.request("system", "presence", { roomName: "lobby" });
  const members: number = p.count + p.members.length;
  const user: string | undefined = p.members[0]?.userId;
  const s = await api.request("system", "presenceStats", { roomName: "lobby" });
  const users: number = s.users + s.clients;
  api.on("room", "userLeft", (u) => void u.roomName.length);
  api.on("chat", "message", (_m, frame) => void frame.stream?.epoch);
  void [first, recovered, unavailable, names, more, stats, offset, again, frames, members, user];
  return users;
}
