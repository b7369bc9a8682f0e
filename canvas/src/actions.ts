// What the menus, buttons and panels do: API calls whose outcome is told to the person.
import { type LifecycleAction, getWorkspace, lifecycle, savePosition, setCollapsed } from "./api/workspaces";
import { useOrg } from "./store/org";
import { useUi } from "./store/ui";

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));

const DONE: Record<LifecycleAction, string> = {
  restart: "Restarting",
  pause: "Paused",
  resume: "Resuming",
  hibernate: "Hibernated",
};

/** Fetch one row again, not waiting for the action's events.
 * GET /workspaces/:id leaves out fields the list has (current_task, last_sample_error, as the
 * original): those are kept from the row the canvas holds, not wiped. */
export async function refreshOne(id: string): Promise<void> {
  try {
    const row = await getWorkspace(id);
    useOrg.getState().upsert({ ...useOrg.getState().workspaces[id], ...row });
  } catch {
    // gone meanwhile: its WORKSPACE_REMOVED event takes it off the chart
  }
}

export async function runLifecycle(id: string, action: LifecycleAction): Promise<void> {
  const name = useOrg.getState().workspaces[id]?.name ?? "workspace";
  try {
    await lifecycle(id, action);
    useUi.getState().say(`${DONE[action]} ${name}`);
    await refreshOne(id);
  } catch (error) {
    useUi.getState().say(`Could not ${action} ${name}: ${describe(error)}`, true);
  }
}

// Per workspace, while a position is being saved: the newest one asked for meanwhile (null: none).
const savingPositions = new Map<string, { x: number; y: number } | null>();

/** Shows the workspace at (x, y) and stores it. The arrow keys move a node 5 px a press, so the
 * saves of one workspace go one at a time, the last place asked for last: requests in flight
 * together could be applied out of order and leave an older place stored. */
export async function persistPosition(id: string, x: number, y: number): Promise<void> {
  const rx = Math.round(x);
  const ry = rx === 0 && Math.round(y) === 0 ? 1 : Math.round(y); // (0, 0) means "never placed" to the layout
  useOrg.getState().moveLocal(id, rx, ry);
  if (savingPositions.has(id)) {
    savingPositions.set(id, { x: rx, y: ry });
    return;
  }
  savingPositions.set(id, null);
  try {
    for (let next: { x: number; y: number } | null = { x: rx, y: ry }; next; ) {
      await savePosition(id, next.x, next.y);
      next = savingPositions.get(id) ?? null;
      savingPositions.set(id, null);
    }
  } catch (error) {
    useUi.getState().say(`Could not save the position: ${describe(error)}`, true);
  } finally {
    savingPositions.delete(id);
  }
}

export async function toggleCollapsed(id: string): Promise<void> {
  const row = useOrg.getState().workspaces[id];
  if (!row) return;
  const collapsed = !row.collapsed;
  useOrg.getState().upsert({ ...row, collapsed });
  try {
    await setCollapsed(id, collapsed);
  } catch (error) {
    useOrg.getState().upsert({ ...row });
    useUi.getState().say(`Could not ${collapsed ? "collapse" : "expand"}: ${describe(error)}`, true);
  }
}
