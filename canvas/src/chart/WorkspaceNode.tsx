// One workspace on the chart: name, status, runtime, current task, and the team toggle.
import { Handle, type Node, type NodeProps, Position } from "@xyflow/react";
import { memo } from "react";
import { toggleCollapsed } from "../actions";
import type { Workspace } from "../api/types";
import { statusLabel } from "../status";
import { useOrg } from "../store/org";
import { pendingCount, pendingLabel } from "../store/pending";
import { provisionTimeoutMs, useProvisioningOverdue } from "./provisioning";
import { formatTimeout } from "./slowStart";

export type WorkspaceNodeData = { workspace: Workspace; childCount: number; busy: boolean };
export type WorkspaceFlowNode = Node<WorkspaceNodeData, "workspace">;

function WorkspaceNodeView({ data, selected }: NodeProps<WorkspaceFlowNode>) {
  const { workspace: w, childCount, busy } = data;
  const overdue = useProvisioningOverdue(w);
  // A number, not an object: the node re-renders only when its own count changes.
  const pending = useOrg((s) => pendingCount(s.approvals, w.id));
  return (
    <div
      className={`ws-node status-${w.status}${selected ? " selected" : ""}${busy ? " busy" : ""}`}
      data-testid={`node-${w.name}`}
    >
      <Handle type="target" position={Position.Top} isConnectable={false} />
      <div className="ws-node-head">
        <span className="ws-name" title={w.name}>
          {w.name}
        </span>
        <span className={`ws-status status-${w.status}`} data-testid="status">
          {statusLabel(w.status)}
        </span>
      </div>
      {pending > 0 && (
        <span className="ws-badge" role="img" data-testid="pending-approvals" aria-label={pendingLabel(pending)} title={pendingLabel(pending)}>
          {pending}
        </span>
      )}
      {overdue && (
        <span
          className="ws-warn"
          role="img"
          data-testid="provision-overdue"
          aria-label={`Provisioning is taking longer than its ${formatTimeout(provisionTimeoutMs(w))} timeout`}
          title={`Provisioning is taking longer than its ${formatTimeout(provisionTimeoutMs(w))} timeout`}
        >
          ⚠ slow to start
        </span>
      )}
      <div className="ws-meta">
        <span>{w.runtime ?? "?"}</span>
        {w.active_tasks ? <span>{w.active_tasks} active</span> : null}
      </div>
      <div className="ws-task" title={w.current_task ?? undefined}>
        {w.current_task || (w.status === "failed" ? w.last_sample_error : "") || " "}
      </div>
      {childCount > 0 && (
        <button
          type="button"
          className="ws-toggle nodrag"
          aria-expanded={!w.collapsed}
          aria-label={`${w.collapsed ? "Expand" : "Collapse"} the team of ${w.name} (${childCount})`}
          onClick={(e) => {
            e.stopPropagation();
            void toggleCollapsed(w.id);
          }}
        >
          {w.collapsed ? `+${childCount}` : "−"}
        </button>
      )}
      <Handle type="source" position={Position.Bottom} isConnectable={false} />
    </div>
  );
}

export const WorkspaceNode = memo(WorkspaceNodeView);
