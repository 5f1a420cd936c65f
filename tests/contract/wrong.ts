// Deliberately wrong uses of the chat's contract: every line marked `// error` must be
// rejected by `tsc --strict --noEmit` (run.mjs checks each line is reported, and no other).
import { PxlWsClient } from "./pxl-ws.js";
import { typed, type ChatMessage } from "./chat.js";

export async function wrong(url: string): Promise<void> {
  const api = typed(new PxlWsClient(url));
  await api.request("chat", "send", { room: "lobby" }); // error
  await api.request("chat", "send", { room: 1, text: "hi" }); // error
  await api.request("chat", "shout", { room: "lobby", text: "hi" }); // error
  await api.request("chess", "move", {}); // error
  await api.request("chat", "send"); // error
  const n: string = (await api.request("chat", "send", { room: "r", text: "t" })).delivered; // error
  api.on("chat", "message", (m: ChatMessage) => m.body); // error
  api.on("chat", "mesage", () => {}); // error
  api.on("chat", "typing", (t) => { const s: string = t.typing; void s; }); // error
  await api.request("system", "joinRoom", { room: "lobby" }); // error
  void n;
}

export async function wrongHistory(url: string): Promise<void> {
  const client = new PxlWsClient(url);
  await client.joinRoom("lobby", { history: "50" }); // error
  await client.joinRoom("lobby", { since: { offset: 3 } }); // error
  await client.joinRoom("lobby", { since: { offset: "3", epoch: "e" } }); // error
  const c: string = (await client.presence("lobby")).count; // error
  const u: number = (await client.presenceStats("lobby")).roomName; // error
  const api = typed(client);
  await api.request("system", "joinRoom", { roomName: "lobby", history: "10" }); // error
  await api.request("system", "presence", {}); // error
  const m: number = (await api.request("system", "presence", { roomName: "l" })).members; // error
  const r: string = (await api.request("system", "joinRoom", { roomName: "l" })).data?.stream?.recovered; // error
  api.on("room", "userJoined", (p) => void p.clientId); // error
  void [c, u, m, r];
}
