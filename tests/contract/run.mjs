// Validates the chat example's contract with the ecosystem's own tools:
//   - the AsyncAPI 3.0 document it serves at /asyncapi.json, with @asyncapi/parser
//     (the official parser: schema validation plus its spectral rules); any error fails;
//   - the TypeScript it serves at /contract.ts, with `tsc --strict --noEmit` next to the
//     served /pxl-ws.d.ts: use.ts (a typed use of the client) must compile, and every
//     line marked `// error` in wrong.ts must be rejected (and no other line).
// It also checks that `example-chat contract ts` (the documented command) prints the
// same TypeScript as the server serves.
//
//   cargo build -p example-chat && (cd tests/contract && npm ci && node run.mjs)
//
// Starts target/debug/example-chat itself (EXAMPLE_CHAT_BIN overrides the path) with
// PXL_WS_CONTRACT=true on a free loopback port (tests/support/chat.mjs, shared with the
// browser test); exits non-zero on any failure.

import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync, copyFileSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Parser } from "@asyncapi/parser";
import { CHAT_BIN as BIN, freePort, root, startChat, stopChat } from "../support/chat.mjs";
import { checks } from "../support/check.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const TSC = path.join(here, "node_modules/.bin/tsc");
const WORK = path.join(root, "target/contract-check");
const WAIT = 20000;

const { check, log, counts } = checks("contract-test", { stopOnFailure: false });

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

async function get(base, p) {
  const res = await fetch(base + p);
  assert(res.ok, `GET ${p}: ${res.status}`);
  return { type: res.headers.get("content-type"), body: await res.text() };
}

/** `tsc --strict --noEmit` (tsconfig.json) in WORK; returns {status, stdout, stderr}. */
function tsc() {
  return spawnSync(TSC, ["-p", "tsconfig.json"], { cwd: WORK, encoding: "utf8" });
}

function writeTsconfig(files) {
  const base = JSON.parse(readFileSync(path.join(here, "tsconfig.json"), "utf8"));
  base.files = files;
  writeFileSync(path.join(WORK, "tsconfig.json"), JSON.stringify(base, null, 2));
}

const child = await startChat({ port: await freePort(), env: { PXL_WS_CONTRACT: "true" }, wait: WAIT });
const base = child.base;
try {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  const asyncapi = await get(base, "/asyncapi.json");
  const ts = await get(base, "/contract.ts");
  const dts = await get(base, "/pxl-ws.d.ts");
  writeFileSync(path.join(WORK, "asyncapi.json"), asyncapi.body);
  writeFileSync(path.join(WORK, "chat.ts"), ts.body);
  writeFileSync(path.join(WORK, "pxl-ws.d.ts"), dts.body);
  for (const f of ["use.ts", "wrong.ts"]) copyFileSync(path.join(here, f), path.join(WORK, f));

  await check("/asyncapi.json and /contract.ts are served with their media types", async () => {
    assert(asyncapi.type.startsWith("application/json"), `asyncapi: ${asyncapi.type}`);
    assert(ts.type.startsWith("application/typescript"), `contract.ts: ${ts.type}`);
  });

  await check("the AsyncAPI document is valid for @asyncapi/parser", async () => {
    const parser = new Parser();
    const { document, diagnostics } = await parser.parse(asyncapi.body);
    const errors = diagnostics.filter((d) => d.severity === 0);
    for (const d of diagnostics) log(`  diagnostic (severity ${d.severity}) ${d.code}: ${d.message} at ${d.path.join(".")}`);
    assert(document !== undefined && errors.length === 0, `${errors.length} error(s)`);
    const doc = JSON.parse(asyncapi.body);
    assert(document.version() === "3.0.0", `version ${document.version()}`);
    const ops = document.operations();
    assert(ops.length === Object.keys(doc.operations).length, "every operation parsed");
    const send = ops.all().find((o) => o.id() === "action.chat.send");
    assert(send && send.isReceive(), "chat/send is an operation the server receives");
    assert(send.reply() && send.reply().messages().length === 2, "chat/send replies with its reply or the error frame");
    const payload = send.messages().all()[0].payload();
    assert(payload.properties().data.properties().text.type() === "string", "chat/send data.text is a string");
    const push = ops.all().find((o) => o.id() === "push.chat.message");
    assert(push && push.isSend(), "chat/message is a push the server sends");
    const channels = document.channels();
    assert(channels.length === 1 && channels.all()[0].address() === "/ws", "one channel, the socket at /ws");
  });

  await check("`example-chat contract ts` prints what the server serves", async () => {
    const printed = execFileSync(BIN, ["contract", "ts"], { encoding: "utf8", env: { ...process.env, RUST_LOG: "warn" } });
    assert(printed === ts.body, "the command and /contract.ts differ");
  });

  await check("the TypeScript and a typed use compile with tsc --strict --noEmit", async () => {
    writeTsconfig(["chat.ts", "use.ts", "pxl-ws.d.ts"]);
    const r = tsc();
    assert(r.status === 0, `tsc failed:\n${r.stdout}${r.stderr}`);
  });

  await check("every deliberately wrong use is rejected by tsc, and nothing else", async () => {
    writeTsconfig(["chat.ts", "wrong.ts", "pxl-ws.d.ts"]);
    const r = tsc();
    assert(r.status !== 0, "tsc accepted wrong.ts");
    const lines = readFileSync(path.join(WORK, "wrong.ts"), "utf8").split("\n");
    const expected = lines.flatMap((l, i) => (/\/\/ error$/.test(l.trimEnd()) ? [i + 1] : []));
    const reported = new Set(
      [...r.stdout.matchAll(/wrong\.ts\((\d+),\d+\): error/g)].map((m) => Number(m[1])),
    );
    const missing = expected.filter((n) => !reported.has(n));
    const extra = [...reported].filter((n) => !expected.includes(n));
    const other = [...r.stdout.matchAll(/^(?!wrong\.ts)(\S+)\(\d+,\d+\): error/gm)].map((m) => m[1]);
    assert(missing.length === 0, `not rejected: wrong.ts lines ${missing.join(", ")}\n${r.stdout}`);
    assert(extra.length === 0, `unexpected errors at wrong.ts lines ${extra.join(", ")}\n${r.stdout}`);
    assert(other.length === 0, `errors outside wrong.ts: ${other.join(", ")}\n${r.stdout}`);
    log(`  ${expected.length} wrong uses rejected`);
  });
} finally {
  await stopChat(child, WAIT).catch((e) => log(`stop: ${e.message}`));
}

console.log(`${counts.passed} passed, ${counts.failed} failed`);
process.exit(counts.failed === 0 ? 0 : 1);
