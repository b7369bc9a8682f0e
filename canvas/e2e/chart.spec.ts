// Seeing and running the org on the chart, end to end: positions that persist (mouse and
// keyboard), collapsing a team, pan/zoom/fit, the live A2A overlay, the connection indicator's
// reconnect with backoff, and pause / resume / hibernate / wake from the panel and the menu.
// Runs right after canvas.spec.ts on the same platform (its imported org is still on the chart):
// every workspace here is named uniquely, found by name, and deleted at the end.
import { type APIRequestContext, type Page, type WebSocketRoute, expect, request, test } from "@playwright/test";
import { flowPosition, labels, near, offset, viewport, wrapper } from "./chart-view";
import { adminAuth, axe, base, failOnPageErrors, node, seen, signIn, STARTS, texts, watchStatus, watchTexts } from "./helpers";

test.describe.configure({ mode: "serial" });
failOnPageErrors();

const SUFFIX = Date.now().toString(36);
const LEAD = `lead-${SUFFIX}`;
const KID_A = `kid-a-${SUFFIX}`;
const KID_B = `kid-b-${SUFFIX}`;
const SOLO = `solo-${SUFFIX}`;

let api: APIRequestContext;
const ids: Record<string, string> = {};

type Row = { id: string; name: string; status: string; x: number; y: number; collapsed: boolean };

async function create(name: string, parent?: string): Promise<void> {
  const made = await api.post("/workspaces", { data: { name, runtime: "echo", ...(parent ? { parent_id: ids[parent] } : {}) } });
  expect(made.status(), `create ${name}`).toBe(201);
  ids[name] = ((await made.json()) as { id: string }).id;
}

const row = async (name: string) => (await (await api.get(`/workspaces/${ids[name]}`)).json()) as Row;

test.beforeAll(async () => {
  api = await request.newContext({ baseURL: base(), extraHTTPHeaders: adminAuth() });
  await create(LEAD);
  await create(KID_A, LEAD);
  await create(KID_B, LEAD);
  await create(SOLO);
});

test.afterAll(async () => {
  for (const name of [KID_A, KID_B, LEAD, SOLO]) {
    if (!ids[name]) continue;
    const gone = await api.delete(`/workspaces/${ids[name]}?confirm=true`);
    expect([200, 404, 410], `delete ${name}`).toContain(gone.status());
  }
  await api.dispose();
});

async function signInToChart(page: Page): Promise<void> {
  await signIn(page);
  await expect(node(page, SOLO)).toBeVisible();
}

const edge = (page: Page, parent: string, child: string) => page.locator(`.react-flow__edge[data-id="${ids[parent]}->${ids[child]}"]`);

test("a dragged node keeps its place: stored by the API, where it was dropped after a reload; arrow keys too", async ({ page }) => {
  await signInToChart(page);
  await expect(node(page, KID_B)).toBeVisible();
  const { zoom } = await viewport(page);
  const start = await flowPosition(page, KID_B);
  const before = await offset(page, KID_B, LEAD);

  // Drag kid-b by its name, 60 px right and 120 px down on the screen.
  const box = (await node(page, KID_B).boundingBox())!;
  const from = { x: box.x + box.width / 2, y: box.y + 12 };
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  await page.mouse.move(from.x + 60, from.y + 120, { steps: 12 });
  await page.mouse.up();
  await expect.poll(async () => (await row(KID_B)).y, { message: "the drop is stored" }).not.toBe(0);
  // Stored where it is drawn, which is about where the pointer took it (React Flow starts a
  // drag once the pointer has moved a little: the first step may be lost).
  const dropped = await row(KID_B);
  const drawn = await flowPosition(page, KID_B);
  near(dropped.x, drawn.x, 0.5);
  near(dropped.y, drawn.y, 0.5);
  near(drawn.x, start.x + 60 / zoom, 12 / zoom);
  near(drawn.y, start.y + 120 / zoom, 12 / zoom);
  const moved = await offset(page, KID_B, LEAD);
  near(moved.x - before.x, drawn.x - start.x, 1);
  near(moved.y - before.y, drawn.y - start.y, 1);
  // The lead, never placed, stays where the tree put it.
  expect((await row(LEAD)).x).toBe(0);

  // A reload may fit the view differently, but kid-b is where it was dropped.
  await page.reload();
  await expect(node(page, KID_B)).toBeVisible();
  expect(await flowPosition(page, KID_B)).toEqual({ x: dropped.x, y: dropped.y });
  const after = await offset(page, KID_B, LEAD);
  near(after.x, moved.x, 2);
  near(after.y, moved.y, 2);

  // With the keyboard: Enter selects the focused node, the arrow keys move it (5 px a press,
  // 20 with Shift), and the place it reaches is stored like a drop.
  const stored = dropped;
  await wrapper(page, KID_B).focus();
  await page.keyboard.press("Enter");
  await expect(wrapper(page, KID_B)).toHaveClass(/selected/);
  for (let i = 0; i < 3; i++) await page.keyboard.press("ArrowRight");
  await page.keyboard.press("Shift+ArrowUp");
  const keyed = { x: stored.x + 15, y: stored.y - 20 };
  expect(await flowPosition(page, KID_B)).toEqual(keyed);
  await expect.poll(async () => [(await row(KID_B)).x, (await row(KID_B)).y]).toEqual([keyed.x, keyed.y]);
  await page.reload();
  await expect(node(page, KID_B)).toBeVisible();
  expect(await flowPosition(page, KID_B)).toEqual(keyed);
});

