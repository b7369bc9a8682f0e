// The canvas under load, in headless Chromium (Debian's, as the e2e tests): time to interactive
// with N workspaces on the chart, then frame times while status events arrive at R per second
// over /ws; the same page with an empty org first, as the reference.
//
// What is measured is the canvas alone: the built page (dist/) is served to the browser by
// Playwright's request routing, GET /workspaces answers N synthetic rows (a 10-root hierarchy,
// all placed by the layout), and /ws is a routed WebSocket that sends WORKSPACE_ONLINE /
// WORKSPACE_DEGRADED events for random workspaces in batches of the batch subprotocol every
// 50 ms. No platform runs, so the platform's own cost is not in the figures (bench/scale.py
// and bench/fanout.py measure that).
//
//   node bench/canvas_load.mjs [--workspaces 500] [--rate 100] [--seconds 5] [--json]
import { chromium } from "@playwright/test";
import { readFileSync, existsSync } from "node:fs";
import { extname, join, resolve } from "node:path";

const args = Object.fromEntries(
  process.argv.slice(2).flatMap((a, i, all) => (a.startsWith("--") ? [[a.slice(2), all[i + 1]?.startsWith("--") || all[i + 1] === undefined ? "1" : all[i + 1]]] : [])),
);
const N = Number(args.workspaces ?? 500);
const RATE = Number(args.rate ?? 100);
const SECONDS = Number(args.seconds ?? 5);
const dist = resolve(import.meta.dirname, "..", "dist");
const ORIGIN = "http://canvas.bench";
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png" };

if (!existsSync(join(dist, "index.html"))) {
  console.error("canvas/dist is missing: run `make canvas` first");
  process.exit(2);
}

function rows(n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const root = i < 10;
    out.push({
      id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
      name: `ws-${i}`,
      runtime: "echo",
      status: i % 7 === 0 ? "degraded" : "online",
      parent_id: root ? null : `00000000-0000-4000-8000-${String(i % 10).padStart(12, "0")}`,
      url: null,
      active_tasks: 0,
      current_task: i % 5 === 0 ? `task ${i}` : null,
      x: 0,
      y: 0,
      collapsed: false,
    });
  }
  return out;
}

const p95 = (values) => {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.95) - 1)];
};

async function measure(browser, n, rate) {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const list = rows(n);
  await page.route(`${ORIGIN}/**`, async (route) => {
    const url = new URL(route.request().url());
    if (url.pathname === "/" || url.pathname.startsWith("/assets/")) {
      const file = url.pathname === "/" ? "index.html" : url.pathname.slice(1);
      return route.fulfill({ body: readFileSync(join(dist, file)), contentType: TYPES[extname(file)] ?? "application/octet-stream" });
    }
    if (url.pathname === "/workspaces") return route.fulfill({ json: list });
    return route.fulfill({ json: [] });
  });
  const timers = [];
  let sent = 0;
  let connections = 0;
  await page.routeWebSocket(`ws://canvas.bench/ws`, (ws) => {
    connections += 1;
    ws.onClose(() => timers.forEach(clearInterval));
    if (!rate || !n) return;
    const perTick = Math.max(1, Math.round(rate / 20));
    timers.push(setInterval(() => {
      const batch = [];
      for (let k = 0; k < perTick; k++) {
        const w = list[Math.floor(Math.random() * n)];
        const online = Math.random() < 0.5;
        batch.push({
          event: online ? "WORKSPACE_ONLINE" : "WORKSPACE_DEGRADED",
          workspace_id: w.id,
          timestamp: new Date().toISOString(),
          payload: online ? {} : { sample_error: "bench" },
        });
      }
      sent += batch.length;
      try {
        ws.send(JSON.stringify(batch));
      } catch {
        timers.forEach(clearInterval); // the page went away
      }
    }, 50));
  });
  const expected = Math.min(n, 1);
  await page.goto(`${ORIGIN}/`);
  // Interactive: the chart shows its nodes (or the empty-org message) and the main thread
  // answers the next frame.
  await page.waitForFunction(
    (want) => (want ? document.querySelectorAll(".react-flow__node").length >= want : !!document.querySelector(".react-flow")),
    expected,
    { timeout: 60_000, polling: 20 },
  );
  const tti = await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => setTimeout(() => done(performance.now()), 0))));
  const rendered = await page.evaluate(() => document.querySelectorAll(".react-flow__node").length);
  sent = 0;
  const started = Date.now();
  const frames = await page.evaluate(
    (ms) =>
      new Promise((done) => {
        const deltas = [];
        let last = performance.now();
        const end = last + ms;
        const step = (now) => {
          deltas.push(now - last);
          last = now;
          if (now < end) requestAnimationFrame(step);
          else done(deltas);
        };
        requestAnimationFrame(step);
      }),
    SECONDS * 1000,
  );
  timers.forEach(clearInterval);
  const elapsed = (Date.now() - started) / 1000;
  const statuses = await page.evaluate(() => document.querySelectorAll(".react-flow__node").length);
  await page.close();
  return {
    workspaces: n,
    connections,
    nodes_rendered: rendered,
    nodes_after: statuses,
    events_per_s: Math.round(sent / elapsed),
    tti_ms: Math.round(tti),
    frames: frames.length,
    p50_frame_ms: +[...frames].sort((a, b) => a - b)[Math.floor(frames.length / 2)].toFixed(1),
    p95_frame_ms: +p95(frames).toFixed(1),
    max_frame_ms: +Math.max(...frames).toFixed(1),
  };
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium" });
try {
  await measure(browser, 0, 0); // warm-up: the first page pays for the browser's own start
  const empty = await measure(browser, 0, 0);
  const quiet = await measure(browser, N, 0);
  const loaded = await measure(browser, N, RATE);
  if (args.json) console.log(JSON.stringify({ empty, quiet, loaded }));
  else {
    const line = (name, r) =>
      `${name.padEnd(22)} ${String(r.workspaces).padStart(5)} ${String(r.events_per_s).padStart(6)} ${String(r.tti_ms).padStart(7)} ${String(r.frames).padStart(7)} ${String(r.p50_frame_ms).padStart(8)} ${String(r.p95_frame_ms).padStart(8)} ${String(r.max_frame_ms).padStart(8)}`;
    console.log(`${"".padEnd(22)} ${"nodes".padStart(5)} ${"ev/s".padStart(6)} ${"TTI ms".padStart(7)} ${"frames".padStart(7)} ${"p50 ms".padStart(8)} ${"p95 ms".padStart(8)} ${"max ms".padStart(8)}`);
    console.log(line("empty org (reference)", empty));
    console.log(line(`${N} ws, no events`, quiet));
    console.log(line(`${N} ws, ${RATE} ev/s`, loaded));
    console.log(`(${loaded.nodes_rendered} nodes in the DOM; targets: TTI <= 2000 ms with 500 nodes, p95 frame <= 50 ms under the event load)`);
    const ok = loaded.tti_ms <= 2000 && loaded.p95_frame_ms <= 50;
    console.log(`targets: ${ok ? "PASS" : "FAIL"}`);
  }
} finally {
  await browser.close();
}
