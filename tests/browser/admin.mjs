// End-to-end test of the admin dashboard in real headless Chromium: the chat example run
// with PXL_WS_ADMIN_PATH, PXL_WS_ADMIN_TOKEN and PXL_WS_JWT_SECRET (no code change in the
// example), the page at /admin talking to the server's `admin` controller through the
// pxl-ws browser client. The page refuses a visitor without the token or the role (with
// the server's codes), then, opened with a token that has the `admin` role, shows the two
// connected chat pages and their room, updates live when a third joins, and disconnects a
// client from the page (the client sees close 4010). The page must load nothing from the
// network.
//
//   cargo build -p example-chat && (cd tests/browser && npm ci && node admin.mjs)
//
// Screenshots go to artifacts/admin/ (paths printed); exits non-zero on any failure.

import { createHmac, randomBytes } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { CHAT_BIN as BIN, freePort, root, startChat, stopChat } from "../support/chat.mjs";
import { checks } from "../support/check.mjs";
import { newPage, openChat } from "./pages.mjs";

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const ARTIFACTS = path.join(root, "artifacts/admin");
const WAIT = 20000; // ms a step may take before it fails
const SECRET = randomBytes(24).toString("hex");
const ADMIN_TOKEN = randomBytes(16).toString("hex");

const { check, log, counts } = checks("admin-test");

/** An HS256 JWT for `sub` with `roles`, valid for an hour. */
function jwt(sub, roles) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const body = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ sub, roles, iat: now, exp: now + 3600 })}`;
  return `${body}.${createHmac("sha256", SECRET).update(body).digest("base64url")}`;
}

/** The chat example with the dashboard on, signing in by token or by JWT role. */
const startServer = (port, logFile) =>
  startChat({
    port,
    logFile,
    wait: WAIT,
    env: { RUST_LOG: "info", PXL_WS_ADMIN_PATH: "/admin", PXL_WS_ADMIN_TOKEN: ADMIN_TOKEN, PXL_WS_JWT_SECRET: SECRET },
  });

/** The user cells of the non-admin rows in the page's connections table. */
const userRows = (page) =>
  page.$$eval('#clients-table tbody tr[data-admin="false"] td.user', (tds) => tds.map((td) => td.textContent).sort());

async function waitUsers(page, names) {
  await page.waitForFunction(
    (want) => {
      const got = [...document.querySelectorAll('#clients-table tbody tr[data-admin="false"] td.user')].map((td) => td.textContent).sort();
      return JSON.stringify(got) === JSON.stringify(want);
    },
    [...names].sort(),
    { timeout: WAIT },
  );
}

async function waitRoom(page, room, members) {
  await page.waitForFunction(
    ([room, members]) => document.querySelector(`#rooms-table tr[data-room="${room}"] td.members`)?.textContent === String(members),
    [room, members],
    { timeout: WAIT },
  );
}

