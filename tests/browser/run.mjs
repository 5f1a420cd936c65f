// End-to-end test of the chat example in real headless Chromium, through the pxl-ws
// browser client (/pxl-ws.js): two pages join a room, chat, see each other typing, then
// the server restarts on the same port and both pages reconnect and keep chatting. Bob's
// page also loses its connection while alice sends: it shows what it missed, once.
//
//   cargo build -p example-chat && (cd tests/browser && npm ci && node run.mjs)
//
// Starts target/debug/example-chat itself on a free loopback port (EXAMPLE_CHAT_BIN
// overrides the path), drives /usr/bin/chromium (CHROMIUM overrides it) with
// playwright-core, saves screenshots under artifacts/browser/ (paths printed), and exits
// non-zero on any failure.

import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { CHAT_BIN as BIN, freePort, root, startChat, stopChat } from "../support/chat.mjs";
import { checks } from "../support/check.mjs";
import { openChat } from "./pages.mjs";

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const ARTIFACTS = path.join(root, "artifacts/browser");
const WAIT = 20000; // ms a step may take before it fails

const { check, log, counts } = checks("browser-test");

const startServer = (port, logFile) => startChat({ port, logFile, env: { RUST_LOG: "info" }, wait: WAIT });
const stopServer = (child) => stopChat(child, WAIT);

/** Waits until `page` shows a message from `from` with `text`. */
async function seesMessage(page, from, text) {
  await page.waitForFunction(
    ([from, text]) =>
      [...document.querySelectorAll("#messages li.message")].some(
        (li) => li.querySelector(".from")?.textContent === from && li.querySelector(".text")?.textContent === text,
      ),
    [from, text],
    { timeout: WAIT },
  );
}

async function say(page, text) {
  await page.fill("#message-input", text);
  await page.press("#message-input", "Enter");
  await page.waitForFunction(() => document.querySelector("#message-input").value === "", null, { timeout: WAIT });
}

