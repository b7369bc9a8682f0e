// A streamed reply (A2A `message/stream`, passed through by the platform as Server-Sent
// Events): the body is split into events as it arrives, and each event adds to the reply the
// person watches grow. Same reading as the CLI (molecule/cli/chat.py): artifact updates append
// their text; a status message or the final message replaces the text when it extends what is
// shown, else is added on a new line; a JSON-RPC error ends the reply as an error.
import type { FileRef } from "../api/types";
import { readParts, replyError } from "./messages";

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** Splits a text/event-stream body into the data of its events, whatever the chunking. */
export class SseParser {
  private buffer = "";
  private data: string[] = [];

  /** The events completed by this chunk (each its `data:` lines joined, JSON-decoded). */
  feed(chunk: string): unknown[] {
    this.buffer += chunk;
    const events: unknown[] = [];
    let newline: number;
    while ((newline = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const crlf = this.buffer.startsWith("\r\n", newline);
      // a lone "\r" at the end of a chunk may be the first half of "\r\n": wait for more
      if (!crlf && this.buffer[newline] === "\r" && newline === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, newline);
      this.buffer = this.buffer.slice(newline + (crlf ? 2 : 1));
      this.line(line, events);
    }
    return events;
  }

  /** The body ended: a last event without its blank line still counts. */
  end(): unknown[] {
    const events: unknown[] = [];
    if (this.buffer) this.line(this.buffer, events);
    this.buffer = "";
    this.line("", events);
    return events;
  }

  private line(line: string, events: unknown[]): void {
    if (line === "") {
      if (this.data.length) events.push(decoded(this.data.join("\n")));
      this.data = [];
    } else if (line.startsWith("data:")) {
      const value = line.slice(5);
      this.data.push(value.startsWith(" ") ? value.slice(1) : value);
    } // comments (":"), event:, id: and retry: lines carry nothing the chat shows
  }
}

function decoded(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { text };
  }
}

const V1_KINDS: Record<string, string> = {
  message: "message",
  task: "task",
  statusUpdate: "status-update",
  artifactUpdate: "artifact-update",
};

/** (kind, text, files) of a stream event's result: v0.3 (`kind`) or v1.0 (wrapped). */
export function eventContent(result: unknown): { kind: string; text: string; files: FileRef[] } {
  const none = { kind: "", text: "", files: [] as FileRef[] };
  if (!isObj(result)) return none;
  if (!("kind" in result)) {
    for (const [wrapper, kind] of Object.entries(V1_KINDS)) {
      const inner = result[wrapper];
      if (isObj(inner)) return eventContent({ ...inner, kind });
    }
  }
  const kind = typeof result.kind === "string" ? result.kind : "";
  if (kind === "message") return { kind, ...readParts(result.parts) };
  if (kind === "artifact-update") return { kind, ...readParts(isObj(result.artifact) ? result.artifact.parts : undefined) };
  const status = isObj(result.status) ? result.status : null;
  const said = status && isObj(status.message) ? readParts(status.message.parts) : { text: "", files: [] };
  if (kind === "task" && !said.text && Array.isArray(result.artifacts)) {
    const texts: string[] = [];
    for (const artifact of result.artifacts) {
      if (!isObj(artifact)) continue;
      const read = readParts(artifact.parts);
      if (read.text) texts.push(read.text);
      said.files.push(...read.files);
    }
    said.text = texts.join("");
  }
  return { kind, ...said };
}

export interface StreamedReply {
  text: string;
  files: FileRef[];
  error: string | null;
}

/** The reply so far, grown one event at a time. */
export class ReplyAccumulator {
  text = "";
  files: FileRef[] = [];
  error: string | null = null;

  /** Takes one event (a JSON-RPC envelope or a bare result); true when the reply changed. */
  take(event: unknown): boolean {
    if (!isObj(event)) return false;
    const failure = replyError(event);
    if (failure) {
      this.error = failure;
      return true;
    }
    const { kind, text, files } = eventContent("result" in event ? event.result : event);
    const before = this.text;
    if (kind === "artifact-update") this.text += text;
    else if (text) {
      if (text.startsWith(this.text)) this.text = text;
      else this.text += (this.text ? "\n" : "") + text;
    } else if (!kind && typeof event.text === "string") {
      this.text += event.text; // an event that was not JSON: its raw text
    }
    for (const file of files) if (!this.files.some((f) => f.uri === file.uri)) this.files.push(file);
    return this.text !== before || files.length > 0;
  }

  get reply(): StreamedReply {
    return { text: this.text, files: [...this.files], error: this.error };
  }
}
