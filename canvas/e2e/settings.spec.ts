// Deep links, editing a schedule and the pending-approvals badges, against the real platform.
// Runs after canvas.spec.ts on the same platform, whose last test leaves an imported org on the
// chart: everything here is named uniquely and found by name, and removed at the end.
import { type APIRequestContext, type Page, expect, request, test } from "@playwright/test";
import { adminAuth, axe, base, failOnPageErrors, node, shot, token } from "./helpers";

test.describe.configure({ mode: "serial" });
failOnPageErrors();

const NAME = `links-${Date.now().toString(36)}`;
const UNKNOWN = "00000000-0000-4000-8000-00000000dead";
let api: APIRequestContext;
let id = "";

const signedIn = (page: Page, hash = "") => page.goto(`${base()}/?token=${token()}${hash}`);
const panel = (page: Page) => page.getByRole("complementary", { name: `Workspace ${NAME}` });
const tab = (page: Page, name: string | RegExp) => panel(page).getByRole("tab", { name });

test.beforeAll(async () => {
  api = await request.newContext({ baseURL: base(), extraHTTPHeaders: adminAuth() });
  const made = await api.post("/workspaces", { data: { name: NAME, runtime: "echo" } });
  expect(made.status()).toBe(201);
  id = ((await made.json()) as { id: string }).id;
});

test.afterAll(async () => {
  if (id) expect((await api.delete(`/workspaces/${id}?confirm=true`)).ok()).toBe(true);
  await api.dispose();
});

test("a deep link opens the workspace and tab, also through the login URL; the URL follows the selection", async ({ page }) => {
  // The login URL's redirect to / keeps the hash, and the link is followed once the org loads.
  await signedIn(page, `#/workspaces/${id}/schedules`);
  await expect(page).toHaveURL(`${base()}/#/workspaces/${id}/schedules`);
  await expect(panel(page)).toBeVisible();
  await expect(tab(page, "Schedules")).toHaveAttribute("aria-selected", "true");
  await expect(node(page, NAME)).toHaveClass(/selected/);

  // Choosing a tab, or closing the panel, rewrites the URL (replaced: no history entry each).
  const entries = await page.evaluate(() => history.length);
  await tab(page, "Memories").click();
  await expect(page).toHaveURL(`${base()}/#/workspaces/${id}/memories`);
  await panel(page).getByRole("button", { name: "Close the panel" }).click();
  await expect(page).toHaveURL(`${base()}/`);
  expect(await page.evaluate(() => history.length)).toBe(entries);

  // A link pasted over the current one is followed without a reload.
  await page.evaluate((hash) => (location.hash = hash), `#/workspaces/${id}/details`);
  await expect(tab(page, "Details")).toHaveAttribute("aria-selected", "true");
  await page.reload();
  await expect(tab(page, "Details")).toHaveAttribute("aria-selected", "true");
});

test("a deep link opened without a session survives the sign-in form", async ({ page }) => {
  // No cookie: the sign-in page answers at / and its form posts back to the page's own URL,
  // so the redirect after signing in keeps the fragment (molecule/http/session.py).
  await page.goto(`${base()}/#/workspaces/${id}/chat`);
  await page.getByLabel("Admin token").fill(token());
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(`${base()}/#/workspaces/${id}/chat`);
  await expect(panel(page)).toBeVisible();
  await expect(tab(page, "Chat")).toHaveAttribute("aria-selected", "true");
});

test("a deep link to a workspace the org does not have is ignored", async ({ page }) => {
  await signedIn(page, `#/workspaces/${UNKNOWN}/chat`);
  await expect(node(page, NAME)).toBeVisible();
  await expect(page).toHaveURL(`${base()}/`);
  await expect(page.getByRole("complementary")).toHaveCount(0);
});

