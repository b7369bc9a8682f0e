// Writing to the agent: text, attachments (uploaded as soon as they are picked), send.
import { type FormEvent, useRef, useState } from "react";
import { sendMessage, uploadFiles } from "../api/chat";
import type { FileRef } from "../api/types";
import { replyError, replyMessage } from "../chat/messages";
import { useOrg } from "../store/org";

let counter = 0;

export function Composer({ workspaceId }: { workspaceId: string }) {
  const [text, setText] = useState("");
  const [files, setFiles] = useState<FileRef[]>([]);
  const [uploading, setUploading] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const picker = useRef<HTMLInputElement>(null);

  const attach = async (list: FileList | null) => {
    if (!list?.length) return;
    setUploading(true);
    setProblem(null);
    try {
      const added = await uploadFiles(workspaceId, [...list]);
      setFiles((current) => [...current, ...added]);
    } catch (e) {
      setProblem(`Upload failed: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      setUploading(false);
      if (picker.current) picker.current.value = "";
    }
  };

  const send = async (event: FormEvent) => {
    event.preventDefault();
    const body = text.trim();
    if (!body && !files.length) return;
    const store = useOrg.getState();
    const at = new Date().toISOString();
    const mine = `local:${++counter}`;
    store.addChat(workspaceId, { id: mine, role: "user", text: body, files, at, pending: true });
    setText("");
    setFiles([]);
    try {
      const answer = await sendMessage(workspaceId, body, files);
      store.updateChat(workspaceId, mine, { pending: false });
      const reply = replyMessage(answer);
      const failure = replyError(answer);
      if (reply || failure) {
        store.addChat(workspaceId, {
          id: `${mine}:reply`,
          role: "agent",
          text: reply?.text ?? failure ?? "",
          files: reply?.files ?? [],
          at: new Date().toISOString(),
          error: !reply,
        });
      }
    } catch (e) {
      store.updateChat(workspaceId, mine, { pending: false, error: true });
      setProblem(`Not delivered: ${e instanceof Error ? e.message : String(e)}`);
    }
  };

  return (
    <form className="composer" onSubmit={send}>
      {problem && (
        <p role="alert" className="error">
          {problem}
        </p>
      )}
      {files.length > 0 && (
        <ul className="chips" aria-label="Attachments to send">
          {files.map((f) => (
            <li key={f.uri} className="chip">
              {f.name}
              <button type="button" className="icon" aria-label={`Remove ${f.name}`} onClick={() => setFiles(files.filter((x) => x !== f))}>
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
      <label className="sr-only" htmlFor={`message-${workspaceId}`}>
        Message
      </label>
      <textarea
        id={`message-${workspaceId}`}
        value={text}
        rows={2}
        placeholder="Message the agent (Enter sends, Shift+Enter for a new line)"
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && !e.shiftKey) {
            e.preventDefault();
            e.currentTarget.form?.requestSubmit();
          }
        }}
      />
      <div className="buttons">
        <label className="button">
          {uploading ? "Uploading…" : "Attach files"}
          <input ref={picker} type="file" multiple className="sr-only" onChange={(e) => void attach(e.target.files)} />
        </label>
        <button type="submit" className="primary" disabled={uploading}>
          Send
        </button>
      </div>
    </form>
  );
}
