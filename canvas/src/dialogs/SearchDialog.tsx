// Ctrl/Cmd-K: find a workspace by name, runtime, status or task; Enter selects and centres it.
import { type KeyboardEvent, useMemo, useState } from "react";
import { useShowWorkspace } from "../chart/showWorkspace";
import { useOrg } from "../store/org";
import { Modal, closeDialog } from "./Modal";

export function SearchDialog() {
  const workspaces = useOrg((s) => s.workspaces);
  const show = useShowWorkspace();
  const [query, setQuery] = useState("");
  const [active, setActive] = useState(0);
  const hits = useMemo(() => {
    const q = query.trim().toLowerCase();
    return Object.values(workspaces)
      .filter((w) => !q || [w.name, w.runtime, w.status, w.current_task].some((v) => v?.toLowerCase().includes(q)))
      .sort((a, b) => a.name.localeCompare(b.name))
      .slice(0, 50);
  }, [workspaces, query]);

  const choose = (id: string) => {
    show(id);
    closeDialog();
  };
  const onKeyDown = (event: KeyboardEvent) => {
    if (event.key === "ArrowDown") setActive((a) => Math.min(a + 1, hits.length - 1));
    else if (event.key === "ArrowUp") setActive((a) => Math.max(a - 1, 0));
    else if (event.key === "Enter" && hits[active]) choose(hits[active].id);
    else return;
    event.preventDefault();
  };

  return (
    <Modal title="Find a workspace">
      <input
        className="search-input"
        role="combobox"
        aria-expanded="true"
        aria-controls="search-results"
        aria-activedescendant={hits[active] ? `hit-${hits[active].id}` : undefined}
        aria-label="Search workspaces"
        placeholder="Name, runtime, status or task"
        value={query}
        autoFocus
        onChange={(e) => {
          setQuery(e.target.value);
          setActive(0);
        }}
        onKeyDown={onKeyDown}
      />
      <ul id="search-results" role="listbox" aria-label="Matching workspaces" className="search-results">
        {hits.map((w, i) => (
          <li
            key={w.id}
            id={`hit-${w.id}`}
            role="option"
            aria-selected={i === active}
            onClick={() => choose(w.id)}
          >
            {w.name} <span className="muted">{w.status}</span>
          </li>
        ))}
        {!hits.length && <li className="muted">No workspace matches.</li>}
      </ul>
    </Modal>
  );
}