async function main() {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: build it with cargo build -p example-chat`);
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  mkdirSync(ARTIFACTS, { recursive: true });
  const serverLog = path.join(ARTIFACTS, "example-chat.log");
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  log(`example-chat on ${url} (log: ${serverLog})`);
  let server = await startServer(port, serverLog);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const errors = [];
  let alice, bob;
  try {
    await check("two pages open the chat, set names and join #lobby", async () => {
      alice = await openChat(browser, url, "alice", errors, { wait: WAIT });
      bob = await openChat(browser, url, "bob", errors, { wait: WAIT });
    });
    await check("the page loaded the browser client module", async () => {
      const ok = await alice.evaluate(async () => typeof (await import("/pxl-ws.js")).PxlWsClient === "function");
      if (!ok) throw new Error("/pxl-ws.js does not export PxlWsClient");
    });
    await check("bob sees alice typing", async () => {
      await alice.focus("#message-input");
      await alice.keyboard.type("hel");
      await bob.waitForFunction(
        () => !document.querySelector("#typing").hidden && document.querySelector("#typing").textContent === "alice is typing…",
        null,
        { timeout: WAIT },
      );
    });
    await check("alice sends, bob sees the message", async () => {
      await say(alice, "hello from alice");
      await seesMessage(bob, "alice", "hello from alice");
      await seesMessage(alice, "alice", "hello from alice");
    });
    await check("the typing indicator goes away after the message", async () => {
      await bob.waitForFunction(() => document.querySelector("#typing").hidden, null, { timeout: WAIT });
    });

    await check("the page lists the room's members from presence", async () => {
      for (const page of [alice, bob]) {
        await page.waitForFunction(
          () => {
            const names = [...document.querySelectorAll("#members-list li")].map((li) => li.textContent);
            return names.includes("alice") && names.includes("bob");
          },
          null,
          { timeout: WAIT },
        );
      }
    });
    await check("bob's page loses its connection while alice sends three messages, then shows all three exactly once", async () => {
      // Cut bob's socket from inside the page (as a network drop would): the client
      // reconnects by itself and resumes #lobby from the last position it saw.
      await bob.evaluate(() => window.__pxlClient._ws.close(4000, "network drop"));
      await bob.waitForSelector('#status[data-state="offline"]', { timeout: WAIT });
      for (const text of ["missed one", "missed two", "missed three"]) await say(alice, text);
      await bob.waitForSelector('#status[data-state="online"]', { timeout: WAIT });
      for (const text of ["missed one", "missed two", "missed three"]) await seesMessage(bob, "alice", text);
      // Resuming is not instant: give any duplicate a moment to show up before counting.
      await say(alice, "after the drop");
      await seesMessage(bob, "alice", "after the drop");
      const counts = await bob.evaluate(() => {
        const texts = [...document.querySelectorAll("#messages li.message .text")].map((t) => t.textContent);
        return ["missed one", "missed two", "missed three", "after the drop", "hello from alice"].map((t) => texts.filter((x) => x === t).length);
      });
      if (counts.some((n) => n !== 1)) throw new Error(`each message should show once, counts: ${JSON.stringify(counts)}`);
    });
    await check("a page that joins later sees the room's history", async () => {
      const carol = await openChat(browser, url, "carol", errors, { wait: WAIT });
      await seesMessage(carol, "alice", "missed two");
      await seesMessage(carol, "alice", "hello from alice");
      await carol.context().close();
    });
    await check("the server stops (SIGTERM) and both pages show offline", async () => {
      const r = await stopServer(server);
      if (r.code !== 0) throw new Error(`example-chat exited with ${JSON.stringify(r)}`);
      for (const page of [alice, bob]) {
        await page.waitForSelector('#status[data-state="offline"]', { timeout: WAIT });
      }
    });
    await check("while the server is down, a new client's connect() rejects instead of hanging", async () => {
      const result = await alice.evaluate(async (port) => {
        const { PxlWsClient } = await import("/pxl-ws.js");
        const c = new PxlWsClient(`ws://127.0.0.1:${port}/ws`, { connectTimeout: 5000 });
        try {
          await c.connect();
          return "connected";
        } catch (e) {
          return `${e.code} ${c.state}`;
        }
      }, port);
      if (result !== "CONNECT_FAILED closed") throw new Error(`expected "CONNECT_FAILED closed", got "${result}"`);
    });
    await check("the server restarts on the same port and both pages reconnect and rejoin #lobby", async () => {
      server = await startServer(port, serverLog);
      for (const page of [alice, bob]) {
        await page.waitForSelector('#status[data-state="online"]', { timeout: WAIT });
        await page.waitForFunction(
          () => [...document.querySelectorAll("#messages li.notice")].some((li) => li.textContent === "Reconnected"),
          null,
          { timeout: WAIT },
        );
        await page.waitForSelector('#rooms-list li[data-room="lobby"]', { timeout: WAIT });
      }
    });
    await check("after the restart bob sends, alice sees it (names restored)", async () => {
      await say(bob, "still here after the restart");
      await seesMessage(alice, "bob", "still here after the restart");
      await seesMessage(bob, "bob", "still here after the restart");
    });
    await check("after the restart alice sees bob typing, then his reply", async () => {
      await bob.focus("#message-input");
      await bob.keyboard.type("and");
      await alice.waitForFunction(
        () => document.querySelector("#typing").textContent === "bob is typing…",
        null,
        { timeout: WAIT },
      );
      await bob.keyboard.type(" again");
      await bob.press("#message-input", "Enter");
      await seesMessage(alice, "bob", "and again");
    });
    await check("no error is shown and no script error happened", async () => {
      for (const [name, page] of [["alice", alice], ["bob", bob]]) {
        const shown = await page.evaluate(() => (document.querySelector("#error").hidden ? "" : document.querySelector("#error").textContent));
        if (shown) throw new Error(`${name} shows the error "${shown}"`);
      }
      if (errors.length) throw new Error(errors.join("; "));
    });
  } finally {
    for (const [name, page] of [["alice", alice], ["bob", bob]]) {
      if (!page) continue;
      const file = path.join(ARTIFACTS, `chat-${name}.png`);
      await page.screenshot({ path: file }).then(
        () => log(`screenshot: ${file}`),
        (e) => log(`no screenshot of ${name}: ${e.message}`),
      );
    }
    await browser.close();
    if (server.exitCode === null) await stopServer(server).catch(() => server.kill("SIGKILL"));
  }
}

main()
  .catch((e) => {
    if (!counts.failed) counts.failed++;
    log(`error: ${e.stack || e.message}`);
  })
  .finally(() => {
    console.log(`browser: ${counts.passed} passed, ${counts.failed} failed`);
    process.exit(counts.failed ? 1 : 0);
  });