test("collapse and expand a team: children and edges hidden, the count shown, kept across a reload", async ({ page }) => {
  const calls: string[] = [];
  page.on("request", (r) => {
    if (r.url().includes(ids[LEAD]!) && r.method() !== "GET") calls.push(`${r.method()} ${new URL(r.url()).pathname}`);
  });
  await signInToChart(page);
  for (const kid of [KID_A, KID_B]) {
    await expect(node(page, kid)).toBeVisible();
    await expect(edge(page, LEAD, kid)).toHaveCount(1);
  }

  // Collapse with the keyboard: the button on the lead's node.
  const collapse = node(page, LEAD).getByRole("button", { name: `Collapse the team of ${LEAD} (2)` });
  await expect(collapse).toHaveAttribute("aria-expanded", "true");
  await collapse.focus();
  await page.keyboard.press("Enter");
  const expand = node(page, LEAD).getByRole("button", { name: `Expand the team of ${LEAD} (2)` });
  await expect(expand).toHaveText("+2");
  await expect(expand).toHaveAttribute("aria-expanded", "false");
  for (const kid of [KID_A, KID_B]) {
    await expect(node(page, kid)).toHaveCount(0);
    await expect(edge(page, LEAD, kid)).toHaveCount(0);
  }
  await expect.poll(async () => (await row(LEAD)).collapsed).toBe(true);
  await axe(page, "the chart with a collapsed team");

  // Only the view: the canvas stores `collapsed` (PATCH), it does not call the platform's
  // /collapse (which removes the children) nor /expand; the children live on.
  expect(calls).toEqual([`PATCH /workspaces/${ids[LEAD]}`]);
  for (const kid of [KID_A, KID_B]) expect((await api.get(`/workspaces/${ids[kid]}`)).status()).toBe(200);

  // Kept across a reload.
  await page.reload();
  await expect(expand).toHaveText("+2");
  await expect(node(page, KID_A)).toHaveCount(0);
  await expect(node(page, KID_B)).toHaveCount(0);

  // Expand with a click: the children and their edges come back, also after a reload.
  await expand.click();
  for (const kid of [KID_A, KID_B]) {
    await expect(node(page, kid)).toBeVisible();
    await expect(edge(page, LEAD, kid)).toHaveCount(1);
    await expect(edge(page, LEAD, kid).locator("path").first()).toHaveAttribute("d", /^M/);
  }
  await expect(collapse).toHaveText("−");
  await expect.poll(async () => (await row(LEAD)).collapsed).toBe(false);
  await page.reload();
  await expect(node(page, KID_A)).toBeVisible();
  await expect(node(page, KID_B)).toBeVisible();
  await expect(collapse).toBeVisible();
  expect(calls.filter((c) => !c.startsWith("PATCH"))).toEqual([]);
});

