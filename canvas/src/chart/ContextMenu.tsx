// The node's context menu: a WAI-ARIA menu (arrow keys move, Escape closes). Closing gives
// the focus back to the node, so a keyboard user goes on from where the menu was opened.
import { type KeyboardEvent, useEffect, useRef } from "react";
import { runLifecycle } from "../actions";
import { allowedActions } from "../status";
import { useOrg } from "../store/org";
import { useUi } from "../store/ui";

interface Item {
  label: string;
  run(): void;
  danger?: boolean;
}

export function ContextMenu() {
  const menu = useUi((s) => s.menu);
  const workspace = useOrg((s) => (menu ? s.workspaces[menu.id] : undefined));
  const ref = useRef<HTMLDivElement>(null);

  useEffect(() => {
    ref.current?.querySelector<HTMLElement>("[role=menuitem]")?.focus();
  }, [menu?.id]);

  if (!menu || !workspace) return null;
  const id = workspace.id;
  const close = () => {
    useUi.getState().openMenu(null);
    document.querySelector<HTMLElement>(`.react-flow__node[data-id="${CSS.escape(id)}"]`)?.focus();
  };
  const allowed = allowedActions(workspace.status);
  const items: Item[] = [
    { label: "Open chat", run: () => useOrg.getState().select(id, "chat") },
    { label: "Details", run: () => useOrg.getState().select(id, "details") },
    { label: "Add a child workspace", run: () => useUi.getState().open({ kind: "create", parentId: id }) },
  ];
  for (const action of ["restart", "pause", "resume", "hibernate"] as const) {
    if (allowed.has(action)) {
      items.push({ label: action[0]!.toUpperCase() + action.slice(1), run: () => void runLifecycle(id, action) });
    }
  }
  items.push({ label: "Delete…", danger: true, run: () => useUi.getState().open({ kind: "delete", id }) });

  const onKeyDown = (event: KeyboardEvent) => {
    const entries = [...(ref.current?.querySelectorAll<HTMLElement>("[role=menuitem]") ?? [])];
    const at = entries.indexOf(document.activeElement as HTMLElement);
    const move = (to: number) => entries[(to + entries.length) % entries.length]?.focus();
    if (event.key === "ArrowDown") move(at + 1);
    else if (event.key === "ArrowUp") move(at - 1);
    else if (event.key === "Home") move(0);
    else if (event.key === "End") move(entries.length - 1);
    else if (event.key === "Escape" || event.key === "Tab") close();
    else return;
    event.preventDefault();
  };

  return (
    <div
      ref={ref}
      className="context-menu"
      role="menu"
      aria-label={`Actions for ${workspace.name}`}
      style={{ left: menu.x, top: menu.y }}
      onKeyDown={onKeyDown}
    >
      {items.map((item) => (
        <button
          key={item.label}
          type="button"
          role="menuitem"
          tabIndex={-1}
          className={item.danger ? "danger" : undefined}
          onClick={() => {
            close();
            item.run();
          }}
        >
          {item.label}
        </button>
      ))}
    </div>
  );
}
