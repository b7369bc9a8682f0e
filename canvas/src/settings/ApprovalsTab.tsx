// Pending approvals across the org: fetched once, then kept live by the APPROVAL_* events the
// store folds (store/live.ts); approve or deny each.
import { useEffect, useState } from "react";
import { decideApproval, pendingApprovals } from "../api/memories";
import { useOrg } from "../store/org";
import { PENDING_LIMIT, mergePending } from "../store/pending";
import { StatusLine } from "./StatusLine";
import { type Status, change, describe } from "./useLoad";
import { approvalsFrom, sortApprovals } from "./watch";

export function ApprovalsTab({ workspaceId }: { workspaceId: string }) {
  const approvals = useOrg((s) => s.approvals);
  const names = useOrg((s) => s.workspaces);
  const [order, setOrder] = useState<string[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<Status>(null);
  useEffect(() => {
    const before = useOrg.getState().approvals;
    pendingApprovals().then(
      (rows) => {
        setOrder(rows.map((r) => r.id).reverse()); // the platform lists newest first
        useOrg.setState((s) => ({ approvals: mergePending(before, s.approvals, approvalsFrom(rows), rows.length < PENDING_LIMIT) }));
      },
      (e: unknown) => setError(describe(e)),
    );
  }, []);
  const list = sortApprovals(approvals, order);
  const mineFirst = [...list.filter((a) => a.workspaceId === workspaceId), ...list.filter((a) => a.workspaceId !== workspaceId)];
  const decide = (workspace: string, id: string, decision: "approved" | "denied") =>
    void change(() => decideApproval(workspace, id, decision), setStatus, decision === "approved" ? "Approved" : "Denied", () =>
      useOrg.setState((s) => {
        const next = { ...s.approvals };
        delete next[id];
        return { approvals: next };
      }),
    );
  return (
    <div className="settings">
      {error && <p role="alert" className="error">{error}</p>}
      {!mineFirst.length && <p className="muted">No approvals are waiting.</p>}
      {mineFirst.length > 0 && (
        <ul className="cards" aria-label="Pending approvals" aria-live="polite">
          {mineFirst.map((a) => {
            const from = names[a.workspaceId]?.name ?? a.workspaceId;
            return (
              <li key={a.id} className="card">
                <p>
                  <strong>{from}</strong> asks to <strong>{a.action}</strong>
                  {a.escalatedTo && ` (escalated to ${names[a.escalatedTo]?.name ?? a.escalatedTo})`}
                </p>
                {a.reason && <p className="prompt">{a.reason}</p>}
                <div className="row">
                  <button type="button" className="primary" aria-label={`Approve ${a.action} for ${from}`} onClick={() => decide(a.workspaceId, a.id, "approved")}>
                    Approve
                  </button>
                  <button type="button" className="danger" aria-label={`Deny ${a.action} for ${from}`} onClick={() => decide(a.workspaceId, a.id, "denied")}>
                    Deny
                  </button>
                </div>
              </li>
            );
          })}
        </ul>
      )}
      <StatusLine status={status} />
    </div>
  );
}