test("edit a schedule: the platform's refusal is shown in the form, a good edit is saved", async ({ page }) => {
  await signedIn(page, `#/workspaces/${id}/schedules`);
  await expect(tab(page, "Schedules")).toHaveAttribute("aria-selected", "true");

  // A schedule to edit, made with the create form.
  const create = panel(page).getByRole("form", { name: "New schedule" });
  await create.getByLabel("Name (optional)").fill("standup");
  await create.getByLabel("Cron (minute hour day month weekday)").fill("0 9 * * 1-5");
  await create.getByLabel("Time zone").fill("UTC");
  await create.getByLabel("Prompt").fill("Summarise yesterday.");
  await create.getByRole("button", { name: "Add schedule" }).click();
  const list = panel(page).getByRole("list", { name: "Schedules" });
  await expect(list).toContainText("Summarise yesterday.");
  const [stored] = (await (await api.get(`/workspaces/${id}/schedules`)).json()) as { id: string; next_run_at: string }[];

  // The keyboard opens the form (focus on its first field) and Escape closes it again.
  const edit = list.getByRole("button", { name: "Edit schedule standup" });
  await edit.focus();
  await page.keyboard.press("Enter");
  const form = panel(page).getByRole("form", { name: "Edit schedule standup" });
  await expect(form.getByLabel("Name (optional)")).toBeFocused();
  await page.keyboard.press("Escape");
  await expect(form).toHaveCount(0);
  await expect(edit).toBeFocused();

  await edit.click();
  await expect(form.getByLabel("Cron (minute hour day month weekday)")).toHaveValue("0 9 * * 1-5");
  await expect(form.getByLabel("Time zone")).toHaveValue("UTC");
  await expect(form.getByLabel("Prompt")).toHaveValue("Summarise yesterday.");
  await axe(page, "the schedule edit form");

  // Five fields the canvas cannot fault, a value the platform refuses: its 400, form kept open.
  await form.getByLabel("Cron (minute hour day month weekday)").fill("61 * * * *");
  await form.getByLabel("Prompt").fill("Plan the day.");
  await form.getByRole("button", { name: "Save" }).click();
  await expect(form.getByRole("alert")).toHaveText('invalid cron expression "61 * * * *": a value is out of range or malformed');
  await expect(form).toBeVisible();
  let rows = (await (await api.get(`/workspaces/${id}/schedules`)).json()) as Record<string, unknown>[];
  expect(rows[0]).toMatchObject({ cron_expr: "0 9 * * 1-5", prompt: "Summarise yesterday." });
  // A time zone the platform does not know: its message too.
  await form.getByLabel("Cron (minute hour day month weekday)").fill("30 6 * * *");
  await form.getByLabel("Time zone").fill("Mars/Olympus");
  await form.getByRole("button", { name: "Save" }).click();
  await expect(form.getByRole("alert")).toHaveText("invalid timezone: Mars/Olympus");

  // A good edit: saved, the form closes, the row shows the new values and next run.
  await form.getByLabel("Time zone").fill("UTC");
  await form.getByRole("button", { name: "Save" }).click();
  await expect(form).toHaveCount(0);
  await expect(panel(page).getByRole("status")).toHaveText("Schedule saved");
  rows = (await (await api.get(`/workspaces/${id}/schedules`)).json()) as Record<string, unknown>[];
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({ id: stored!.id, name: "standup", cron_expr: "30 6 * * *", timezone: "UTC", prompt: "Plan the day.", enabled: true });
  const next = rows[0]!.next_run_at as string;
  expect(next).not.toBe(stored!.next_run_at);
  expect(new Date(next).getUTCHours() * 60 + new Date(next).getUTCMinutes()).toBe(6 * 60 + 30);
  const shown = await page.evaluate((at) => new Date(at).toLocaleString(), next);
  const card = list.getByRole("listitem").filter({ hasText: "standup" });
  await expect(card).toContainText("30 6 * * *");
  await expect(card).toContainText("Plan the day.");
  await expect(card).toContainText(`Next: ${shown}`);
  await shot(page, "schedules-tab");
});

test("pending approvals: counted on the tab and the node, live and after a reload, gone once decided", async ({ page }) => {
  await signedIn(page, `#/workspaces/${id}/details`);
  await expect(panel(page)).toBeVisible();
  const badge = node(page, NAME).getByTestId("pending-approvals");
  await expect(badge).toHaveCount(0);
  await expect(tab(page, /^Approvals$/)).toBeVisible();

  // An agent asks twice (the admin token may ask in its name: WorkspaceAuth).
  for (const action of ["deploy to production", "spend 20 dollars"]) {
    const asked = await api.post(`/workspaces/${id}/approvals`, { data: { action, reason: "e2e" } });
    expect(asked.status()).toBe(201);
  }
  await expect(node(page, NAME).getByRole("img", { name: "2 pending approvals" })).toHaveText("2");
  await expect(tab(page, "Approvals (2 pending approvals)")).toBeVisible();

  // A reload: the counts are there before the Approvals tab is opened.
  await page.reload();
  await expect(tab(page, "Approvals (2 pending approvals)")).toBeVisible();
  await expect(badge).toHaveText("2");

  await tab(page, /^Approvals/).click();
  await expect(page).toHaveURL(`${base()}/#/workspaces/${id}/approvals`);
  const pending = panel(page).getByRole("list", { name: "Pending approvals" });
  await expect(pending.getByRole("listitem")).toHaveCount(2);
  await shot(page, "approvals-tab");
  await axe(page, "the approvals tab with pending approvals");

  await pending.getByRole("button", { name: `Approve deploy to production for ${NAME}` }).click();
  await expect(badge).toHaveText("1");
  await expect(node(page, NAME).getByRole("img", { name: "1 pending approval" })).toBeVisible();
  await expect(tab(page, "Approvals (1 pending approval)")).toBeVisible();
  await pending.getByRole("button", { name: `Deny spend 20 dollars for ${NAME}` }).click();
  await expect(badge).toHaveCount(0);
  await expect(tab(page, /^Approvals$/)).toBeVisible();
  await expect(panel(page).getByText("No approvals are waiting.")).toBeVisible();

  const decided = (await (await api.get(`/workspaces/${id}/approvals`)).json()) as { action: string; status: string }[];
  expect(Object.fromEntries(decided.map((a) => [a.action, a.status]))).toEqual({ "deploy to production": "approved", "spend 20 dollars": "denied" });
});
