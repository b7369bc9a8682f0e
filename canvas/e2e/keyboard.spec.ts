// The canvas without a mouse: every step here is a key press, as a keyboard-only user works.
import { type Page, expect, test } from "@playwright/test";
import { adminAuth, base, failOnPageErrors, node, seen, STARTS, token, watchStatus } from "./helpers";

failOnPageErrors();

/** Presses Tab until the element holding `testId` (or a wrapper of it: a chart node) has the
 * focus, at most `limit` times. */
async function tabTo(page: Page, testId: string, limit = 80): Promise<void> {
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press("Tab");
    const there = await page.evaluate((id) => {
      const target = document.querySelector(`[data-testid="${id}"]`);
      const focused = document.activeElement;
      return !!target && !!focused && (focused === target || focused === target.closest(".react-flow__node"));
    }, testId);
    if (there) return;
  }
  throw new Error(`${testId} never had the focus after ${limit} Tab presses`);
}

test("create, open, restart and delete a workspace with the keyboard alone", async ({ page }) => {
  await page.goto(`${base()}/?token=${token()}`);
  await expect(page.getByTestId("connection")).toHaveText(/Live/);

  // New workspace: the toolbar button, the dialog's fields, Enter to create.
  const create = page.getByRole("button", { name: "New workspace" });
  await create.focus();
  await page.keyboard.press("Enter");
  const dialog = page.getByRole("dialog", { name: "New workspace" });
  await expect(dialog).toBeVisible();
  await dialog.getByRole("radio", { name: "echo", exact: true }).focus();
  await page.keyboard.press("Space");
  await dialog.getByLabel("Name").focus();
  await page.keyboard.type("keys-only");
  await page.keyboard.press("Enter");
  await expect(dialog).toHaveCount(0);
  await expect(node(page, "keys-only").getByTestId("status")).toHaveText("Online", STARTS);

  // Tab reaches the node; Enter opens its panel.
  await tabTo(page, "node-keys-only");
  await page.keyboard.press("Enter");
  const panel = page.getByRole("complementary", { name: "Workspace keys-only" });
  await expect(panel).toBeVisible();

  // Shift+F10 opens its menu; the arrow keys reach Restart; Enter runs it.
  await tabTo(page, "node-keys-only");
  await watchStatus(page, "keys-only");
  await page.keyboard.press("Shift+F10");
  const menu = page.getByRole("menu", { name: "Actions for keys-only" });
  await expect(menu).toBeVisible();
  await expect(menu.getByRole("menuitem").first()).toBeFocused();
  for (let i = 0; i < 8; i++) {
    if (await menu.getByRole("menuitem", { name: "Restart" }).evaluate((e) => e === document.activeElement)) break;
    await page.keyboard.press("ArrowDown");
  }
  await expect(menu.getByRole("menuitem", { name: "Restart" })).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(menu).toHaveCount(0);
  await expect.poll(() => seen(page, "keys-only"), STARTS).toContain("Provisioning");
  await expect(node(page, "keys-only").getByTestId("status")).toHaveText("Online", STARTS);

  // Escape closes the menu and gives the focus back to the node.
  await tabTo(page, "node-keys-only");
  await page.keyboard.press("Shift+F10");
  await expect(menu).toBeVisible();
  await page.keyboard.press("Escape");
  await expect(menu).toHaveCount(0);
  await expect(page.locator(".react-flow__node:focus [data-testid=\"node-keys-only\"]")).toHaveCount(1);

  // The tabs: arrow keys move between them.
  await page.getByRole("tab", { name: "Details" }).focus();
  await page.keyboard.press("ArrowRight");
  await expect(page.getByRole("tab", { name: "Chat" })).toBeFocused();
  await expect(page.getByRole("tab", { name: "Chat" })).toHaveAttribute("aria-selected", "true");

  // Ctrl-K finds it; Delete… from the menu, confirmed with the keyboard.
  await page.keyboard.press("Escape");
  await page.keyboard.press("Control+k");
  await page.keyboard.type("keys-on");
  await page.keyboard.press("Enter");
  await expect(panel).toBeVisible();
  await tabTo(page, "node-keys-only");
  await page.keyboard.press("Shift+F10");
  await page.keyboard.press("End");
  await expect(menu.getByRole("menuitem", { name: "Delete…" })).toBeFocused();
  await page.keyboard.press("Enter");
  const confirm = page.getByRole("dialog", { name: "Delete keys-only?" });
  await expect(confirm).toBeVisible();
  await confirm.getByRole("button", { name: /^Delete/ }).focus();
  await page.keyboard.press("Enter");
  await expect(node(page, "keys-only")).toHaveCount(0);
  const left = await page.request.get(`${base()}/workspaces`, { headers: adminAuth() });
  expect(((await left.json()) as { name: string }[]).map((w) => w.name)).not.toContain("keys-only");
});
