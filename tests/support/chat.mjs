// Starts and stops the chat example (target/debug/example-chat, or EXAMPLE_CHAT_BIN) for
// the Node checks in tests/browser and tests/contract. Node built-ins only, so it needs
// no package of its own.

import { spawn } from "node:child_process";
import { createWriteStream, existsSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const CHAT_BIN = process.env.EXAMPLE_CHAT_BIN || path.join(root, "target/debug/example-chat");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A port free on 127.0.0.1 now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts example-chat on 127.0.0.1:`port` with `env` added, its output appended to
 * `logFile` (or passed through when none); resolves with the child process once it
 * serves /pxl-ws.js, within `wait` ms. The child has `exited` (a promise of
 * {code, signal}) and `base` (`http://127.0.0.1:PORT`).
 */
export async function startChat({ port, env = {}, logFile, wait = 20000 }) {
  if (!existsSync(CHAT_BIN)) throw new Error(`${CHAT_BIN} is missing: build it with cargo build -p example-chat`);
  const child = spawn(CHAT_BIN, [], {
    env: { ...process.env, RUST_LOG: "warn", ...env, PXL_WS_HOST: "127.0.0.1", PXL_WS_PORT: String(port) },
    stdio: ["ignore", logFile ? "pipe" : "ignore", logFile ? "pipe" : "inherit"],
  });
  if (logFile) {
    const out = createWriteStream(logFile, { flags: "a" });
    child.stdout.pipe(out);
    child.stderr.pipe(out);
  }
  child.exited = new Promise((r) => child.once("exit", (code, signal) => r({ code, signal })));
  child.base = `http://127.0.0.1:${port}`;
  const where = logFile ? `; see ${logFile}` : "";
  const deadline = Date.now() + wait;
  while (Date.now() < deadline) {
    const early = await Promise.race([child.exited, sleep(0).then(() => null)]);
    if (early) throw new Error(`example-chat exited early (${JSON.stringify(early)})${where}`);
    try {
      const r = await fetch(`${child.base}/pxl-ws.js`);
      if (r.ok) return child;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  child.kill("SIGKILL");
  throw new Error(`example-chat did not serve within ${wait} ms${where}`);
}

/** SIGTERM, then waits up to `wait` ms for the exit (SIGKILL and an error after that). */
export async function stopChat(child, wait = 20000) {
  child.kill("SIGTERM");
  const r = await Promise.race([child.exited, sleep(wait).then(() => null)]);
  if (!r) {
    child.kill("SIGKILL");
    throw new Error("example-chat did not stop on SIGTERM");
  }
  return r;
}
