// The canvas end to end: a person signs in, builds a small org, talks to it, and tears it down.
import { type Page, expect, test } from "@playwright/test";
import { readFileSync } from "node:fs";
import { axe, base, failOnPageErrors, node, seen, shot, signIn, STARTS, token, watchStatus } from "./helpers";

test.describe.configure({ mode: "serial" });
failOnPageErrors();

test("without a session the sign-in page asks for the admin token", async ({ page }) => {
  await page.goto(base() + "/");
  await expect(page.getByRole("heading", { name: "Molecule" })).toBeVisible();
  await page.getByLabel("Admin token").fill("not-the-token");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toHaveText("That is not the admin token.");
  await page.getByLabel("Admin token").fill(token());
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("connection")).toHaveText(/Live/);
});

test("the org: create, chat, upload, reload, restart, cascade delete", async ({ page }) => {
  await page.goto(`${base()}/?token=${token()}`);
  await expect(page).toHaveURL(base() + "/");
  await expect(page.getByTestId("connection")).toHaveText(/Live/);
  await expect(page.getByText("No workspaces yet.")).toBeVisible();
  await axe(page, "the empty chart");

  // Create a workspace from the palette and watch it come up.
  await page.getByRole("button", { name: "New workspace" }).click();
  const dialog = page.getByRole("dialog", { name: "New workspace" });
  await dialog.getByRole("radio", { name: "echo", exact: true }).check();
  await dialog.getByLabel("Name").fill("alpha");
  await axe(page, "the new-workspace dialog");
  await dialog.getByRole("button", { name: "Create" }).click();
  await expect(node(page, "alpha")).toBeVisible();
  await watchStatus(page, "alpha");
  await expect(node(page, "alpha").getByTestId("status")).toHaveText("Online", STARTS);
  const firstRun = await seen(page, "alpha");
  expect(firstRun[firstRun.length - 1]).toBe("Online");

  // Chat: the echo agent answers.
  await page.getByRole("tab", { name: "Chat" }).click();
  const composer = page.getByLabel("Message");
  await composer.fill("hello canvas");
  await composer.press("Enter");
  const conversation = page.getByRole("list", { name: "Conversation" });
  await expect(conversation).toContainText("echo: hello canvas");

  // A file: upload it, send it, download it from its chip.
  const file = { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("the canvas sends files\n") };
  await page.locator('input[type="file"]').setInputFiles(file);
  await expect(page.getByRole("list", { name: "Attachments to send" })).toContainText("notes.txt");
  await composer.fill("see the file");
  await composer.press("Enter");
  await expect(conversation).toContainText("echo: see the file");
  const chip = conversation.getByRole("link", { name: "Download notes.txt" });
  const [download] = await Promise.all([page.waitForEvent("download"), chip.click()]);
  expect(readFileSync((await download.path())!).toString()).toBe("the canvas sends files\n");
  await axe(page, "the chat tab");

  // Reload: the conversation and its chip are rebuilt from the activity feed.
  await page.reload();
  await node(page, "alpha").click();
  await page.getByRole("tab", { name: "Chat" }).click();
  await expect(conversation).toContainText("hello canvas");
  await expect(conversation).toContainText("echo: hello canvas");
  await expect(conversation.getByRole("link", { name: "Download notes.txt" })).toBeVisible();
  await shot(page, "chat");

  // Restart from the context menu: provisioning, then online again, live.
  await watchStatus(page, "alpha");
  await node(page, "alpha").click({ button: "right" });
  await page.getByRole("menuitem", { name: "Restart" }).click();
  await expect.poll(() => seen(page, "alpha"), STARTS).toContain("Provisioning");
  await expect(node(page, "alpha").getByTestId("status")).toHaveText("Online", STARTS);

  // A child through the menu, found with Ctrl-K.
  await node(page, "alpha").click({ button: "right" });
  await page.getByRole("menuitem", { name: "Add a child workspace" }).click();
  await dialog.getByLabel("Name").fill("beta");
  await dialog.getByRole("button", { name: "Create" }).click();
  await expect(node(page, "beta")).toBeVisible();
  await expect(page.locator(".react-flow__edge")).toHaveCount(1);
  await page.keyboard.press("Control+k");
  await page.getByRole("combobox", { name: "Search workspaces" }).fill("bet");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("complementary", { name: "Workspace beta" })).toBeVisible();
  await axe(page, "the chart with the side panel");
  await page.getByRole("tab", { name: "Details" }).click();
  await shot(page, "org-chart");

  // Delete the parent: the confirmation lists the child, and both go.
  await node(page, "alpha").click({ button: "right" });
  await page.getByRole("menuitem", { name: "Delete…" }).click();
  const confirm = page.getByRole("dialog", { name: "Delete alpha?" });
  await expect(confirm.getByRole("list", { name: "Workspaces deleted with it" })).toHaveText("beta");
  await shot(page, "delete-cascade");
  await confirm.getByRole("button", { name: "Delete all 2" }).click();
  await expect(node(page, "alpha")).toHaveCount(0);
  await expect(node(page, "beta")).toHaveCount(0);
});

