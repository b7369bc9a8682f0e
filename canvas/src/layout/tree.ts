// Where each node goes. A workspace keeps the x/y the API stores once someone has dragged it;
// one never placed (0, 0) gets a tidy tree spot: children in a row under their parent,
// each subtree as wide as its leaves.
import type { Workspace } from "../api/types";

export const NODE_WIDTH = 230;
export const NODE_HEIGHT = 96;
const GAP_X = 30;
const GAP_Y = 70;

export interface Point {
  x: number;
  y: number;
}

export const isPlaced = (w: Workspace): boolean => Boolean(w.x || w.y);

/** Children of every workspace (unknown parents count as roots), ordered by creation. */
export function childrenOf(rows: readonly Workspace[]): Map<string | null, Workspace[]> {
  const ids = new Set(rows.map((r) => r.id));
  const map = new Map<string | null, Workspace[]>();
  const sorted = [...rows].sort(
    (a, b) => (a.created_at ?? "").localeCompare(b.created_at ?? "") || a.name.localeCompare(b.name),
  );
  for (const row of sorted) {
    const parent = row.parent_id && ids.has(row.parent_id) ? row.parent_id : null;
    map.set(parent, [...(map.get(parent) ?? []), row]);
  }
  return map;
}

/** Every descendant id of `id` (depth first). */
export function descendants(id: string, children: Map<string | null, Workspace[]>): string[] {
  const out: string[] = [];
  const stack = [...(children.get(id) ?? [])];
  while (stack.length) {
    const next = stack.pop()!;
    out.push(next.id);
    stack.push(...(children.get(next.id) ?? []));
  }
  return out;
}

/** Ids hidden because an ancestor is collapsed. */
export function hiddenIds(rows: readonly Workspace[]): Set<string> {
  const children = childrenOf(rows);
  const hidden = new Set<string>();
  for (const row of rows) {
    if (row.collapsed) for (const id of descendants(row.id, children)) hidden.add(id);
  }
  return hidden;
}

/** Positions for every workspace: stored ones as they are, unplaced ones in a tree. */
export function layout(rows: readonly Workspace[]): Map<string, Point> {
  const children = childrenOf(rows);
  const width = new Map<string, number>();
  const measure = (w: Workspace): number => {
    const kids = w.collapsed ? [] : (children.get(w.id) ?? []);
    const total = kids.length
      ? kids.reduce((sum, k) => sum + measure(k), 0) + GAP_X * (kids.length - 1)
      : NODE_WIDTH;
    width.set(w.id, Math.max(NODE_WIDTH, total));
    return width.get(w.id)!;
  };
  const spots = new Map<string, Point>();
  const place = (w: Workspace, left: number, depth: number, origin: Point | null): void => {
    const span = width.get(w.id)!;
    const auto = { x: left + (span - NODE_WIDTH) / 2, y: depth * (NODE_HEIGHT + GAP_Y) };
    const own = isPlaced(w) ? { x: w.x ?? 0, y: w.y ?? 0 } : null;
    // Under a parent that was moved by hand, the automatic spot follows that parent.
    const at = own ?? (origin ? { x: origin.x + auto.x, y: origin.y + auto.y } : auto);
    spots.set(w.id, at);
    const shift = own ? { x: own.x - auto.x, y: own.y - auto.y } : origin;
    let cursor = left;
    for (const kid of w.collapsed ? [] : (children.get(w.id) ?? [])) {
      place(kid, cursor, depth + 1, shift);
      cursor += width.get(kid.id)! + GAP_X;
    }
  };
  let left = 0;
  for (const root of children.get(null) ?? []) {
    measure(root);
    place(root, left, 0, null);
    left += width.get(root.id)! + GAP_X * 2;
  }
  for (const row of rows) if (!spots.has(row.id)) spots.set(row.id, { x: row.x ?? 0, y: row.y ?? 0 });
  return spots;
}
