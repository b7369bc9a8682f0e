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

/** Fetch one row again (some transitions, like resuming an external agent, emit no event). */
export async function refreshOne(id: string): Promise<void> {
  try {
    useOrg.getState().upsert(await getWorkspace(id));
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

export async function persistPosition(id: string, x: number, y: number): Promise<void> {
  const rx = Math.round(x);
  const ry = Math.round(y) || 1; // (0, 0) means "never placed" to the layout
  useOrg.getState().moveLocal(id, rx, ry);
  try {
    await savePosition(id, rx, ry);
  } catch (error) {
    useUi.getState().say(`Could not save the position: ${describe(error)}`, true);
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
