// What the platform knows about the workspace: runtime, URL, task, last error, agent card.
import type { Workspace } from "../api/types";
import { useOrg } from "../store/org";

function Row({ label, value }: { label: string; value: string | number | null | undefined }) {
  if (value === null || value === undefined || value === "") return null;
  return (
    <>
      <dt>{label}</dt>
      <dd>{value}</dd>
    </>
  );
}

export function DetailsTab({ workspace: w }: { workspace: Workspace }) {
  const parent = useOrg((s) => (w.parent_id ? s.workspaces[w.parent_id]?.name : undefined));
  const card = w.agent_card ?? {};
  const skills = Array.isArray(card.skills) ? (card.skills as { name?: string; id?: string }[]) : [];
  const caps = card.capabilities && typeof card.capabilities === "object" ? Object.entries(card.capabilities) : [];
  const timeout = w.provision_timeout_ms;
  return (
    <div className="details">
      {w.status === "provisioning" && timeout ? (
        <p className="banner" role="status">
          Starting; it is given {Math.round(timeout / 1000)} s before it counts as failed.
        </p>
      ) : null}
      {w.last_sample_error && (
        <p className="banner error" role="status">
          Last error: {w.last_sample_error}
        </p>
      )}
      <dl>
        <Row label="Id" value={w.id} />
        <Row label="Runtime" value={w.runtime} />
        <Row label="Role" value={w.role} />
        <Row label="Parent" value={parent} />
        <Row label="Tier" value={w.tier} />
        <Row label="URL" value={w.url} />
        <Row label="Delivery" value={w.delivery_mode} />
        <Row label="Current task" value={w.current_task} />
        <Row label="Active tasks" value={w.active_tasks} />
        <Row label="Last heartbeat" value={w.last_heartbeat_at ? new Date(w.last_heartbeat_at).toLocaleString() : null} />
        <Row label="Agent" value={typeof card.name === "string" ? `${card.name} ${card.version ?? ""}` : null} />
        <Row label="Description" value={typeof card.description === "string" ? card.description : null} />
        <Row label="Capabilities" value={caps.filter(([, on]) => on).map(([k]) => k).join(", ")} />
        <Row label="Skills" value={skills.map((s) => s.name ?? s.id).join(", ")} />
      </dl>
    </div>
  );
}
