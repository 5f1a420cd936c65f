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
