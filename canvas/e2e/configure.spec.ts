// "Configure it", end to end: the details tab with an agent card and a live last error, model
// and provider, secrets (workspace and global, values never in the page), memories, tokens, and
// an external workspace's connection snippets with rotate. Approvals and schedules are in
// settings.spec.ts; the config object, config.yaml and setting a workspace secret in canvas.spec.ts.
// Runs after canvas.spec.ts on the same platform (an imported org is still on the chart): every
// workspace here is named uniquely, found by id, and deleted at the end, failure or not.
import { type APIRequestContext, type Locator, type Page, expect, request, test } from "@playwright/test";
import { acceptNextConfirm, adminAuth, axe, base, bearer, detail, failOnPageErrors, node, pageText, refetched, seen, STARTS, token, watchStatus } from "./helpers";

test.describe.configure({ mode: "serial" });
failOnPageErrors();

const SUFFIX = Date.now().toString(36);
const ECHO = `cfg-echo-${SUFFIX}`;
const EXT = `cfg-ext-${SUFFIX}`;
const KIMI = `cfg-kimi-${SUFFIX}`;
const POLL = `cfg-poll-${SUFFIX}`;
const AGENT_URL = "http://localhost:9/ledger-agent";
const CARD = {
  name: "Ledger agent",
  version: "2.1.0",
  description: "Reconciles the books every night",
  capabilities: { streaming: true, pushNotifications: false, stateTransitionHistory: true },
  skills: [
    { id: "reconcile", name: "Reconcile accounts" },
    { id: "report", name: "Monthly report" },
  ],
};
const LAST_ERROR = `ledger API timed out after 30 s (${SUFFIX})`;
const GLOBAL_KEY = `E2E_GLOBAL_${SUFFIX.toUpperCase()}`;
const GLOBAL_VALUE = `global-value-never-shown-${SUFFIX}`;
const WS_KEY = `E2E_WS_${SUFFIX.toUpperCase()}`;

let api: APIRequestContext; // the admin, for setting up and checking through the API
let bare: APIRequestContext; // no credential at all (no session cookie): agents and tokens
const ids: Record<string, string> = {};
let agentToken = ""; // the external workspace's token, from its creation

test.beforeAll(async () => {
  api = await request.newContext({ baseURL: base(), extraHTTPHeaders: adminAuth() });
  bare = await request.newContext({ baseURL: base() });
  const echo = await api.post("/workspaces", { data: { name: ECHO, runtime: "echo" } });
  expect(echo.status()).toBe(201);
  ids[ECHO] = ((await echo.json()) as { id: string }).id;
  const ext = await api.post("/workspaces", { data: { name: EXT, runtime: "external" } });
  expect(ext.status()).toBe(201);
  const made = (await ext.json()) as { id: string; status: string; connection: { auth_token: string } };
  expect(made.status).toBe("awaiting_agent");
  ids[EXT] = made.id;
  agentToken = made.connection.auth_token;
});

test.afterAll(async () => {
  await api.delete(`/settings/secrets/${GLOBAL_KEY}`); // left behind only by a failure (404 else)
  for (const id of Object.values(ids)) {
    const gone = await api.delete(`/workspaces/${id}?confirm=true`);
    expect(gone.ok(), `delete ${id}`).toBe(true);
  }
  await api.dispose();
  await bare.dispose();
});

const panel = (page: Page, name: string) => page.getByRole("complementary", { name: `Workspace ${name}` });
/** Signed in through the login URL, straight at a workspace's tab (a deep link). */
async function open(page: Page, name: string, tab: string): Promise<Locator> {
  await page.goto(`${base()}/?token=${token()}#/workspaces/${ids[name]}/${tab}`);
  await expect(page.getByTestId("connection")).toHaveText(/Live/);
  const p = panel(page, name);
  await expect(p.getByRole("tab", { selected: true })).toHaveAttribute("id", `tab-${tab}`);
  return p;
}

