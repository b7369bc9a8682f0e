// Reading the chart as React Flow draws it, for the chart's end-to-end specs: the viewport's
// pan and zoom, a node's place in chart units, and the labels a scope offers.
import { type Locator, type Page, expect } from "@playwright/test";
import { node } from "./helpers";

/** The chart's pan and zoom, as React Flow applies them to `.react-flow__viewport`. */
export async function viewport(page: Page): Promise<{ x: number; y: number; zoom: number }> {
  const transform = await page.locator(".react-flow__viewport").evaluate((e) => (e as HTMLElement).style.transform);
  const m = /translate\((-?[\d.e+-]+)px, ?(-?[\d.e+-]+)px\) scale\(([\d.e+-]+)\)/.exec(transform);
  expect(m, `viewport transform ${transform}`).toBeTruthy();
  return { x: Number(m![1]), y: Number(m![2]), zoom: Number(m![3]) };
}

/** A node's place in the chart's own coordinates (what the API stores as x/y). */
export async function flowPosition(page: Page, name: string): Promise<{ x: number; y: number }> {
  const transform = await wrapper(page, name).evaluate((e) => (e as HTMLElement).style.transform);
  const m = /translate\((-?[\d.e+-]+)px, ?(-?[\d.e+-]+)px\)/.exec(transform);
  expect(m, `node transform ${transform}`).toBeTruthy();
  return { x: Number(m![1]), y: Number(m![2]) };
}

/** React Flow's element around a workspace node: the one that is focused, dragged, selected. */
export const wrapper = (page: Page, name: string) => page.locator(".react-flow__node").filter({ has: node(page, name) });

/** Where `name` is drawn relative to `reference`, in chart units (screen pixels over the zoom). */
export async function offset(page: Page, name: string, reference: string): Promise<{ x: number; y: number }> {
  const { zoom } = await viewport(page);
  const a = (await node(page, name).boundingBox())!;
  const b = (await node(page, reference).boundingBox())!;
  return { x: (a.x - b.x) / zoom, y: (a.y - b.y) / zoom };
}

export const near = (actual: number, expected: number, within: number) =>
  expect(Math.abs(actual - expected), `${actual} ≈ ${expected} (±${within})`).toBeLessThanOrEqual(within);

/** The labels of the buttons in `scope` (the panel's actions, the context menu). */
export const labels = (scope: Locator, role: "button" | "menuitem") => scope.getByRole(role).allInnerTexts();