async function main() {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: build it with cargo build -p example-chat`);
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  mkdirSync(ARTIFACTS, { recursive: true });
  const serverLog = path.join(ARTIFACTS, "example-chat.log");
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  log(`example-chat on ${base}/ with the dashboard at ${base}/admin (log: ${serverLog})`);
  const server = await startServer(port, serverLog);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const errors = [];
  const external = [];
  const shots = [];
  const shot = async (page, name) => {
    const file = path.join(ARTIFACTS, name);
    await page.screenshot({ path: file, fullPage: true });
    shots.push(file);
  };
  try {
    await check("refused without the token or the role, with the server's codes", async () => {
      const page = await newPage(browser, "visitor", errors, { external, viewport: { width: 1280, height: 720 } });
      await page.goto(`${base}/admin`);
      await page.waitForSelector('#state[data-state="refused"]', { timeout: WAIT });
      await page.waitForSelector('#access-message[data-code="UNAUTHENTICATED"]', { timeout: WAIT });
      if (!(await page.isHidden("#dashboard"))) throw new Error("the dashboard is visible to a visitor");
      await page.fill("#token-input", "not-the-admin-token");
      await page.click("#login-button");
      await page.waitForSelector('#access-message[data-code="FORBIDDEN"]', { timeout: WAIT });
      const text = await page.textContent("#access-message");
      if (!text.includes("Wrong admin token")) throw new Error(`unexpected refusal: ${text}`);
      await shot(page, "admin-refused.png");
      await page.context().close();

      const user = await newPage(browser, "user", errors, { external });
      await user.goto(`${base}/admin#token=${jwt("mallory", ["user"])}`);
      await user.waitForSelector('#access-message[data-code="FORBIDDEN"]', { timeout: WAIT });
      const msg = await user.textContent("#access-message");
      if (!msg.includes("`admin` role")) throw new Error(`unexpected refusal: ${msg}`);
      if (!(await user.isHidden("#dashboard"))) throw new Error("the dashboard is visible without the role");
      await user.context().close();
    });

    let alice, bob, carol, admin;
    await check("with the admin role it shows two connected chat clients and their room", async () => {
      alice = await openChat(browser, `${base}/`, "alice", errors, { external, wait: WAIT });
      bob = await openChat(browser, `${base}/`, "bob", errors, { external, wait: WAIT });
      admin = await newPage(browser, "admin", errors, { external, viewport: { width: 1440, height: 900 } });
      await admin.goto(`${base}/admin#token=${jwt("root", ["admin"])}`);
      await admin.waitForSelector('#state[data-state="online"]', { timeout: WAIT });
      await waitUsers(admin, ["alice", "bob"]);
      await waitRoom(admin, "lobby", 2);
      const instances = await admin.$$eval("#instances-table tbody tr", (trs) => trs.length);
      if (instances !== 1) throw new Error(`${instances} instances shown`);
      // The token left the address bar.
      if (admin.url().includes("token=")) throw new Error(`the token is still in the URL: ${admin.url()}`);
      // The chat's routes are listed with counts (setName and joinRoom ran twice).
      await admin.waitForFunction(
        () => document.querySelector('#routes-table tr[data-route="chat/setName"] td.handled')?.textContent === "2",
        null,
        { timeout: WAIT },
      );
      await shot(admin, "admin-two-clients.png");
    });

    await check("updates live when a third client joins", async () => {
      carol = await openChat(browser, `${base}/`, "carol", errors, { external, wait: WAIT });
      await waitUsers(admin, ["alice", "bob", "carol"]);
      await waitRoom(admin, "lobby", 3);
      await admin.waitForFunction(
        () => [...document.querySelectorAll('#tail li[data-kind="join"] .what')].some((w) => w.textContent.endsWith("joined lobby")),
        null,
        { timeout: WAIT },
      );
      await shot(admin, "admin-three-clients.png");
      await admin.emulateMedia({ colorScheme: "dark" });
      await shot(admin, "admin-three-clients-dark.png");
      await admin.emulateMedia({ colorScheme: "light" });
    });

    await check("disconnects a client from the page: it sees close 4010", async () => {
      const carolId = await carol.evaluate(() => {
        window.__closes = [];
        window.__pxlClient.onEvent((ev) => {
          if (ev.type === "disconnected") window.__closes.push({ code: ev.code, reason: ev.reason });
        });
        return window.__pxlClient.clientId;
      });
      const button = `#clients-table tr[data-client-id="${carolId}"] button.disconnect`;
      await admin.click(button); // arms it
      await admin.waitForSelector(`${button}.armed`, { timeout: WAIT });
      await admin.click(button); // confirms
      const closes = await carol.waitForFunction(() => window.__closes.length > 0 && window.__closes, null, { timeout: WAIT });
      const [close] = await closes.jsonValue();
      if (close.code !== 4010 || close.reason !== "disconnected by an administrator") {
        throw new Error(`carol saw ${JSON.stringify(close)}`);
      }
      await admin.waitForSelector(`#clients-table tr[data-client-id="${carolId}"]`, { state: "detached", timeout: WAIT });
      await admin.waitForFunction(
        (id) => [...document.querySelectorAll('#tail li[data-kind="disconnect"] .what')].some((w) => w.textContent.startsWith(id.slice(0, 8)) && w.textContent.includes("4010")),
        carolId,
        { timeout: WAIT },
      );
      await shot(admin, "admin-after-disconnect.png");
    });

    await check("nothing was loaded from the network and no page logged an error", async () => {
      if (external.length) throw new Error(`requests left the machine: ${external.join(", ")}`);
      if (errors.length) throw new Error(errors.join("; "));
    });
  } finally {
    await browser.close().catch(() => {});
    await stopChat(server, WAIT).catch((e) => log(`stop: ${e.message}`));
  }
  for (const s of shots) log(`screenshot: ${s}`);
  log(`${counts.passed} passed, ${counts.failed} failed`);
}

main().then(
  () => process.exit(counts.failed ? 1 : 0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
