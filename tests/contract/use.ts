// A typed use of the chat's contract (chat.ts, generated) over the browser client:
// must compile with `tsc --strict --noEmit`.
import { PxlWsClient } from "./pxl-ws.js";
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