test("configure a workspace: a config edit and a secret set", async ({ page }) => {
  const auth = { Authorization: `Bearer ${token()}` };
  const made = await page.request.post(`${base()}/workspaces`, { headers: auth, data: { name: "settings-e2e", runtime: "echo" } });
  expect(made.ok()).toBe(true);
  const id = ((await made.json()) as { id: string }).id;
  await page.goto(`${base()}/?token=${token()}`);
  await node(page, "settings-e2e").click();

  // The stored config: a bad edit shows why, a good one is saved.
  await page.getByRole("tab", { name: "Config" }).click();
  const config = page.getByLabel(/^Config \(JSON object/);
  await expect(config).toHaveValue("{}");
  await config.fill("[1]");
  await page.getByRole("button", { name: "Save stored config" }).click();
  await expect(page.getByRole("alert")).toHaveText("the config must be a JSON object");
  await config.fill('{"e2e": {"edited": true}}');
  await page.getByRole("button", { name: "Save stored config" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Config saved" })).toBeVisible();
  const stored = await page.request.get(`${base()}/workspaces/${id}/config`, { headers: auth });
  expect(await stored.json()).toEqual({ data: { e2e: { edited: true } } });
  await expect(page.getByText("Saving restarts the workspace's agent")).toBeVisible();
  await axe(page, "the config tab");

  // A workspace secret: listed by name, its value never shown.
  await page.getByRole("tab", { name: "Secrets" }).click();
  const form = page.getByRole("form", { name: "Set a workspace secret" });
  await form.getByLabel("Name").fill("E2E_SECRET");
  await form.getByLabel("Value").fill("never-shown-value");
  await form.getByRole("button", { name: "Set workspace secret" }).click();
  await expect(page.getByRole("list", { name: "Workspace secrets" })).toContainText("E2E_SECRET");
  await expect(page.getByText("never-shown-value")).toHaveCount(0);
  await expect(form.getByLabel("Value")).toHaveValue("");
  await shot(page, "secrets-tab");
  await axe(page, "the secrets tab");
  const keys = await page.request.get(`${base()}/workspaces/${id}/secrets`, { headers: auth });
  expect(((await keys.json()) as { key: string }[]).map((k) => k.key)).toContain("E2E_SECRET");
  await page.request.delete(`${base()}/workspaces/${id}?confirm=true`, { headers: auth });
});

test("an org template that needs a secret: the 412 preflight, then the import", async ({ page }) => {
  const dialog = await importOrg(page, "LLM Team");
  await expect(dialog.getByRole("alert")).toContainText("This team needs OPENAI_API_KEY");
  await dialog.getByLabel("OPENAI_API_KEY (a global secret)").fill("sk-e2e-not-a-real-key");
  await shot(page, "import-preflight");
  await axe(page, "the import preflight");
  await dialog.getByRole("button", { name: "Save and import" }).click();
  await expect(dialog).toHaveCount(0);
  await expect(page.locator(".react-flow__node")).toHaveCount(3);
  await expect(page.locator(".react-flow__edge")).toHaveCount(2);
});

test("an import that leaves something out says what, then closes", async ({ page }) => {
  const auth = { Authorization: `Bearer ${token()}` };
  const templates = (await (await page.request.get(`${base()}/org/templates`, { headers: auth })).json()) as { dir: string }[];
  test.skip(!templates.some((t) => t.dir === "e2e-left-out"), "needs the org template of e2e/platform.ts");
  const dialog = await importOrg(page, "Left out (e2e)");
  try {
    await expect(dialog.getByRole("status")).toHaveText("Imported, with things left out.");
    await expect(dialog.getByRole("list", { name: "Left out" })).toHaveText(
      "Plugged e2e: plugin from-elsewhere: not in the plugin registry (GET /plugins)",
    );
    await expect(dialog.getByRole("list", { name: "Failed" })).toHaveCount(0);
    await axe(page, "the import result");
    await dialog.getByRole("button", { name: "Done" }).click();
    await expect(dialog).toHaveCount(0);
    await expect(node(page, "Plugged e2e")).toBeVisible();
    // The registry's plugin was installed with it.
    const plugins = await page.request.get(`${base()}/workspaces/${await idOf(page, "Plugged e2e")}/plugins`, { headers: auth });
    expect(((await plugins.json()) as { name: string }[]).map((p) => p.name)).toEqual(["team-etiquette"]);
  } finally {
    const id = await idOf(page, "Plugged e2e");
    if (id) await page.request.delete(`${base()}/workspaces/${id}?confirm=true`, { headers: auth });
  }
});

async function idOf(page: Page, name: string): Promise<string | undefined> {
  const list = await page.request.get(`${base()}/workspaces`, { headers: { Authorization: `Bearer ${token()}` } });
  return ((await list.json()) as { id: string; name: string }[]).find((w) => w.name === name)?.id;
}

/** Signs in, opens the import dialog, picks the org template named `name` and imports it. */
async function importOrg(page: Page, name: string) {
  await signIn(page);
  await page.getByRole("button", { name: "Import org" }).click();
  const dialog = page.getByRole("dialog", { name: "Import an org" });
  await dialog.getByRole("radio", { name, exact: true }).check();
  await dialog.getByRole("button", { name: "Import", exact: true }).click();
  return dialog;
}
