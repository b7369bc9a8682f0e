// Writing to the agent: text, attachments (uploaded as soon as they are picked), send.
import { type FormEvent, useRef, useState } from "react";
import { streamMessage, uploadFiles } from "../api/chat";
import type { FileRef } from "../api/types";
import type { StreamedReply } from "../chat/stream";
import { WAKE_WAIT_MS, untilOnline, wakeRetryMs } from "../chat/wake";
import { useOrg } from "../store/org";

let counter = 0;

export function Composer({ workspaceId }: { workspaceId: string }) {
  const [text, setText] = useState("");
  const [files, setFiles] = useState<FileRef[]>([]);
  const [uploading, setUploading] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [waiting, setWaiting] = useState(false);
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
    const replyId = `${mine}:reply`;
    let shown = false;
    const show = (reply: StreamedReply, pending: boolean) => {
      const said = reply.error && reply.text ? `${reply.text}\n${reply.error}` : (reply.error ?? reply.text);
      const change = { text: said, files: reply.files, error: !!reply.error, pending };
      if (shown) store.updateChat(workspaceId, replyId, change);
      else store.addChat(workspaceId, { id: replyId, role: "agent", at: new Date().toISOString(), ...change });
      shown = true;
    };
    const grow = (partial: StreamedReply) => {
      store.updateChat(workspaceId, mine, { pending: false });
      show(partial, true); // the reply bubble grows as the agent's words arrive
    };
    // An agent that is asleep or starting refuses the message without keeping it; it is sent
    // again once the workspace is online (or the platform's retry time has passed).
    const deliver = async (): Promise<StreamedReply | null> => {
      let giveUpAt: number | null = null;
      for (;;) {
        try {
          return await streamMessage(workspaceId, body, files, grow);
        } catch (e) {
          const retryMs = wakeRetryMs(e);
          giveUpAt ??= Date.now() + WAKE_WAIT_MS;
          if (retryMs === null || Date.now() > giveUpAt) throw e;
          setWaiting(true);
          await untilOnline(workspaceId, retryMs);
        }
      }
    };
    try {
      const reply = await deliver().finally(() => setWaiting(false));
      store.updateChat(workspaceId, mine, { pending: false });
      if (reply) show(reply, false);
      else if (shown) store.updateChat(workspaceId, replyId, { pending: false });
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      if (shown) {
        // delivered, and part of the answer arrived before the stream broke
        store.updateChat(workspaceId, replyId, { pending: false, error: true });
        setProblem(`The reply was cut off: ${why}`);
        return;
      }
      store.updateChat(workspaceId, mine, { pending: false, error: true });
      setProblem(`Not delivered: ${why}`);
    }
  };

  return (
    <form className="composer" onSubmit={send}>
      {problem && (
        <p role="alert" className="error">
          {problem}
        </p>
      )}
      <p role="status" className="muted">
        {waiting ? "The agent is starting up: the message goes as soon as it is online." : ""}
      </p>
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
