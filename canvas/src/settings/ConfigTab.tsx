// Configure it: config.yaml and the prompt files (/configs), the stored config object, and the
// model / provider (saved as workspace secrets; a save restarts the agent when the platform runs
// it).
import { useEffect, useId, useState } from "react";
import { getConfig, getModel, getProvider, listFiles, patchConfig, putModel, putProvider, readFile, writeFile } from "../api/config";
import { useOrg } from "../store/org";
import { RESTART_NOTE, SELF_RUN_NOTE, editableFiles, formatConfig, newFileError, parseConfigPatch, restartsOnSave } from "./forms";
import { StatusLine } from "./StatusLine";
import { type Status, change, describe, useLoad } from "./useLoad";

function FileEditor({ workspaceId }: { workspaceId: string }) {
  const files = useLoad(() => listFiles(workspaceId).then(editableFiles), [workspaceId]);
  const [path, setPath] = useState("");
  const [content, setContent] = useState<string | null>(null);
  const [dirty, setDirty] = useState(false);
  const [newPath, setNewPath] = useState("");
  const [status, setStatus] = useState<Status>(null);
  const ids = useId();
  const current = path || files.data?.[0] || "";

  useEffect(() => {
    if (!current) return;
    let live = true;
    setContent(null);
    readFile(workspaceId, current).then(
      (file) => live && (setContent(file.content), setDirty(false)),
      (e: unknown) => live && (setContent(""), setStatus({ text: describe(e), error: true })),
    );
    return () => {
      live = false;
    };
  }, [workspaceId, current]);

  const save = () => change(() => writeFile(workspaceId, current, content ?? ""), setStatus, `Saved ${current}`).then((ok) => ok && setDirty(false));
  const create = () => {
    const error = newFileError(newPath);
    if (error) return setStatus({ text: error, error: true });
    const p = newPath.trim();
    void change(() => writeFile(workspaceId, p, ""), setStatus, `Created ${p}`, files.reload).then((ok) => {
      if (ok) {
        setPath(p);
        setNewPath("");
      }
    });
  };

  if (files.error) return <p role="alert" className="error">{files.error}</p>;
  if (!files.data) return <p>Loading files…</p>;
  return (
    <section aria-labelledby={`${ids}-h`}>
      <h3 id={`${ids}-h`}>Files</h3>
      <div className="row">
        <label htmlFor={`${ids}-file`}>File</label>
        <select id={`${ids}-file`} value={current} onChange={(e) => setPath(e.target.value)}>
          {files.data.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
      </div>
      {current && (
        <>
          <label htmlFor={`${ids}-content`} className="sr-only">
            Contents of {current}
          </label>
          <textarea
            id={`${ids}-content`}
            className="code"
            rows={12}
            spellCheck={false}
            value={content ?? ""}
            disabled={content === null}
            onChange={(e) => (setContent(e.target.value), setDirty(true))}
          />
          <div className="buttons">
            <button type="button" className="primary" disabled={!dirty} onClick={() => void save()}>
              Save {current}
            </button>
          </div>
        </>
      )}
      <div className="row">
        <label htmlFor={`${ids}-new`}>New prompt file</label>
        <input id={`${ids}-new`} placeholder="prompts/extra.md" value={newPath} onChange={(e) => setNewPath(e.target.value)} />
        <button type="button" onClick={create}>
          Create
        </button>
      </div>
      <StatusLine status={status} />
    </section>
  );
}

function ConfigObject({ workspaceId }: { workspaceId: string }) {
  const config = useLoad(() => getConfig(workspaceId), [workspaceId]);
  const [text, setText] = useState<string | null>(null);
  const [status, setStatus] = useState<Status>(null);
  const ids = useId();
  const shown = text ?? (config.data ? formatConfig(config.data.data) : "");
  const save = () => {
    const parsed = parseConfigPatch(shown);
    if (!parsed.ok) return setStatus({ text: parsed.error, error: true });
    void change(() => patchConfig(workspaceId, parsed.value), setStatus, "Config saved (top-level keys replaced)", () => {
      setText(null);
      config.reload();
    });
  };
  return (
    <section aria-labelledby={`${ids}-h`}>
      <h3 id={`${ids}-h`}>Stored config</h3>
      {config.error && <p role="alert" className="error">{config.error}</p>}
      <label htmlFor={`${ids}-json`}>Config (JSON object; its top-level keys replace the stored ones)</label>
      <textarea id={`${ids}-json`} className="code" rows={6} spellCheck={false} value={shown} onChange={(e) => setText(e.target.value)} />
      <div className="buttons">
        <button type="button" className="primary" onClick={save}>
          Save stored config
        </button>
      </div>
      <StatusLine status={status} />
    </section>
  );
}

function Setting({ workspaceId, field, restarts }: { workspaceId: string; field: "model" | "provider"; restarts: boolean }) {
  const loaded = useLoad(
    () => (field === "model" ? getModel(workspaceId).then((s) => ({ value: s.model, source: s.source })) : getProvider(workspaceId).then((s) => ({ value: s.provider, source: s.source }))),
    [workspaceId, field],
  );
  const [value, setValue] = useState<string | null>(null);
  const [status, setStatus] = useState<Status>(null);
  const id = useId();
  const shown = value ?? loaded.data?.value ?? "";
  const label = field === "model" ? "Model" : "Provider";
  const save = () =>
    change(
      () => (field === "model" ? putModel(workspaceId, shown.trim()) : putProvider(workspaceId, shown.trim())),
      setStatus,
      `${label} ${shown.trim() ? "saved" : "cleared"}${restarts ? "; the workspace is restarting" : ""}`,
      loaded.reload,
    ).then((ok) => ok && setValue(null));
  return (
    <div className="row">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        value={shown}
        placeholder={loaded.data?.source === "default" ? "the runtime's default" : ""}
        onChange={(e) => setValue(e.target.value)}
        maxLength={256}
      />
      <button type="button" onClick={() => void save()} disabled={value === null}>
        Save {field}
      </button>
      {loaded.error && <span role="alert" className="error">{loaded.error}</span>}
      <StatusLine status={status} />
    </div>
  );
}

export function ConfigTab({ workspaceId }: { workspaceId: string }) {
  const restarts = restartsOnSave(useOrg((s) => s.workspaces[workspaceId]?.runtime));
  return (
    <div className="settings">
      <section aria-labelledby="model-h">
        <h3 id="model-h">Model and provider</h3>
        <p className="muted">{restarts ? RESTART_NOTE : SELF_RUN_NOTE}</p>
        <Setting workspaceId={workspaceId} field="model" restarts={restarts} />
        <Setting workspaceId={workspaceId} field="provider" restarts={restarts} />
      </section>
      <FileEditor workspaceId={workspaceId} />
      <ConfigObject workspaceId={workspaceId} />
    </div>
  );
}