test("pan, zoom and fit: the controls and the toolbar's Fit change the view, from the keyboard", async ({ page }) => {
  // A large window: the fitted org is smaller than the pane, so the fit's zoom limit shows.
  await page.setViewportSize({ width: 1920, height: 1080 });
  await signInToChart(page);
  await expect(node(page, KID_B)).toBeVisible();
  await expect(page.locator(".react-flow__viewport")).not.toHaveAttribute("style", /translate\(0px, 0px\) scale\(1\)/);
  const fitted = await viewport(page);
  expect(fitted.zoom).toBeLessThanOrEqual(1);

  // Zoom in twice and out once with the keyboard on the chart's controls.
  const zoomIn = page.getByRole("button", { name: "Zoom In" });
  await zoomIn.focus();
  await page.keyboard.press("Enter");
  await expect.poll(async () => (await viewport(page)).zoom).toBeGreaterThan(fitted.zoom * 1.1);
  const once = (await viewport(page)).zoom;
  await page.keyboard.press("Enter");
  await expect.poll(async () => (await viewport(page)).zoom).toBeGreaterThan(once * 1.1);
  const twice = (await viewport(page)).zoom;
  await page.getByRole("button", { name: "Zoom Out" }).focus();
  await page.keyboard.press("Enter");
  await expect.poll(async () => (await viewport(page)).zoom).toBeLessThan(twice * 0.95);

  // Pan: drag an empty spot of the pane 150 px right and 80 px down.
  const at = await page.locator(".react-flow__pane").evaluate((pane) => {
    const box = pane.getBoundingClientRect();
    for (let y = box.top + 20; y < box.bottom - 200; y += 20)
      for (let x = box.left + 20; x < box.right - 400; x += 20) if (document.elementFromPoint(x, y) === pane) return { x, y };
    return null;
  });
  expect(at, "an empty spot on the pane").toBeTruthy();
  const panned = await viewport(page);
  await page.mouse.move(at!.x, at!.y);
  await page.mouse.down();
  await page.mouse.move(at!.x + 150, at!.y + 80, { steps: 10 });
  await page.mouse.up();
  const moved = await viewport(page);
  near(moved.x - panned.x, 150, 2);
  near(moved.y - panned.y, 80, 2);

  // The toolbar's Fit (Enter on it) brings back the view the page opened with.
  await page.getByRole("button", { name: "Fit", exact: true }).focus();
  await page.keyboard.press("Enter");
  await expect.poll(async () => Math.abs((await viewport(page)).zoom - fitted.zoom)).toBeLessThan(0.005);
  await expect.poll(async () => Math.abs((await viewport(page)).x - fitted.x) + Math.abs((await viewport(page)).y - fitted.y)).toBeLessThan(2);

  // So does the controls' Fit View, after a zoom.
  await zoomIn.focus();
  await page.keyboard.press("Enter");
  await expect.poll(async () => (await viewport(page)).zoom).toBeGreaterThan(fitted.zoom * 1.1);
  await page.getByRole("button", { name: "Fit View" }).focus();
  await page.keyboard.press("Enter");
  await expect.poll(async () => Math.abs((await viewport(page)).zoom - fitted.zoom)).toBeLessThan(0.005);
});

test("the live A2A overlay: a message from the lead to kid-a lights their edge and nodes, then fades", async ({ page }) => {
  await signInToChart(page);
  for (const name of [LEAD, KID_A]) await expect(node(page, name).getByTestId("status")).toHaveText("Online", STARTS);
  // The lead speaks as itself: its own token and X-Workspace-ID (the admin would be "the canvas").
  const minted = await api.post(`/workspaces/${ids[LEAD]}/tokens`);
  expect(minted.status()).toBe(201);
  const leadToken = ((await minted.json()) as { auth_token: string }).auth_token;

  // Every change of the traffic marks, with its time, so the fade can be timed.
  await page.evaluate(
    ({ lead, kidA, kidB, edgeA, edgeB }) => {
      const w = window as unknown as { __traffic: [number, string][] };
      w.__traffic = [];
      let last = "";
      const read = () => {
        const busy = (name: string) => (document.querySelector(`[data-testid="node-${name}"]`)?.classList.contains("busy") ? 1 : 0);
        const animated = (id: string) => (document.querySelector(`.react-flow__edge[data-id="${id}"]`)?.classList.contains("animated") ? 1 : 0);
        const now = `${busy(lead)}${busy(kidA)}${busy(kidB)}${animated(edgeA)}${animated(edgeB)}`;
        if (now !== last) w.__traffic.push([performance.now(), (last = now)]);
      };
      new MutationObserver(read).observe(document.body, { subtree: true, attributes: true, attributeFilter: ["class"], childList: true });
      read();
    },
    { lead: LEAD, kidA: KID_A, kidB: KID_B, edgeA: `${ids[LEAD]}->${ids[KID_A]}`, edgeB: `${ids[LEAD]}->${ids[KID_B]}` },
  );
  const said = await page.request.post(`${base()}/workspaces/${ids[KID_A]}/a2a`, {
    headers: { Authorization: `Bearer ${leadToken}`, "X-Workspace-ID": ids[LEAD]! },
    data: { jsonrpc: "2.0", id: "e2e", method: "message/send", params: { message: { role: "user", messageId: `m-${SUFFIX}`, parts: [{ kind: "text", text: "ping" }] } } },
  });
  expect(said.status()).toBe(200);
  expect(JSON.stringify(await said.json())).toContain("echo: ping");

  await expect(node(page, LEAD)).toHaveClass(/\bbusy\b/);
  await expect(node(page, KID_A)).toHaveClass(/\bbusy\b/);
  await expect(edge(page, LEAD, KID_A)).toHaveClass(/\banimated\b/);
  await expect(node(page, KID_B)).not.toHaveClass(/\bbusy\b/);
  await expect(edge(page, LEAD, KID_B)).not.toHaveClass(/\banimated\b/);
  // It fades by itself.
  await expect(node(page, LEAD)).not.toHaveClass(/\bbusy\b/, { timeout: 10_000 });
  await expect(node(page, KID_A)).not.toHaveClass(/\bbusy\b/);
  await expect(edge(page, LEAD, KID_A)).not.toHaveClass(/\banimated\b/);

  // Lit together, dark again about 2.5 s later; kid-b and its edge never lit.
  const marks = await page.evaluate(() => (window as unknown as { __traffic: [number, string][] }).__traffic);
  const story = `traffic marks (lead, kid-a, kid-b, edge a, edge b): ${JSON.stringify(marks)}`;
  const states = marks.map(([, s]) => s);
  expect(states[0], story).toBe("00000");
  expect(states, story).toContain("11010");
  expect(states[states.length - 1], story).toBe("00000");
  expect(states.filter((s) => s[2] === "1" || s[4] === "1"), story).toEqual([]);
  const lit = marks.find(([, s]) => s.includes("1"))![0];
  const shown = marks[marks.length - 1]![0] - lit;
  expect(shown, story).toBeGreaterThan(1_500);
  expect(shown, story).toBeLessThan(8_000); // 2.5 s, and a loaded machine's slack
});

