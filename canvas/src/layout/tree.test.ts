import { describe, expect, it } from "vitest";
import type { Workspace } from "../api/types";
import { NODE_WIDTH, childrenOf, descendants, hiddenIds, layout } from "./tree";

let t = 0;
const w = (id: string, parent_id: string | null = null, extra: Partial<Workspace> = {}): Workspace => ({
  id,
  name: id,
  status: "online",
  parent_id,
  created_at: `2026-01-01T00:00:${String(t++).padStart(2, "0")}Z`,
  x: 0,
  y: 0,
  ...extra,
});

describe("the tree layout", () => {
  it("puts children in a row under their parent, centred", () => {
    const rows = [w("root"), w("a", "root"), w("b", "root")];
    const at = layout(rows);
    expect(at.get("a")!.y).toBe(at.get("b")!.y);
    expect(at.get("a")!.y).toBeGreaterThan(at.get("root")!.y);
    expect(at.get("b")!.x - at.get("a")!.x).toBeGreaterThanOrEqual(NODE_WIDTH);
    expect(at.get("root")!.x).toBe((at.get("a")!.x + at.get("b")!.x) / 2);
  });

  it("keeps stored positions, and unplaced children follow a moved parent", () => {
    const at = layout([w("root", null, { x: 1000, y: 500 }), w("a", "root")]);
    expect(at.get("root")).toEqual({ x: 1000, y: 500 });
    expect(at.get("a")!.y).toBeGreaterThan(500);
    expect(Math.abs(at.get("a")!.x - 1000)).toBeLessThan(NODE_WIDTH);
  });

  it("roots sit side by side; an unknown parent counts as a root", () => {
    const at = layout([w("r1"), w("r2"), w("orphan", "gone")]);
    const xs = ["r1", "r2", "orphan"].map((id) => at.get(id)!.x);
    expect(new Set(xs).size).toBe(3);
    expect(childrenOf([w("orphan2", "gone")]).get(null)!.map((r) => r.id)).toEqual(["orphan2"]);
  });

  it("collapsing hides the whole subtree", () => {
    const rows = [w("root", null, { collapsed: true }), w("a", "root"), w("b", "a"), w("other")];
    expect([...hiddenIds(rows)].sort()).toEqual(["a", "b"]);
    expect(descendants("root", childrenOf(rows)).sort()).toEqual(["a", "b"]);
  });
});
