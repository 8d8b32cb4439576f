// The resource owner in a real browser: headless Chromium opens synaptic's approval page,
// and real mouse clicks (Chrome DevTools Protocol Input.dispatchMouseEvent) fill the login,
// untick scopes and press Approve or Deny. The redirect lands on a local callback server;
// its URL is printed as JSON.
//
// node --experimental-websocket approve_in_chromium.mjs '<json>'
//   { "chromium": "/usr/bin/chromium", "flags": [...], "url": "<authorize URL>",
//     "callback_port": 12345, "username": "alice", "password": "…",
//     "uncheck": ["book"], "action": "approve" | "deny" }

import { spawn } from "node:child_process";
import http from "node:http";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const a = JSON.parse(process.argv[2]);
const deadline = (ms, what) =>
  new Promise((_, rej) => setTimeout(() => rej(new Error(`timeout: ${what}`)), ms));

// 1. the client's redirect endpoint
let gotCallback;
const callback = new Promise((res) => (gotCallback = res));
const server = http.createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/html" });
  res.end("<html><body>callback received</body></html>");
  gotCallback(req.url);
});
await new Promise((res) => server.listen(a.callback_port, "127.0.0.1", res));

// 2. Chromium with a DevTools port
const profile = fs.mkdtempSync(path.join(os.tmpdir(), "synaptic-chromium-"));
const chrome = spawn(
  a.chromium,
  [...a.flags, `--user-data-dir=${profile}`, "--remote-debugging-port=0", "about:blank"],
  // its own temporary files (singleton socket, shared memory) in the profile, removed with it
  { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, TMPDIR: profile } },
);
const chromeExited = new Promise((res) => chrome.once("exit", res));
// the profile folder goes once Chromium has exited (its helper processes may still write to
// it for a moment after the browser process is killed)
const exitedWithin = (ms) =>
  Promise.race([chromeExited.then(() => true), new Promise((res) => setTimeout(() => res(false), ms))]);
let cleanup = async () => {
  server.close();
  // asked to stop first, so that it removes what it made; killed when it does not
  try { chrome.kill("SIGTERM"); } catch {}
  if (!(await exitedWithin(5000))) {
    try { chrome.kill("SIGKILL"); } catch {}
    await exitedWithin(5000);
  }
  await new Promise((res) => setTimeout(res, 200));
  try {
    fs.rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  } catch {}
};

try {
  const wsUrl = await Promise.race([
    new Promise((res) => {
      let buf = "";
      chrome.stderr.on("data", (d) => {
        buf += d.toString();
        const m = buf.match(/DevTools listening on (ws:\/\/\S+)/);
        if (m) res(m[1]);
      });
    }),
    deadline(30000, "chromium DevTools endpoint"),
  ]);

  // 3. CDP over the browser WebSocket, flattened sessions
  const ws = new WebSocket(wsUrl);
  await new Promise((res, rej) => { ws.onopen = res; ws.onerror = rej; });
  let nextId = 1;
  const pending = new Map();
  const listeners = [];
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.id && pending.has(msg.id)) {
      const { res, rej } = pending.get(msg.id);
      pending.delete(msg.id);
      msg.error ? rej(new Error(JSON.stringify(msg.error))) : res(msg.result);
    } else if (msg.method) {
      for (const l of listeners) l(msg);
    }
  };
  const send = (method, params = {}, sessionId) =>
    new Promise((res, rej) => {
      const id = nextId++;
      pending.set(id, { res, rej });
      ws.send(JSON.stringify({ id, method, params, sessionId }));
    });
  const waitEvent = (name, sessionId) =>
    new Promise((res) => listeners.push((m) => m.method === name && m.sessionId === sessionId && res(m)));

  const { targetId } = await send("Target.createTarget", { url: "about:blank" });
  const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true });
  const s = (m, p) => send(m, p, sessionId);
  await s("Page.enable");
  await s("Runtime.enable");
  const loaded = waitEvent("Page.loadEventFired", sessionId);
  await s("Page.navigate", { url: a.url });
  await Promise.race([loaded, deadline(20000, "approval page load")]);

  const evaluate = async (expr) =>
    (await s("Runtime.evaluate", { expression: expr, returnByValue: true })).result.value;
  const pageInfo = await evaluate(
    `(() => {
       const bg = (sel) => { const e = document.querySelector(sel); return e && getComputedStyle(e).backgroundColor; };
       return {title: document.title, client: document.querySelector('#client-name')?.textContent,
         scopes: [...document.querySelectorAll('input[name=scope]')].map(e => e.value),
         redirect_to: document.querySelector('#redirect-origin')?.textContent,
         approve_background: bg('#approve'), deny_background: bg('#deny'),
         buttons: [...document.querySelectorAll('button')].map(e => e.id)};
     })()`,
  );
  // keyboard order: from the last permission checkbox, Tab reaches Approve first
  await evaluate(`[...document.querySelectorAll('input[name=scope]')].pop().focus()`);
  for (const type of ["keyDown", "keyUp"]) {
    await s("Input.dispatchKeyEvent", { type, key: "Tab", code: "Tab", windowsVirtualKeyCode: 9 });
  }
  pageInfo.tab_after_scopes = await evaluate(`document.activeElement?.id`);
  const click = async (selector) => {
    const r = await evaluate(
      `(() => { const e = document.querySelector(${JSON.stringify(selector)});
        if (!e) return null; e.scrollIntoView({block: 'center'});
        const b = e.getBoundingClientRect(); return {x: b.x + b.width / 2, y: b.y + b.height / 2}; })()`,
    );
    if (!r) throw new Error(`no element ${selector}`);
    for (const type of ["mouseMoved", "mousePressed", "mouseReleased"]) {
      await s("Input.dispatchMouseEvent", { type, x: r.x, y: r.y, button: "left", clickCount: 1 });
    }
  };
  await click("#username");
  await s("Input.insertText", { text: a.username });
  await click("#password");
  await s("Input.insertText", { text: a.password });
  for (const sc of a.uncheck || []) await click(`#scope-${sc}`);
  await click(a.action === "deny" ? "#deny" : "#approve");

  const cb = await Promise.race([callback, deadline(20000, "redirect to the client")]);
  console.log(JSON.stringify({ ok: true, callback: cb, page: pageInfo }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: String(e) }));
} finally {
  await cleanup();
}
process.exit(0);