test("details: the agent card, capabilities and URL when the agent registers, its last error live and after a reload", async ({ page }) => {
  const id = ids[EXT]!;
  const p = await open(page, EXT, "details");
  await expect(p.getByTestId("panel-status")).toHaveText("Awaiting agent");
  await expect(detail(p, "Agent")).toHaveCount(0);

  // The external agent registers with its URL and card, using its workspace token: live.
  const registered = await bare.post("/registry/register", {
    headers: bearer(agentToken),
    data: { id, url: AGENT_URL, agent_card: CARD },
  });
  expect(registered.status(), await registered.text()).toBe(200);
  await expect(p.getByTestId("panel-status")).toHaveText("Online", STARTS);
  await expect(detail(p, "URL")).toHaveText(AGENT_URL);
  await expect(detail(p, "Agent")).toHaveText("Ledger agent 2.1.0");
  await expect(detail(p, "Description")).toHaveText(CARD.description);
  await expect(detail(p, "Capabilities")).toHaveText("streaming, stateTransitionHistory");
  await expect(detail(p, "Skills")).toHaveText("Reconcile accounts, Monthly report");
  await expect(p.getByText(/^Last error/)).toHaveCount(0);

  // A heartbeat with a high error rate and a sample error: degraded, and the error shown live.
  const beat = await bare.post("/registry/heartbeat", {
    headers: bearer(agentToken),
    data: { workspace_id: id, error_rate: 0.75, sample_error: LAST_ERROR, active_tasks: 1, current_task: "closing March" },
  });
  expect(beat.status(), await beat.text()).toBe(200);
  await expect(p.getByRole("status").filter({ hasText: "Last error" })).toHaveText(`Last error: ${LAST_ERROR}`);
  await expect(p.getByTestId("panel-status")).toHaveText("Degraded");
  await expect(node(page, EXT).getByTestId("status")).toHaveText("Degraded");
  await expect(detail(p, "Current task")).toHaveText("closing March");
  await axe(page, "the details tab with an agent card and a last error");

  // After a reload everything comes from GET /workspaces, the last error included.
  await page.reload();
  await expect(p.getByRole("status").filter({ hasText: "Last error" })).toHaveText(`Last error: ${LAST_ERROR}`);
  await expect(p.getByTestId("panel-status")).toHaveText("Degraded");
  await expect(detail(p, "URL")).toHaveText(AGENT_URL);
  await expect(detail(p, "Agent")).toHaveText("Ledger agent 2.1.0");
  await expect(detail(p, "Skills")).toHaveText("Reconcile accounts, Monthly report");
  await expect(detail(p, "Capabilities")).toHaveText("streaming, stateTransitionHistory");
  await expect(detail(p, "Current task")).toHaveText("closing March");

  // Pause and resume from the panel: the row the canvas fetches again after each
  // (GET /workspaces/:id, which leaves out the last error and the current task) must not
  // wipe what the list said (and a reload shows). The resume of an agent the platform does
  // not run is seen through its own event too (molecule/actors/lifecycle.py `resume`).
  const actions = p.getByRole("toolbar", { name: "Workspace actions" });
  await refetched(page, id, () => actions.getByRole("button", { name: "Pause" }).click());
  await expect(p.getByTestId("panel-status")).toHaveText("Paused");
  await expect(p.getByRole("status").filter({ hasText: "Last error" })).toHaveText(`Last error: ${LAST_ERROR}`);
  await expect(detail(p, "Current task")).toHaveText("closing March");
  await refetched(page, id, () => actions.getByRole("button", { name: "Resume" }).click());
  await expect(p.getByTestId("panel-status")).toHaveText("Awaiting agent");
  await expect(p.getByRole("status").filter({ hasText: "Last error" })).toHaveText(`Last error: ${LAST_ERROR}`);
  await expect(detail(p, "Current task")).toHaveText("closing March");
  await expect(detail(p, "URL")).toHaveCount(0); // a pause forgets the agent's URL

  // A new card (update-card) shows live; a healthy heartbeat brings it back online and the
  // last error goes, live and after a reload (each heartbeat stores its own sample error).
  const updated = await bare.post("/registry/update-card", {
    headers: bearer(agentToken),
    data: { workspace_id: id, agent_card: { ...CARD, version: "2.2.0", skills: [...CARD.skills, { id: "audit", name: "Audit trail" }] } },
  });
  expect(updated.status(), await updated.text()).toBe(200);
  await expect(detail(p, "Agent")).toHaveText("Ledger agent 2.2.0");
  await expect(detail(p, "Skills")).toHaveText("Reconcile accounts, Monthly report, Audit trail");
  const healthy = await bare.post("/registry/heartbeat", { headers: bearer(agentToken), data: { workspace_id: id, error_rate: 0 } });
  expect(healthy.status(), await healthy.text()).toBe(200);
  await expect(p.getByTestId("panel-status")).toHaveText("Online", STARTS);
  await expect(p.getByText(/^Last error/)).toHaveCount(0);
  await page.reload();
  await expect(p.getByTestId("panel-status")).toHaveText("Online", STARTS);
  await expect(detail(p, "Agent")).toHaveText("Ledger agent 2.2.0");
  await expect(p.getByText(/^Last error/)).toHaveCount(0);
});

