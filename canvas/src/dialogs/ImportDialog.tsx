// Import an org template. A 412 names the secrets it needs: the person sets them (global
// secrets, values never shown again) and the import is retried. An import that created only
// some workspaces (207), or left something out of them, says so before the dialog closes.
import { type FormEvent, useEffect, useState } from "react";
import { type ImportNotes, type OrgTemplate, importNotes, importOrg, listOrgTemplates, missingEnv, setGlobalSecret } from "../api/org";
import { useUi } from "../store/ui";
import { Modal, closeDialog } from "./Modal";

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

export function ImportDialog() {
  const [templates, setTemplates] = useState<OrgTemplate[] | null>(null);
  const [dir, setDir] = useState("");
  const [missing, setMissing] = useState<string[] | null>(null);
  const [values, setValues] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [notes, setNotes] = useState<ImportNotes | null>(null);

  useEffect(() => {
    listOrgTemplates().then(
      (found) => {
        setTemplates(found);
        if (found[0]) setDir(found[0].dir);
      },
      (e) => setError(`Org templates could not be loaded: ${message(e)}`),
    );
  }, []);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      for (const key of missing ?? []) await setGlobalSecret(key, values[key] ?? "");
      const outcome = importNotes(await importOrg(dir));
      useUi.getState().say(`Imported ${templates?.find((t) => t.dir === dir)?.name ?? dir}`);
      if (outcome.failed.length || outcome.skipped.length) setNotes(outcome);
      else closeDialog();
    } catch (e) {
      const needed = missingEnv(e);
      if (needed) {
        setMissing(needed);
        setError(`This team needs ${needed.join(", ")}: set ${needed.length > 1 ? "them" : "it"} to import.`);
      } else setError(message(e));
      setBusy(false);
    }
  };

  if (notes) return <ImportResult notes={notes} />;
  return (
    <Modal title="Import an org" wide>
      <form onSubmit={submit}>
        <fieldset className="palette" disabled={missing !== null}>
          <legend>Org template</legend>
          {templates === null && !error && <p>Loading…</p>}
          {templates?.map((t) => (
            <label key={t.dir} className={t.dir === dir ? "palette-item chosen" : "palette-item"}>
              <input type="radio" name="org" value={t.dir} aria-label={t.name} aria-describedby={`org-${t.dir}`} checked={t.dir === dir} onChange={() => setDir(t.dir)} />
              <strong>{t.name}</strong> <span className="muted">{t.workspaces} workspaces</span>
              <span className="palette-desc" id={`org-${t.dir}`}>
                {t.description}
                {t.required_env?.length ? ` Needs ${t.required_env.join(", ")}.` : null}
              </span>
            </label>
          ))}
        </fieldset>
        {missing?.map((key) => (
          <label key={key} className="field">
            {key} (a global secret)
            <input
              type="password"
              autoComplete="off"
              required
              value={values[key] ?? ""}
              onChange={(e) => setValues({ ...values, [key]: e.target.value })}
            />
          </label>
        ))}
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
        <div className="buttons">
          <button type="button" onClick={closeDialog}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy || !dir}>
            {missing ? "Save and import" : "Import"}
          </button>
        </div>
      </form>
    </Modal>
  );
}

function ImportResult({ notes }: { notes: ImportNotes }) {
  return (
    <Modal title="Import an org" wide>
      <p role="status">{notes.failed.length ? "Imported, but not completely." : "Imported, with things left out."}</p>
      {notes.failed.length > 0 && (
        <ul className="cascade error" aria-label="Failed">
          {notes.failed.map((line, i) => (
            <li key={i}>{line}</li>
          ))}
        </ul>
      )}
      {notes.skipped.length > 0 && (
        <ul className="cascade" aria-label="Left out">
          {notes.skipped.map((line, i) => (
            <li key={i}>{line}</li>
          ))}
        </ul>
      )}
      <div className="buttons">
        <button type="button" className="primary" onClick={closeDialog} autoFocus>
          Done
        </button>
      </div>
    </Modal>
  );
}
