// What the end-to-end specs share: the platform's address and token (e2e/platform.ts sets
// them), locators, a status recorder, screenshots and the axe check. Specs run one at a time
// against the same platform, so each names its workspaces uniquely and removes them after.
import AxeBuilder from "@axe-core/playwright";
import { type Locator, type Page, expect, test } from "@playwright/test";

/** A script error fails the test that caused it (and says where): call at the top of a spec. */
export function failOnPageErrors(): void {
  test.beforeEach(({ page }) => {
    page.on("pageerror", (error) => {
      throw new Error(`page error: ${error.stack ?? error.message}`);
    });
  });
}

/** How long a real echo agent may take to come online on a loaded machine (a start, restart
 * or wake), for expectations that wait on one. */
export const STARTS = { timeout: 45_000 };

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

/** Signs in with the login URL and waits for the live connection. */
export async function signIn(page: Page): Promise<void> {
  await page.goto(`${base()}/?token=${token()}`);
  await expect(page.getByTestId("connection")).toHaveText(/Live/);
}

/** Records every distinct text the element matching `selector` shows (a MutationObserver, so a
 * state that lasts one frame is not missed), under `key`; `texts` reads them back. */
export async function watchTexts(page: Page, key: string, selector: string): Promise<void> {
  await page.evaluate(
    ([key, selector]) => {
      const w = window as unknown as { __texts: Record<string, string[]> };
      w.__texts = w.__texts ?? {};
      const texts: string[] = (w.__texts[key] = []);
      const read = () => {
        const text = document.querySelector(selector)?.textContent ?? "";
        if (texts[texts.length - 1] !== text) texts.push(text);
      };
      new MutationObserver(read).observe(document.body, { subtree: true, childList: true, characterData: true });
      read();
    },
    [key, selector] as const,
  );
}

export const texts = (page: Page, key: string) =>
  page.evaluate((key) => (window as unknown as { __texts: Record<string, string[]> }).__texts[key] ?? [], key);

export const bearer = (value: string) => ({ Authorization: `Bearer ${value}` });

/** The value of a `<dt>label</dt><dd>value</dd>` row of the details tab. */
export const detail = (scope: Locator, label: string) =>
  scope.locator(`xpath=.//dt[normalize-space()="${label}"]/following-sibling::dd[1]`);

/** Accept the next window.confirm (revoke, rotate, delete a memory). */
export const acceptNextConfirm = (page: Page) => page.once("dialog", (dialog) => void dialog.accept());

/** Runs a panel action and waits until the page has fetched the workspace again
 * (actions.ts `refreshOne`) and drawn the result, so what is checked next is that row's. */
export async function refetched(page: Page, id: string, action: () => Promise<void>): Promise<void> {
  const fetched = page.waitForResponse((r) => r.request().method() === "GET" && new URL(r.url()).pathname === `/workspaces/${id}`);
  await action();
  await (await fetched).finished();
  await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0))));
}

/** Everything the page holds as text: its markup (text and attributes) and every field's value. */
export const pageText = (page: Page) =>
  page.evaluate(() =>
    [
      document.documentElement.outerHTML,
      ...[...document.querySelectorAll<HTMLInputElement | HTMLTextAreaElement>("input, textarea")].map((e) => e.value),
    ].join("\n"),
  );