test("tokens: a new token is shown once, works against the API, and stops working once revoked", async ({ page }) => {
  const id = ids[EXT]!;
  const p = await open(page, EXT, "tokens");
  const live = p.getByRole("list", { name: "Live tokens" });
  await expect(live.getByRole("listitem")).toHaveCount(1); // the agent's, from the creation
  await expect(live).toContainText(`${agentToken.slice(0, 8)}…`);

  await p.getByRole("button", { name: "Create token" }).click();
  const shown = p.getByTestId("new-token");
  await expect(shown).toHaveText(/^\S{20,}$/);
  const fresh = (await shown.textContent())!;
  const prefix = fresh.slice(0, 8);
  await expect(p.getByText("Save this token now: it cannot be shown again.")).toBeVisible();
  await expect(live.getByRole("listitem")).toHaveCount(2);
  await expect(live.getByRole("listitem").filter({ hasText: `${prefix}…` })).toHaveText(/never used/);
  await axe(page, "the tokens tab with a new token");

  // The token is the workspace's: it reads the workspace (no session cookie in `bare`).
  const read = await bare.get(`/workspaces/${id}`, { headers: bearer(fresh) });
  expect(read.status()).toBe(200);
  expect(((await read.json()) as { name: string }).name).toBe(EXT);

  // Shown once: Done takes it off the page, and a reload does not bring it back.
  await p.getByRole("button", { name: "Done" }).click();
  await expect(shown).toHaveCount(0);
  expect(await pageText(page)).not.toContain(fresh);
  await page.reload();
  await expect(live.getByRole("listitem")).toHaveCount(2);
  await expect(live).toContainText(`${prefix}…`);
  expect(await pageText(page)).not.toContain(fresh);

  // Revoke: the list loses it and the API refuses it.
  acceptNextConfirm(page);
  await live.getByRole("button", { name: `Revoke token ${prefix}` }).click();
  await expect(p.getByRole("status").filter({ hasText: "Revoked" })).toHaveText(`Revoked ${prefix}…`);
  await expect(live.getByRole("listitem")).toHaveCount(1);
  await expect(live).not.toContainText(`${prefix}…`);
  expect((await bare.get(`/workspaces/${id}`, { headers: bearer(fresh) })).status()).toBe(401);
  expect((await bare.get(`/workspaces/${id}`, { headers: bearer(agentToken) })).status()).toBe(200);
});

