// Pages of the chat example for the browser tests (run.mjs, admin.mjs).

/**
 * A page in its own browser context that records its script and console errors in
 * `errors` (not the browser's own log of a refused socket connect, which is expected while
 * a server is down) and, when `external` is given, every request that leaves 127.0.0.1.
 */
export async function newPage(browser, name, errors, { external, viewport = { width: 1000, height: 640 } } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(`${name}: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/^WebSocket connection to .* failed/.test(m.text())) {
      errors.push(`${name} console: ${m.text()}`);
    }
  });
  if (external) {
    page.on("request", (r) => {
      const u = new URL(r.url());
      if (u.hostname !== "127.0.0.1") external.push(`${name}: ${r.url()}`);
    });
  }
  return page;
}

/** A [`newPage`] on the chat at `url`, online, named `name` and in #lobby, each step within `wait` ms. */
export async function openChat(browser, url, name, errors, { external, wait }) {
  const page = await newPage(browser, name, errors, { external });
  await page.goto(url);
  await page.waitForSelector('#status[data-state="online"]', { timeout: wait });
  await page.fill("#name-input", name);
  await page.click("#name-button");
  await page.waitForFunction((n) => document.querySelector("#current-name")?.textContent.includes(n), name, { timeout: wait });
  await page.fill("#room-input", "lobby");
  await page.click("#join-button");
  await page.waitForSelector('#rooms-list li[data-room="lobby"].active', { timeout: wait });
  return page;
}
