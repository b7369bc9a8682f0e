// Tokens: the workspace's live tokens (prefixes only), a new one shown exactly once with a copy
// button, revoke; for an external workspace, its connection snippets and a rotate.
import { useState } from "react";
import { type Connection, createToken, getConnection, listTokens, revokeToken, rotateConnection } from "../api/secrets";
import type { Workspace } from "../api/types";
import { connectsExternally } from "./forms";
import { StatusLine } from "./StatusLine";
import { type Status, change, describe, useLoad } from "./useLoad";

function Copy({ text, label }: { text: string; label: string }) {
  const [done, setDone] = useState(false);
  const copy = () =>
    navigator.clipboard?.writeText(text).then(
      () => setDone(true),
      () => setDone(false),
    );
  return (
    <button type="button" aria-label={label} onClick={() => void copy()}>
      {done ? "Copied" : "Copy"}
    </button>
  );
}

function Snippets({ connection }: { connection: Connection }) {
  const snippets = Object.entries(connection).filter(([k, v]) => typeof v === "string" && /(_snippet|_template)$/.test(k));
  const [which, setWhich] = useState(snippets[0]?.[0] ?? "");
  const text = connection[which] ?? "";
  return (
    <div>
      <label htmlFor="snippet-kind">Connect with</label>{" "}
      <select id="snippet-kind" value={which} onChange={(e) => setWhich(e.target.value)}>
        {snippets.map(([k]) => (
          <option key={k} value={k}>
            {k.replace(/_(snippet|template)$/, "").replace(/_/g, " ")}
          </option>
        ))}
      </select>{" "}
      <Copy text={text} label="Copy the snippet" />
      <pre className="code" tabIndex={0} aria-label="Connection snippet">
        {text}
      </pre>
    </div>
  );
}

/** `onRotated`: the rotate revoked every live token and minted one, so the list above changed. */
function External({ workspaceId, onRotated }: { workspaceId: string; onRotated(): void }) {
  const loaded = useLoad(() => getConnection(workspaceId), [workspaceId]);
  const [rotated, setRotated] = useState<Connection | null>(null);
  const [status, setStatus] = useState<Status>(null);
  const rotate = async () => {
    if (!window.confirm("Rotate the credentials? The agent's current token stops working.")) return;
    setStatus(null);
    try {
      setRotated((await rotateConnection(workspaceId)).connection);
      onRotated();
    } catch (e) {
      setStatus({ text: describe(e), error: true });
    }
  };
  const connection = rotated ?? loaded.data?.connection;
  return (
    <section aria-labelledby="ext-h">
      <h3 id="ext-h">External connection</h3>
      {loaded.error && <p role="alert" className="error">{loaded.error}</p>}
      {rotated && (
        <p className="banner" role="status">
          New token (shown once): <code>{rotated.auth_token}</code> <Copy text={rotated.auth_token} label="Copy the new token" />
        </p>
      )}
      {connection && <Snippets connection={connection} />}
      <button type="button" className="danger" onClick={() => void rotate()}>
        Rotate credentials
      </button>
      <StatusLine status={status} />
    </section>
  );
}

export function TokensTab({ workspace }: { workspace: Workspace }) {
  const id = workspace.id;
  const tokens = useLoad(() => listTokens(id), [id]);
  const [fresh, setFresh] = useState<string | null>(null);
  const [status, setStatus] = useState<Status>(null);
  const create = async () => {
    setStatus(null);
    try {
      setFresh((await createToken(id)).auth_token);
      tokens.reload();
    } catch (e) {
      setStatus({ text: describe(e), error: true });
    }
  };
  return (
    <div className="settings">
      <section aria-labelledby="tokens-h">
        <h3 id="tokens-h">Workspace tokens</h3>
        {tokens.error && <p role="alert" className="error">{tokens.error}</p>}
        {tokens.data && (
          <ul className="keys" aria-label="Live tokens">
            {tokens.data.tokens.map((t) => (
              <li key={t.id}>
                <code>{t.prefix}…</code> <span className="muted">created {new Date(t.created_at).toLocaleString()}
                {t.last_used_at ? `, used ${new Date(t.last_used_at).toLocaleString()}` : ", never used"}</span>
                <button
                  type="button"
                  className="link danger"
                  aria-label={`Revoke token ${t.prefix}`}
                  onClick={() => window.confirm(`Revoke the token ${t.prefix}…?`) && void change(() => revokeToken(id, t.id), setStatus, `Revoked ${t.prefix}…`, tokens.reload)}
                >
                  Revoke
                </button>
              </li>
            ))}
          </ul>
        )}
        {fresh && (
          <div className="banner" role="status">
            <p>Save this token now: it cannot be shown again.</p>
            <code className="token" data-testid="new-token">{fresh}</code> <Copy text={fresh} label="Copy the new token" />{" "}
            <button type="button" onClick={() => setFresh(null)}>
              Done
            </button>
          </div>
        )}
        <button type="button" onClick={() => void create()}>
          Create token
        </button>
        <StatusLine status={status} />
      </section>
      {connectsExternally(workspace.runtime) && <External workspaceId={id} onRotated={tokens.reload} />}
    </div>
  );
}
