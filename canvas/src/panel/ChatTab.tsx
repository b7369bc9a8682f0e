// The chat with one workspace: rebuilt from the activity feed when it opens, then live.
import { useEffect, useRef, useState } from "react";
import { chatActivity } from "../api/chat";
import { rebuildChat } from "../chat/rebuild";
import { useOrg } from "../store/org";
import { Composer } from "./Composer";
import { FileChip } from "./FileChip";

export function ChatTab({ workspaceId }: { workspaceId: string }) {
  const messages = useOrg((s) => s.chats[workspaceId]);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const end = useRef<HTMLLIElement>(null);

  useEffect(() => {
    let live = true;
    chatActivity(workspaceId)
      .then((rows) => live && useOrg.getState().setChat(workspaceId, rebuildChat(rows)))
      .catch((e: Error) => live && setError(`The conversation could not be loaded: ${e.message}`))
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [workspaceId]);

  useEffect(() => {
    end.current?.scrollIntoView?.({ block: "end" }); // a Promise in new Chromium: not returned
  }, [messages?.length, messages?.[messages.length - 1]?.text.length]); // a streamed reply grows

  return (
    <div className="chat">
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <ol className="messages" aria-label="Conversation" aria-live="polite" aria-busy={loading}>
        {!loading && !messages?.length && <li className="muted">No messages yet. Say hello.</li>}
        {messages?.map((m) => (
          <li key={m.id} className={`bubble ${m.role}${m.error ? " error" : ""}${m.pending ? " pending" : ""}`}>
            <span className="sr-only">{m.role === "user" ? "You:" : "Agent:"} </span>
            {m.text && <p>{m.text}</p>}
            {m.files.length > 0 && (
              <div className="chips">
                {m.files.map((f) => (
                  <FileChip key={f.uri} workspaceId={workspaceId} file={f} />
                ))}
              </div>
            )}
          </li>
        ))}
        <li ref={end} aria-hidden="true" className="end" />
      </ol>
      <Composer workspaceId={workspaceId} />
    </div>
  );
}