test("the connection indicator: a dropped socket retries with growing waits, comes back Live and catches up", async ({ page }) => {
  // Every /ws the page opens goes through this route: passed on to the platform, or refused
  // (closed before it opens) while `refuse` is above zero.
  const attempts: number[] = [];
  const live: { route?: WebSocketRoute } = {};
  let refuse = 0;
  await page.routeWebSocket(/\/ws$/, (ws) => {
    attempts.push(Date.now());
    if (refuse > 0) {
      refuse--;
      void ws.close({ code: 1011, reason: "e2e: platform unreachable" });
      return;
    }
    ws.connectToServer();
    live.route = ws;
  });
  await signInToChart(page);
  await expect(node(page, SOLO).getByTestId("status")).toHaveText("Online", STARTS);
  const indicator = page.getByTestId("connection");
  await watchTexts(page, "connection", "[data-testid=connection]");

  // The platform drops the socket and refuses the next three attempts; meanwhile solo is
  // paused, an event the page cannot hear.
  refuse = 3;
  const dropped = attempts.length;
  const dropAt = Date.now();
  await live.route!.close({ code: 1011, reason: "e2e: dropped" });
  await expect(indicator).toHaveText(/^Offline, retrying in \d+ s/);
  await expect(indicator.getByRole("button", { name: "Retry now" })).toBeVisible();
  expect((await api.post(`/workspaces/${ids[SOLO]}/pause`)).ok()).toBe(true);
  expect((await row(SOLO)).status).toBe("paused");
  // Still offline: the chart has not heard of it.
  await expect(indicator).toHaveText(/^(Offline|Connecting)/);
  await expect(node(page, SOLO).getByTestId("status")).toHaveText("Online", STARTS);
  await axe(page, "the chart while the connection is retrying");
  await expect(indicator).toHaveText("Live", { timeout: 20_000 });
  // Four attempts, each after a longer wait (0.5 s, 1 s, 2 s, 4 s, with ±20 % jitter).
  expect(attempts.length - dropped).toBe(4);
  const times = [dropAt, ...attempts.slice(dropped)];
  const gaps = [1, 2, 3, 4].map((i) => times[i]! - times[i - 1]!);
  const waits = `waits before each attempt: ${gaps.join(", ")} ms`;
  expect(gaps[2]!, waits).toBeGreaterThan(gaps[1]!);
  expect(gaps[3]!, waits).toBeGreaterThan(gaps[2]!);
  expect(gaps[3]!, waits).toBeGreaterThan(3_000);
  const shown = await texts(page, "connection");
  expect(shown.filter((s) => s.startsWith("Offline")).length, shown.join(" | ")).toBeGreaterThanOrEqual(4);
  expect(shown[shown.length - 1]).toBe("Live");

  // The list fetched on reconnect shows what happened in the gap...
  await expect(node(page, SOLO).getByTestId("status")).toHaveText("Paused");
  // ...and events flow again: solo resumed through the API shows live.
  await watchStatus(page, SOLO);
  expect((await api.post(`/workspaces/${ids[SOLO]}/resume`)).ok()).toBe(true);
  await expect(node(page, SOLO).getByTestId("status")).toHaveText("Online", STARTS);
  expect(await seen(page, SOLO)).toContain("Provisioning");
});

