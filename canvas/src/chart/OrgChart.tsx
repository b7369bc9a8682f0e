// The org chart: React Flow with one node per visible workspace and parent → child edges.
import {
  Background,
  Controls,
  type Edge,
  MiniMap,
  type NodeTypes,
  ReactFlow,
  type OnNodesChange,
  applyNodeChanges,
  useStoreApi,
  useUpdateNodeInternals,
} from "@xyflow/react";
import { type KeyboardEvent, useEffect, useMemo, useRef, useState } from "react";
import { persistPosition } from "../actions";
import { childrenOf, hiddenIds, layout } from "../layout/tree";
import { useOrg } from "../store/org";
import { useUi } from "../store/ui";
import type { Workspace } from "../api/types";
import { type WorkspaceFlowNode, type WorkspaceNodeData, WorkspaceNode } from "./WorkspaceNode";

const nodeTypes: NodeTypes = { workspace: WorkspaceNode };
const TRAFFIC_MS = 2500;
/** How every fit frames the org (on load, the toolbar's Fit, the controls' Fit View): nodes
 * never drawn larger than life, however few. */
export const FIT_VIEW = { maxZoom: 1 } as const;
const ORIGIN = { x: 0, y: 0 };

/** What the tree layout reads of the rows: a status change leaves it as it was. */
function structure(rows: readonly Workspace[]): string {
  return rows.map((r) => `${r.id}|${r.parent_id ?? ""}|${r.x ?? 0}|${r.y ?? 0}|${r.collapsed ? 1 : 0}|${r.created_at ?? ""}|${r.name}`).join("\n");
}

/** The previous edges array while no edge changed, so React Flow does not redraw them all. */
function useStableEdges(edges: Edge[]): Edge[] {
  const previous = useRef<Edge[]>(edges);
  const same =
    previous.current.length === edges.length &&
    previous.current.every((e, i) => e.id === edges[i]!.id && e.animated === edges[i]!.animated);
  if (!same) previous.current = edges;
  return previous.current;
}

/** Shift+F10 or the context-menu key on a focused node opens its menu. */
function openMenuFromKeyboard(event: KeyboardEvent): void {
  if (!(event.key === "ContextMenu" || (event.key === "F10" && event.shiftKey))) return;
  const node = (event.target as HTMLElement).closest<HTMLElement>(".react-flow__node");
  const id = node?.dataset.id;
  if (!node || !id) return;
  event.preventDefault();
  const box = node.getBoundingClientRect();
  useUi.getState().openMenu({ id, x: box.left + 24, y: box.bottom - 8 });
}

