// Delete with the cascade confirmation: every descendant is listed before anything goes.
import { useState } from "react";
import { deleteWorkspace } from "../api/workspaces";
import { childrenOf, descendants } from "../layout/tree";
import { useOrg } from "../store/org";
import { useUi } from "../store/ui";
import { Modal, closeDialog } from "./Modal";

export function DeleteDialog({ id }: { id: string }) {
  const workspaces = useOrg((s) => s.workspaces);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const target = workspaces[id];
  if (!target) return null;
  const below = descendants(id, childrenOf(Object.values(workspaces)))
    .map((d) => workspaces[d])
    .filter((w) => w !== undefined);

  const remove = async () => {
    setBusy(true);
    try {
      await deleteWorkspace(id, below.length > 0);
      useUi.getState().say(`Deleted ${target.name}${below.length ? ` and ${below.length} below it` : ""}`);
      closeDialog();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      setBusy(false);
    }
  };

  return (
    <Modal title={`Delete ${target.name}?`}>
      {below.length ? (
        <>
          <p>
            This also deletes the {below.length} workspace{below.length > 1 ? "s" : ""} below it:
          </p>
          <ul className="cascade" aria-label="Workspaces deleted with it">
            {below.map((w) => (
              <li key={w.id}>{w.name}</li>
            ))}
          </ul>
        </>
      ) : (
        <p>Its agent stops and the workspace goes away.</p>
      )}
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <div className="buttons">
        <button type="button" onClick={closeDialog} autoFocus>
          Cancel
        </button>
        <button type="button" className="danger" onClick={remove} disabled={busy}>
          {below.length ? `Delete all ${below.length + 1}` : "Delete"}
        </button>
      </div>
    </Modal>
  );
}
