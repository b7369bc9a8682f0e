// The selected workspace: its actions and tabs (details, chat, activity, agent comms, and the
// settings tabs of settings/: config, secrets, schedules, memories, tokens, approvals).
import { type KeyboardEvent, useRef } from "react";
import { runLifecycle } from "../actions";
import { allowedActions, statusLabel } from "../status";
import { type PanelTab, useOrg } from "../store/org";
import { pendingCount, pendingLabel } from "../store/pending";
import { useUi } from "../store/ui";
import { ActivityTab } from "./ActivityTab";
import { ChatTab } from "./ChatTab";
import { DetailsTab } from "./DetailsTab";
import { ApprovalsTab } from "../settings/ApprovalsTab";
import { CommsTab } from "../settings/CommsTab";
import { ConfigTab } from "../settings/ConfigTab";
import { MemoriesTab } from "../settings/MemoriesTab";
import { SchedulesTab } from "../settings/SchedulesTab";
import { SecretsTab } from "../settings/SecretsTab";
import { TokensTab } from "../settings/TokensTab";

const TABS: { id: PanelTab; label: string }[] = [
  { id: "details", label: "Details" },
  { id: "chat", label: "Chat" },
  { id: "activity", label: "Activity" },
  { id: "comms", label: "Agent comms" },
  { id: "config", label: "Config" },
  { id: "secrets", label: "Secrets" },
  { id: "schedules", label: "Schedules" },
  { id: "memories", label: "Memories" },
  { id: "tokens", label: "Tokens" },
  { id: "approvals", label: "Approvals" },
];

export function SidePanel() {
  const selectedId = useOrg((s) => s.selectedId);
  const workspace = useOrg((s) => (s.selectedId ? s.workspaces[s.selectedId] : undefined));
  const tab = useOrg((s) => s.tab);
  const pending = useOrg((s) => (s.selectedId ? pendingCount(s.approvals, s.selectedId) : 0));
  const tabs = useRef<HTMLDivElement>(null);
  if (!selectedId || !workspace) return null;
  const allowed = allowedActions(workspace.status);

  const onTabKey = (event: KeyboardEvent) => {
    const at = TABS.findIndex((t) => t.id === tab);
    const step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
    if (!step) return;
    const next = TABS[(at + step + TABS.length) % TABS.length]!;
    useOrg.getState().setTab(next.id);
    tabs.current?.querySelector<HTMLElement>(`#tab-${next.id}`)?.focus();
    event.preventDefault();
  };

  return (
    <aside className="side-panel" aria-label={`Workspace ${workspace.name}`}>
      <header className="panel-head">
        <h2>{workspace.name}</h2>
        <span className={`ws-status status-${workspace.status}`} data-testid="panel-status">
          {statusLabel(workspace.status)}
        </span>
        <button type="button" className="icon" aria-label="Close the panel" onClick={() => useOrg.getState().select(null)}>
          ×
        </button>
      </header>
      <div className="panel-actions" role="toolbar" aria-label="Workspace actions">
        {(["restart", "pause", "resume", "hibernate"] as const)
          .filter((a) => allowed.has(a))
          .map((action) => (
            <button key={action} type="button" onClick={() => void runLifecycle(workspace.id, action)}>
              {action[0]!.toUpperCase() + action.slice(1)}
            </button>
          ))}
        <button type="button" onClick={() => useUi.getState().open({ kind: "create", parentId: workspace.id })}>
          Add child
        </button>
        <button type="button" className="danger" onClick={() => useUi.getState().open({ kind: "delete", id: workspace.id })}>
          Delete…
        </button>
      </div>
      <div className="tabs" role="tablist" aria-label="Workspace views" ref={tabs} onKeyDown={onTabKey}>
        {TABS.map((t) => (
          <button
            key={t.id}
            id={`tab-${t.id}`}
            type="button"
            role="tab"
            aria-selected={tab === t.id}
            aria-controls={`tabpanel-${t.id}`}
            tabIndex={tab === t.id ? 0 : -1}
            onClick={() => useOrg.getState().setTab(t.id)}
          >
            {t.label}
            {t.id === "approvals" && pending > 0 && (
              <>
                <span className="count" aria-hidden="true" data-testid="approvals-count">
                  {pending}
                </span>
                <span className="sr-only"> ({pendingLabel(pending)})</span>
              </>
            )}
          </button>
        ))}
      </div>
      <div className="tab-body" role="tabpanel" id={`tabpanel-${tab}`} aria-labelledby={`tab-${tab}`}>
        {tab === "details" && <DetailsTab workspace={workspace} />}
        {tab === "chat" && <ChatTab key={workspace.id} workspaceId={workspace.id} />}
        {tab === "activity" && <ActivityTab key={workspace.id} workspaceId={workspace.id} />}
        {tab === "comms" && <CommsTab key={workspace.id} workspaceId={workspace.id} />}
        {tab === "config" && <ConfigTab key={workspace.id} workspaceId={workspace.id} />}
        {tab === "secrets" && <SecretsTab key={workspace.id} workspaceId={workspace.id} />}
        {tab === "schedules" && <SchedulesTab key={workspace.id} workspaceId={workspace.id} />}
        {tab === "memories" && <MemoriesTab key={workspace.id} workspaceId={workspace.id} />}
        {tab === "tokens" && <TokensTab key={workspace.id} workspace={workspace} />}
        {tab === "approvals" && <ApprovalsTab workspaceId={workspace.id} />}
      </div>
    </aside>
  );
}