export function OrgChart() {
  const workspaces = useOrg((s) => s.workspaces);
  const traffic = useOrg((s) => s.traffic);
  const selectedId = useOrg((s) => s.selectedId);
  const [now, setNow] = useState(() => Date.now());

  useEffect(() => {
    const latest = Math.max(0, ...Object.values(traffic));
    if (Date.now() - latest > TRAFFIC_MS) return;
    setNow(Date.now());
    const timer = setTimeout(() => setNow(Date.now()), TRAFFIC_MS);
    return () => clearTimeout(timer);
  }, [traffic]);

  // The tree (layout, hidden descendants, children) depends on the structure alone, so a status
  // event does not lay out the org again (bench/canvas_load.py: 500 nodes, 100 events/s).
  const rows = useMemo(() => Object.values(workspaces), [workspaces]);
  const structureKey = useMemo(() => structure(rows), [rows]);
  const tree = useMemo(
    () => ({ hidden: hiddenIds(rows), spots: layout(rows), kids: childrenOf(rows) }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [structureKey],
  );
  // Each node's data object is kept while its row, child count and traffic flag are unchanged,
  // so React Flow re-renders only the nodes an event touched.
  const dataCache = useRef(new Map<string, WorkspaceNodeData>());

  const { computed, edges } = useMemo(() => {
    const { hidden, spots, kids } = tree;
    const visible = rows.filter((w) => !hidden.has(w.id));
    const cache = dataCache.current;
    const nextCache = new Map<string, WorkspaceNodeData>();
    const computed: WorkspaceFlowNode[] = visible.map((w) => {
      const childCount = kids.get(w.id)?.length ?? 0;
      const busy = now - (traffic[w.id] ?? 0) < TRAFFIC_MS;
      const before = cache.get(w.id);
      const data = before && before.workspace === w && before.childCount === childCount && before.busy === busy ? before : { workspace: w, childCount, busy };
      nextCache.set(w.id, data);
      return {
        id: w.id,
        type: "workspace",
        position: spots.get(w.id) ?? ORIGIN,
        selected: w.id === selectedId,
        ariaLabel: `${w.name}, ${w.status}`,
        data,
      };
    });
    dataCache.current = nextCache;
    const edges: Edge[] = visible
      .filter((w) => w.parent_id && workspaces[w.parent_id] && !hidden.has(w.parent_id))
      .map((w) => ({
        id: `${w.parent_id}->${w.id}`,
        source: w.parent_id!,
        target: w.id,
        animated: now - (traffic[w.id] ?? 0) < TRAFFIC_MS,
      }));
    return { computed, edges };
  }, [rows, tree, workspaces, selectedId, traffic, now]);
  const stableEdges = useStableEdges(edges);

  // React Flow owns positions while a node is dragged; the store owns them otherwise.
  const [nodes, setNodes] = useState<WorkspaceFlowNode[]>(computed);
  useEffect(() => {
    setNodes((current) => {
      const before = new Map(current.map((n) => [n.id, n]));
      // Keep what React Flow measured, so a data change does not re-measure every node.
      return computed.map((n) => {
        const old = before.get(n.id);
        // Unchanged (same data, place and selection): the same object, so it is not drawn again.
        if (old && old.data === n.data && old.position === n.position && old.selected === n.selected && !old.dragging) return old;
        return old?.measured ? { ...n, measured: old.measured } : n;
      });
    });
  }, [computed]);

  // React Flow loses a node's handle positions when it is handed a copy without `measured`
  // between measuring the node and drawing it again (a status event right after a create). The
  // copy that follows, measured, does not bring them back, its size never changes again, so it
  // is never measured again and its edges are never drawn. Such nodes are measured once more.
  const flow = useStoreApi<WorkspaceFlowNode>();
  const updateNodeInternals = useUpdateNodeInternals();
  useEffect(() => {
    const lost: string[] = [];
    for (const n of flow.getState().nodeLookup.values()) {
      if (n.measured.width !== undefined && !n.internals.handleBounds && !n.hidden) lost.push(n.id);
    }
    if (lost.length) updateNodeInternals(lost);
  }, [nodes, flow, updateNodeInternals]);
  const onNodesChange: OnNodesChange<WorkspaceFlowNode> = (changes) => {
    // A node chosen with the keyboard (Enter) or a click becomes the panel's workspace.
    const chosen = changes.find((c) => c.type === "select" && c.selected);
    if (chosen && chosen.type === "select") useOrg.getState().select(chosen.id);
    // A node put down, by a drop or by the arrow keys on a selected node (React Flow's keyboard
    // moves report no drag stop), keeps its place: its x/y are stored.
    for (const c of changes) if (c.type === "position" && c.position && !c.dragging) void persistPosition(c.id, c.position.x, c.position.y);
    setNodes((current) => applyNodeChanges(changes, current));
  };

  return (
    <ReactFlow
      nodes={nodes}
      edges={stableEdges}
      nodeTypes={nodeTypes}
      onNodesChange={onNodesChange}
      onNodeClick={(_, node) => useOrg.getState().select(node.id)}
      onKeyDown={openMenuFromKeyboard}
      onNodeContextMenu={(event, node) => {
        event.preventDefault();
        useUi.getState().openMenu({ id: node.id, x: event.clientX, y: event.clientY });
      }}
      onPaneClick={() => useUi.getState().openMenu(null)}
      nodesConnectable={false}
      fitView
      fitViewOptions={FIT_VIEW}
      minZoom={0.1}
      aria-label="Org chart"
    >
      <Background />
      <Controls aria-label="Zoom and fit" fitViewOptions={FIT_VIEW} />
      <MiniMap pannable zoomable ariaLabel="Overview of the org chart" />
    </ReactFlow>
  );
}
