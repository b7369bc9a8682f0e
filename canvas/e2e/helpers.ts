// What the end-to-end specs share: the platform's address and token (e2e/platform.ts sets
// them), locators, a status recorder, screenshots and the axe check. Specs run one at a time
// against the same platform, so each names its workspaces uniquely and removes them after.
import AxeBuilder from "@axe-core/playwright";
import { type Page, expect, test } from "@playwright/test";

/** A script error fails the test that caused it (and says where): call at the top of a spec. */
export function failOnPageErrors(): void {
  test.beforeEach(({ page }) => {
    page.on("pageerror", (error) => {
      throw new Error(`page error: ${error.stack ?? error.message}`);
    });
  });
}

export const base = () => process.env.E2E_URL!;
export const token = () => process.env.E2E_ADMIN_TOKEN!;
export const node = (page: Page, name: string) => page.getByTestId(`node-${name}`);

/** Records every status text a node shows, so a fast transition is not missed. */
export async function watchStatus(page: Page, name: string): Promise<void> {
  await page.evaluate((name) => {
    const w = window as unknown as { __seen: Record<string, string[]> };
    w.__seen = w.__seen ?? {};
    const seen: string[] = (w.__seen[name] = []);
    const read = () => {
      const text = document.querySelector(`[data-testid="node-${name}"] [data-testid=status]`)?.textContent;
      if (text && seen[seen.length - 1] !== text) seen.push(text);
    };
    new MutationObserver(read).observe(document.body, { subtree: true, childList: true, characterData: true });
    read();
  }, name);
}

export const seen = (page: Page, name: string) =>
  page.evaluate((name) => (window as unknown as { __seen: Record<string, string[]> }).__seen[name] ?? [], name);

/** CANVAS_SCREENSHOTS=dir keeps pictures of the main views (docs/screenshots/). */
export async function shot(page: Page, name: string): Promise<void> {
  const dir = process.env.CANVAS_SCREENSHOTS;
  if (dir) await page.screenshot({ path: `${dir}/${name}.png` });
}

export async function axe(page: Page, what: string): Promise<void> {
  const result = await new AxeBuilder({ page }).analyze();
  const found = result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  expect(found, `axe violations on ${what}`).toEqual([]);
}

/** The admin's bearer header, for setting up through the API what a test is not about. */
export const adminAuth = () => ({ Authorization: `Bearer ${token()}` });