test("an external workspace's connection snippets; rotate puts a new token in them and the old one stops working", async ({ page }) => {
  const id = ids[EXT]!;
  const p = await open(page, EXT, "tokens");
  const section = p.getByRole("region", { name: "External connection" });
  const snippet = section.getByLabel("Connection snippet");
  const kind = section.getByLabel("Connect with");

  // Before a rotate the token is not there (it was shown once, at creation): a placeholder.
  await expect(kind).toHaveValue("curl_register_template");
  await expect(snippet).toContainText(`${base()}/registry/register`);
  await expect(snippet).toContainText(`\\"id\\": \\"${id}\\"`);
  await expect(snippet).toContainText("<auth_token shown when the workspace was created or rotated>");
  expect(await pageText(page)).not.toContain(agentToken);
  await kind.selectOption("python_snippet");
  await expect(snippet).toContainText(id);
  await expect(snippet).toContainText(base());
  await axe(page, "the tokens tab of an external workspace");

  await kind.selectOption("curl_register_template");
  acceptNextConfirm(page);
  await section.getByRole("button", { name: "Rotate credentials" }).click();
  const banner = section.getByRole("status").filter({ hasText: "New token (shown once)" });
  await expect(banner.locator("code")).toHaveText(/^\S{20,}$/);
  const rotated = (await banner.locator("code").textContent())!;
  expect(rotated).not.toBe(agentToken);
  await expect(snippet).toContainText(`export MOLECULE_WORKSPACE_TOKEN="${rotated}"`);

  // The old token is refused everywhere, the new one works, and the list shows only the new one.
  expect((await bare.get(`/workspaces/${id}`, { headers: bearer(agentToken) })).status()).toBe(401);
  const oldBeat = await bare.post("/registry/heartbeat", { headers: bearer(agentToken), data: { workspace_id: id } });
  expect(oldBeat.status()).toBe(401);
  expect((await bare.get(`/workspaces/${id}`, { headers: bearer(rotated) })).status()).toBe(200);
  const live = p.getByRole("list", { name: "Live tokens" });
  await expect(live.getByRole("listitem")).toHaveCount(1);
  await expect(live).toContainText(`${rotated.slice(0, 8)}…`);
  const listed = (await (await api.get(`/workspaces/${id}/tokens`)).json()) as { tokens: { prefix: string }[] };
  expect(listed.tokens.map((t) => t.prefix)).toEqual([rotated.slice(0, 8)]);

  // Shown once: after a reload the snippet has its placeholder again.
  await page.reload();
  await expect(snippet).toContainText("<auth_token shown when the workspace was created or rotated>");
  expect(await pageText(page)).not.toContain(rotated);
  agentToken = rotated;
});

test("connection snippets for every runtime the platform connects externally, and only those", async ({ page }) => {
  // kimi is external-like on the platform (molecule/models.py EXTERNAL_RUNTIMES): created
  // awaiting its agent, with snippets; a platform-run workspace in poll mode has none (400).
  for (const [name, body] of [
    [KIMI, { runtime: "kimi" }],
    [POLL, { runtime: "mock", delivery_mode: "poll" }],
  ] as const) {
    const made = await api.post("/workspaces", { data: { name, ...body } });
    expect(made.status()).toBe(201);
    ids[name] = ((await made.json()) as { id: string }).id;
  }
  expect((await api.get(`/workspaces/${ids[KIMI]}/external/connection`)).status()).toBe(200);
  expect((await api.get(`/workspaces/${ids[POLL]}/external/connection`)).status()).toBe(400);

  let p = await open(page, KIMI, "tokens");
  await expect(p.getByRole("region", { name: "External connection" }).getByLabel("Connection snippet")).toContainText(ids[KIMI]!);
  p = await open(page, POLL, "tokens");
  await expect(p.getByRole("list", { name: "Live tokens" }).getByRole("listitem")).toHaveCount(1);
  await expect(p.getByRole("region", { name: "External connection" })).toHaveCount(0);
  await expect(p.getByRole("button", { name: "Rotate credentials" })).toHaveCount(0);
  await expect(p.getByRole("alert")).toHaveCount(0);
});

