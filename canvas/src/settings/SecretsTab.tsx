// Secrets, by name only: the canvas writes values and never reads one back. A workspace
// secret restarts that agent; a global one restarts every agent it reaches.
import { type FormEvent, useId, useState } from "react";
import {
  deleteGlobalSecret,
  deleteWorkspaceSecret,
  listGlobalSecrets,
  listWorkspaceSecrets,
  setGlobalSecret,
  setWorkspaceSecret,
} from "../api/secrets";
import { secretKeyError, splitSecrets } from "./forms";
import { StatusLine } from "./StatusLine";
import { type Status, change, useLoad } from "./useLoad";

function SecretForm({ scope, onSave }: { scope: string; onSave(key: string, value: string): Promise<boolean> }) {
  const [key, setKey] = useState("");
  const [value, setValue] = useState("");
  const [error, setError] = useState<string | null>(null);
  const id = useId();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const problem = secretKeyError(key.trim());
    setError(problem);
    if (problem) return;
    void onSave(key.trim(), value).then((ok) => {
      if (ok) {
        setKey("");
        setValue("");
      }
    });
  };
  return (
    <form className="row" onSubmit={submit} aria-label={`Set a ${scope} secret`}>
      <label htmlFor={`${id}-k`}>Name</label>
      <input id={`${id}-k`} value={key} onChange={(e) => setKey(e.target.value)} placeholder="API_KEY" autoComplete="off" />
      <label htmlFor={`${id}-v`}>Value</label>
      <input id={`${id}-v`} type="password" value={value} onChange={(e) => setValue(e.target.value)} autoComplete="new-password" />
      <button type="submit">Set {scope} secret</button>
      {error && <span role="alert" className="error">{error}</span>}
    </form>
  );
}

function KeyList({ label, keys, onDelete }: { label: string; keys: string[]; onDelete?: (key: string) => void }) {
  if (!keys.length) return <p className="muted">{label}: none.</p>;
  return (
    <ul className="keys" aria-label={label}>
      {keys.map((key) => (
        <li key={key}>
          <code>{key}</code> <span className="muted">(set)</span>
          {onDelete && (
            <button type="button" className="link danger" aria-label={`Delete secret ${key}`} onClick={() => onDelete(key)}>
              Delete
            </button>
          )}
        </li>
      ))}
    </ul>
  );
}

export function SecretsTab({ workspaceId }: { workspaceId: string }) {
  const mine = useLoad(() => listWorkspaceSecrets(workspaceId).then(splitSecrets), [workspaceId]);
  const global = useLoad(() => listGlobalSecrets().then((rows) => rows.map((r) => r.key).sort()), []);
  const [status, setStatus] = useState<Status>(null);
  const reloadAll = () => (mine.reload(), global.reload());
  return (
    <div className="settings">
      <section aria-labelledby="ws-secrets-h">
        <h3 id="ws-secrets-h">This workspace's secrets</h3>
        <p className="muted">Values are never shown. Setting or deleting one restarts the workspace's agent.</p>
        {mine.error && <p role="alert" className="error">{mine.error}</p>}
        {mine.data && (
          <>
            <KeyList
              label="Workspace secrets"
              keys={mine.data.own}
              onDelete={(key) => void change(() => deleteWorkspaceSecret(workspaceId, key), setStatus, `Deleted ${key}`, reloadAll)}
            />
            <KeyList label="Inherited global secrets" keys={mine.data.inherited} />
          </>
        )}
        <SecretForm scope="workspace" onSave={(key, value) => change(() => setWorkspaceSecret(workspaceId, key, value), setStatus, `Saved ${key}; the workspace is restarting`, reloadAll)} />
      </section>
      <section aria-labelledby="global-secrets-h">
        <h3 id="global-secrets-h">Global secrets</h3>
        <p className="muted">Every workspace inherits these unless it sets its own; a change restarts the agents it reaches.</p>
        {global.error && <p role="alert" className="error">{global.error}</p>}
        {global.data && (
          <KeyList
            label="Global secrets"
            keys={global.data}
            onDelete={(key) => void change(() => deleteGlobalSecret(key), setStatus, `Deleted global ${key}`, reloadAll)}
          />
        )}
        <SecretForm scope="global" onSave={(key, value) => change(() => setGlobalSecret(key, value), setStatus, `Saved global ${key}`, reloadAll)} />
      </section>
      <StatusLine status={status} />
    </div>
  );
}
