// New workspace: a template from the palette (GET /templates), a name, a parent.
import { type FormEvent, useEffect, useState } from "react";
import { refreshOne } from "../actions";
import { createWorkspace, listTemplates } from "../api/workspaces";
import type { Template } from "../api/types";
import { useOrg } from "../store/org";
import { useUi } from "../store/ui";
import { Modal, closeDialog } from "./Modal";

export function CreateDialog({ parentId }: { parentId: string | null }) {
  const workspaces = useOrg((s) => s.workspaces);
  const [templates, setTemplates] = useState<Template[] | null>(null);
  const [template, setTemplate] = useState<string>("");
  const [name, setName] = useState("");
  const [parent, setParent] = useState(parentId ?? "");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    listTemplates()
      .then((found) => {
        setTemplates(found);
        if (found[0]) setTemplate(found[0].id);
      })
      .catch((e: Error) => setError(`Templates could not be loaded: ${e.message}`));
  }, []);

  const chosen = templates?.find((t) => t.id === template);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const made = await createWorkspace({
        name: name.trim() || chosen?.name || "workspace",
        ...(chosen ? { template: chosen.id, runtime: chosen.runtime } : {}),
        parent_id: parent || null,
      });
      await refreshOne(made.id);
      useOrg.getState().select(made.id, "details");
      useUi.getState().say(`Created ${name.trim() || chosen?.name}`);
      closeDialog();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      setBusy(false);
    }
  };

  return (
    <Modal title="New workspace" wide>
      <form onSubmit={submit}>
        <fieldset className="palette">
          <legend>Template</legend>
          {templates === null && !error && <p>Loading templates…</p>}
          {templates?.map((t) => (
            <label key={t.id} className={t.id === template ? "palette-item chosen" : "palette-item"}>
              <input
                type="radio"
                name="template"
                value={t.id}
                aria-label={t.name}
                aria-describedby={`tpl-${t.id}`}
                checked={t.id === template}
                onChange={() => setTemplate(t.id)}
              />
              <strong>{t.name}</strong> <span className="muted">{t.runtime}</span>
              <span className="palette-desc" id={`tpl-${t.id}`}>
                {t.description}
                {t.required_env?.length ? ` Needs ${t.required_env.join(", ")}.` : null}
              </span>
            </label>
          ))}
        </fieldset>
        <label className="field">
          Name
          <input value={name} onChange={(e) => setName(e.target.value)} placeholder={chosen?.name ?? "name"} maxLength={255} />
        </label>
        <label className="field">
          Parent
          <select value={parent} onChange={(e) => setParent(e.target.value)}>
            <option value="">None (a root)</option>
            {Object.values(workspaces).map((w) => (
              <option key={w.id} value={w.id}>
                {w.name}
              </option>
            ))}
          </select>
        </label>
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
        <div className="buttons">
          <button type="button" onClick={closeDialog}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy || !templates?.length}>
            Create
          </button>
        </div>
      </form>
    </Modal>
  );
}