test("model and provider: saved from the config tab, stored, the agent restarted; the platform's refusal shown", async ({ page }) => {
  const id = ids[ECHO]!;
  const p = await open(page, ECHO, "config");
  await expect(node(page, ECHO).getByTestId("status")).toHaveText("Online", STARTS);
  const model = p.getByLabel("Model", { exact: true });
  const provider = p.getByLabel("Provider", { exact: true });
  await expect(model).toHaveValue("");
  await expect(model).toHaveAttribute("placeholder", "the runtime's default");
  await expect(p.getByText("Saving restarts the workspace's agent so it picks the change up.")).toBeVisible();

  await watchStatus(page, ECHO);
  await model.fill("claude-e2e-model");
  await p.getByRole("button", { name: "Save model" }).click();
  await expect(p.getByRole("status").filter({ hasText: "Model saved" })).toHaveText("Model saved; the workspace is restarting");
  await provider.fill("anthropic");
  await p.getByRole("button", { name: "Save provider" }).click();
  await expect(p.getByRole("status").filter({ hasText: "Provider saved" })).toHaveText("Provider saved; the workspace is restarting");
  expect(await (await api.get(`/workspaces/${id}/model`)).json()).toEqual({ model: "claude-e2e-model", source: "workspace_secrets" });
  expect(await (await api.get(`/workspaces/${id}/provider`)).json()).toEqual({ provider: "anthropic", source: "workspace_secrets" });
  await expect.poll(() => seen(page, ECHO), { message: "the save restarts the agent", ...STARTS }).toContain("Provisioning");
  await expect(node(page, ECHO).getByTestId("status")).toHaveText("Online", STARTS);
  await axe(page, "the config tab");

  // The field stops at the platform's 256 characters; past it (the cap lifted), the platform's
  // own 400 message is shown and nothing changes.
  await expect(model).toHaveAttribute("maxlength", "256");
  await model.evaluate((input) => input.removeAttribute("maxlength"));
  await model.fill("m".repeat(300));
  await p.getByRole("button", { name: "Save model" }).click();
  await expect(p.getByRole("alert")).toHaveText("model must be at most 256 characters");
  expect(await (await api.get(`/workspaces/${id}/model`)).json()).toEqual({ model: "claude-e2e-model", source: "workspace_secrets" });

  // What is stored is what a reload shows.
  await page.reload();
  await expect(model).toHaveValue("claude-e2e-model");
  await expect(provider).toHaveValue("anthropic");
});

test("memories: search finds only the matching one, inspect shows all of it, delete removes it", async ({ page }) => {
  const id = ids[ECHO]!;
  const ledger =
    `The quarterly ledger reconciliation runs on the first Monday of each quarter; the finance lead signs it off, ` +
    `and the archive copy goes to the cold-storage bucket named books-${SUFFIX} before noon.`;
  const lunch = `Team lunch is on Thursdays at the harbour cafe (${SUFFIX}).`;
  expect(ledger.length).toBeGreaterThan(160); // the list shows 160 characters until inspected
  const memories: Record<string, string> = {};
  for (const [content, scope] of [
    [ledger, "LOCAL"],
    [lunch, "TEAM"],
  ] as const) {
    const made = await api.post(`/workspaces/${id}/memories`, { data: { content, scope } });
    expect(made.status()).toBe(201);
    memories[scope] = ((await made.json()) as { id: string }).id;
  }
  const p = await open(page, ECHO, "memories");
  const list = p.getByRole("list", { name: "Memories" });
  await expect(list.getByRole("listitem")).toHaveCount(2);

  // Full-text search: only the ledger one.
  const search = p.getByRole("search", { name: "Search memories" });
  await search.getByLabel("Search").fill("reconciliation");
  await search.getByRole("button", { name: "Search" }).click();
  await expect(list.getByRole("listitem")).toHaveCount(1);
  const card = list.getByRole("listitem");
  await expect(card).toContainText("quarterly ledger reconciliation");
  await expect(card).toContainText("LOCAL");
  await expect(card).not.toContainText(`books-${SUFFIX}`); // past the first 160 characters

  // The scope filter: TEAM finds only the lunch one.
  await search.getByLabel("Search").fill("");
  await search.getByLabel("Scope").selectOption("TEAM");
  await search.getByRole("button", { name: "Search" }).click();
  await expect(list.getByRole("listitem")).toHaveCount(1);
  await expect(list).toContainText(lunch);
  await search.getByLabel("Scope").selectOption("");
  await search.getByLabel("Search").fill("ledger");
  await search.getByRole("button", { name: "Search" }).click();
  await expect(list.getByRole("listitem")).toHaveCount(1);

  // Inspect: the whole content and where it comes from.
  await card.getByRole("button", { name: "Inspect" }).click();
  await expect(card).toContainText(ledger);
  await expect(detail(card, "Id")).toHaveText(memories.LOCAL!);
  await expect(detail(card, "Written by")).toHaveText(id);
  await expect(detail(card, "Scope")).toHaveText("LOCAL");
  await expect(detail(card, "Namespace")).toHaveText("general");
  await expect(card.getByRole("button", { name: "Hide details" })).toHaveAttribute("aria-expanded", "true");
  await axe(page, "the memories tab with an inspected memory");

  // Delete (confirmed): gone from the tab and from the platform; the other one stays.
  acceptNextConfirm(page);
  await card.getByRole("button", { name: `Delete the memory "${ledger.slice(0, 60)}…"` }).click();
  await expect(p.getByRole("status").filter({ hasText: "Memory deleted" })).toBeVisible();
  await expect(p.getByText("No memories found.")).toBeVisible();
  const left = (await (await api.get(`/workspaces/${id}/memories`)).json()) as { id: string }[];
  expect(left.map((m) => m.id)).toEqual([memories.TEAM]);
});

