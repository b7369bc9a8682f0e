// Agent comms: the workspace's delegations grouped by peer, their status flipping live as the
// DELEGATION_* events arrive (store/live.ts keeps them per workspace).
import { listDelegations } from "../api/memories";
import { useOrg } from "../store/org";
import { useLoad } from "./useLoad";
import { delegationsByPeer } from "./watch";

export function CommsTab({ workspaceId }: { workspaceId: string }) {
  const rows = useLoad(() => listDelegations(workspaceId), [workspaceId]);
  const live = useOrg((s) => s.delegations[workspaceId]);
  const names = useOrg((s) => s.workspaces);
  if (rows.error) return <p role="alert" className="error">{rows.error}</p>;
  if (!rows.data) return <p>Loading…</p>;
  const groups = delegationsByPeer(rows.data, live);
  if (!groups.length) return <p className="muted">No delegations yet.</p>;
  return (
    <div className="settings">
      {groups.map((g) => {
        const peer = g.peerId ? (names[g.peerId]?.name ?? g.peerId) : "unknown peer";
        return (
          <section key={g.peerId ?? "none"} aria-label={`Delegations to ${peer}`}>
            <h3>To {peer}</h3>
            <ul className="activity" aria-live="polite">
              {g.delegations.map((d) => (
                <li key={d.id} className={d.status === "failed" ? "error" : undefined}>
                  <time dateTime={d.at}>{new Date(d.at).toLocaleTimeString()}</time>{" "}
                  <span className={`tag status-${d.status}`} data-testid="delegation-status">
                    {d.status}
                  </span>{" "}
                  {d.preview}
                </li>
              ))}
            </ul>
          </section>
        );
      })}
    </div>
  );
}