test("pause, resume, hibernate and wake from the panel and the menu: live status, the fitting buttons", async ({ page }) => {
  test.setTimeout(120_000);
  await signInToChart(page);
  const status = node(page, SOLO).getByTestId("status");
  await expect(status).toHaveText("Online", STARTS);
  await node(page, SOLO).click();
  const panel = page.getByRole("complementary", { name: `Workspace ${SOLO}` });
  const actions = panel.getByRole("toolbar", { name: "Workspace actions" });
  const menu = page.getByRole("menu", { name: `Actions for ${SOLO}` });
  const openMenu = async () => {
    await node(page, SOLO).click({ button: "right" });
    await expect(menu).toBeVisible();
  };
  expect(await labels(actions, "button")).toEqual(["Restart", "Pause", "Hibernate", "Add child", "Delete…"]);

  // Pause from the panel: Paused on the node and the panel, only Resume offered.
  await actions.getByRole("button", { name: "Pause" }).click();
  await expect(status).toHaveText("Paused");
  await expect(panel.getByTestId("panel-status")).toHaveText("Paused");
  await expect.poll(async () => (await row(SOLO)).status, STARTS).toBe("paused");
  await expect.poll(() => labels(actions, "button"), STARTS).toEqual(["Resume", "Add child", "Delete…"]);

  // Resume from the menu, which offers the same: provisioning, then online, live.
  await openMenu();
  expect(await labels(menu, "menuitem")).toEqual(["Open chat", "Details", "Add a child workspace", "Resume", "Delete…"]);
  await axe(page, "the context menu of a paused workspace");
  await watchStatus(page, SOLO);
  await menu.getByRole("menuitem", { name: "Resume" }).click();
  await expect(status).toHaveText("Online", STARTS);
  expect(await seen(page, SOLO)).toEqual(["Paused", "Provisioning", "Online"]);
  await expect.poll(() => labels(actions, "button"), STARTS).toEqual(["Restart", "Pause", "Hibernate", "Add child", "Delete…"]);

  // Hibernate from the menu: Hibernated, then Restart and Pause offered.
  await openMenu();
  expect(await labels(menu, "menuitem")).toEqual(["Open chat", "Details", "Add a child workspace", "Restart", "Pause", "Hibernate", "Delete…"]);
  await menu.getByRole("menuitem", { name: "Hibernate" }).click();
  await expect(status).toHaveText("Hibernated");
  await expect.poll(async () => (await row(SOLO)).status, STARTS).toBe("hibernated");
  await expect.poll(() => labels(actions, "button"), STARTS).toEqual(["Restart", "Pause", "Add child", "Delete…"]);
  await openMenu();
  expect(await labels(menu, "menuitem")).toEqual(["Open chat", "Details", "Add a child workspace", "Restart", "Pause", "Delete…"]);
  await page.keyboard.press("Escape");

  // A chat message wakes it: the platform does not keep it while the agent wakes, so the chat
  // says it waits, and sends it once the workspace is online; the agent answers it.
  await watchStatus(page, SOLO);
  await panel.getByRole("tab", { name: "Chat" }).click();
  const composer = panel.getByLabel("Message");
  await composer.fill("wake up");
  await composer.press("Enter");
  await expect(panel.getByRole("status").filter({ hasText: "starting up" })).toBeVisible();
  await expect(status).toHaveText("Online", STARTS);
  expect(await seen(page, SOLO)).toEqual(["Hibernated", "Provisioning", "Online"]);
  await expect(panel.getByRole("list", { name: "Conversation" })).toContainText("echo: wake up", STARTS);
  await expect(panel.getByRole("status").filter({ hasText: "starting up" })).toHaveCount(0);
  await expect(panel.getByRole("alert")).toHaveCount(0);
  await composer.fill("are you up?");
  await composer.press("Enter");
  await expect(panel.getByRole("list", { name: "Conversation" })).toContainText("echo: are you up?");

  // Hibernate from the panel, wake with Restart from the panel.
  await actions.getByRole("button", { name: "Hibernate" }).click();
  await expect(status).toHaveText("Hibernated");
  await watchStatus(page, SOLO);
  await actions.getByRole("button", { name: "Restart" }).click();
  await expect(status).toHaveText("Online", STARTS);
  expect(await seen(page, SOLO)).toEqual(["Hibernated", "Provisioning", "Online"]);
  expect((await row(SOLO)).status).toBe("online");
});