test("secrets: a workspace secret deleted; a global one set, listed by name only, its value nowhere in the page, deleted", async ({ page }) => {
  const id = ids[ECHO]!;
  const set = await api.put(`/workspaces/${id}/secrets`, { data: { key: WS_KEY, value: "workspace-value" } });
  expect(set.ok()).toBe(true);
  const p = await open(page, ECHO, "secrets");
  const mine = p.getByRole("list", { name: "Workspace secrets" });
  const keys = async (path: string) => ((await (await api.get(path)).json()) as { key: string }[]).map((k) => k.key);

  // A workspace secret, deleted from the tab.
  await expect(mine).toContainText(WS_KEY);
  await mine.getByRole("button", { name: `Delete secret ${WS_KEY}` }).click();
  await expect(p.getByRole("status").filter({ hasText: `Deleted ${WS_KEY}` })).toBeVisible();
  await expect(mine).not.toContainText(WS_KEY);
  await expect(mine).toContainText("MODEL"); // the model test's setting stays
  expect(await keys(`/workspaces/${id}/secrets`)).not.toContain(WS_KEY);

  // A global secret from the global part: listed by name (and inherited by the workspace).
  const form = p.getByRole("form", { name: "Set a global secret" });
  await form.getByLabel("Name").fill(GLOBAL_KEY);
  await form.getByLabel("Value").fill(GLOBAL_VALUE);
  await expect(form.getByLabel("Value")).toHaveAttribute("type", "password");
  await form.getByRole("button", { name: "Set global secret" }).click();
  await expect(p.getByRole("status").filter({ hasText: `Saved global ${GLOBAL_KEY}` })).toBeVisible();
  const global = p.getByRole("list", { name: "Global secrets", exact: true });
  await expect(global).toContainText(GLOBAL_KEY);
  await expect(p.getByRole("list", { name: "Inherited global secrets" })).toContainText(GLOBAL_KEY);
  await expect(form.getByLabel("Name")).toHaveValue("");
  await expect(form.getByLabel("Value")).toHaveValue("");
  expect(await pageText(page)).not.toContain(GLOBAL_VALUE);
  expect(await keys("/settings/secrets")).toContain(GLOBAL_KEY);
  expect(await (await api.get("/settings/secrets")).text()).not.toContain(GLOBAL_VALUE);
  await axe(page, "the secrets tab");

  // Still nowhere after a reload.
  await page.reload();
  await expect(global).toContainText(GLOBAL_KEY);
  expect(await pageText(page)).not.toContain(GLOBAL_VALUE);

  // Deleted again: off both lists and off the platform.
  await global.getByRole("button", { name: `Delete secret ${GLOBAL_KEY}` }).click();
  await expect(p.getByRole("status").filter({ hasText: `Deleted global ${GLOBAL_KEY}` })).toBeVisible();
  await expect(p.getByRole("listitem").filter({ hasText: GLOBAL_KEY })).toHaveCount(0);
  expect(await keys("/settings/secrets")).not.toContain(GLOBAL_KEY);
});
