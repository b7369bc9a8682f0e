// Memories the workspace may read: full-text search, a scope filter, each one inspectable and
// deletable (the platform lets a workspace delete only its own).
import { type FormEvent, useId, useState } from "react";
import { type Memory, type MemoryScope, deleteMemory, searchMemories } from "../api/memories";
import { StatusLine } from "./StatusLine";
import { type Status, change, useLoad } from "./useLoad";

export function MemoriesTab({ workspaceId }: { workspaceId: string }) {
  const [q, setQ] = useState("");
  const [scope, setScope] = useState<MemoryScope | "">("");
  const [asked, setAsked] = useState({ q: "", scope: "" as MemoryScope | "" });
  const found = useLoad(() => searchMemories(workspaceId, asked.q, asked.scope), [workspaceId, asked]);
  const [open, setOpen] = useState<Memory | null>(null);
  const [status, setStatus] = useState<Status>(null);
  const id = useId();
  const search = (event: FormEvent) => {
    event.preventDefault();
    setAsked({ q, scope });
  };
  return (
    <div className="settings">
      <form role="search" className="row" onSubmit={search} aria-label="Search memories">
        <label htmlFor={`${id}-q`}>Search</label>
        <input id={`${id}-q`} type="search" value={q} onChange={(e) => setQ(e.target.value)} maxLength={1000} />
        <label htmlFor={`${id}-scope`}>Scope</label>
        <select id={`${id}-scope`} value={scope} onChange={(e) => setScope(e.target.value as MemoryScope | "")}>
          <option value="">its own</option>
          <option value="LOCAL">LOCAL</option>
          <option value="TEAM">TEAM</option>
          <option value="GLOBAL">GLOBAL</option>
        </select>
        <button type="submit">Search</button>
      </form>
      {found.error && <p role="alert" className="error">{found.error}</p>}
      {found.data && !found.data.length && <p className="muted">No memories found.</p>}
      {found.data && found.data.length > 0 && (
        <ul className="cards" aria-label="Memories">
          {found.data.map((m) => (
            <li key={m.id} className="card">
              <div className="row">
                <span className="tag">{m.scope}</span> <span className="muted">{m.namespace}</span>{" "}
                <time dateTime={m.created_at}>{new Date(m.created_at).toLocaleString()}</time>
              </div>
              <p className="prompt">{m.content.length > 160 && open?.id !== m.id ? `${m.content.slice(0, 160)}…` : m.content}</p>
              <div className="row">
                <button type="button" aria-expanded={open?.id === m.id} onClick={() => setOpen(open?.id === m.id ? null : m)}>
                  {open?.id === m.id ? "Hide details" : "Inspect"}
                </button>
                {m.workspace_id === workspaceId && (
                  <button
                    type="button"
                    className="danger"
                    aria-label={`Delete the memory "${m.content.length > 60 ? `${m.content.slice(0, 60)}…` : m.content}"`}
                    onClick={() => window.confirm("Delete this memory?") && void change(() => deleteMemory(workspaceId, m.id), setStatus, "Memory deleted", found.reload)}
                  >
                    Delete
                  </button>
                )}
              </div>
              {open?.id === m.id && (
                <dl>
                  <dt>Id</dt>
                  <dd>{m.id}</dd>
                  <dt>Written by</dt>
                  <dd>{m.workspace_id}</dd>
                  <dt>Scope</dt>
                  <dd>{m.scope}</dd>
                  <dt>Namespace</dt>
                  <dd>{m.namespace}</dd>
                </dl>
              )}
            </li>
          ))}
        </ul>
      )}
      <StatusLine status={status} />
    </div>
  );
}
