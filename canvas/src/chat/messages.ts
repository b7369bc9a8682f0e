// Chat messages and how they are read out of A2A bodies: the canvas sends `message/send`,
// agents answer with a message or a task, and `notify` rows store `{result, parts}`.
import type { FileRef } from "../api/types";

export interface ChatMessage {
  id: string;
  role: "user" | "agent";
  text: string;
  files: FileRef[];
  at: string;
  pending?: boolean;
  error?: boolean;
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function fileOf(part: Obj): FileRef | null {
  const file = isObj(part.file) ? part.file : part;
  const uri = file.uri ?? file.URI;
  const name = file.name ?? file.Name;
  if (typeof uri !== "string" || !uri) return null;
  const ref: FileRef = { uri, name: typeof name === "string" && name ? name : basename(uri) };
  const mime = file.mimeType ?? file.mime_type;
  if (typeof mime === "string") ref.mimeType = mime;
  if (typeof file.size === "number") ref.size = file.size;
  return ref;
}

function basename(uri: string): string {
  return uri.split("/").pop() || uri;
}

/** Text and files of a list of A2A parts (`kind` or the older `type` discriminator). */
export function readParts(parts: unknown): { text: string; files: FileRef[] } {
  const texts: string[] = [];
  const files: FileRef[] = [];
  if (!Array.isArray(parts)) return { text: "", files };
  for (const part of parts) {
    if (!isObj(part)) continue;
    const kind = part.kind ?? part.type;
    if (kind === "text" && typeof part.text === "string") texts.push(part.text);
    else if (kind === "file") {
      const ref = fileOf(part);
      if (ref) files.push(ref);
    }
  }
  return { text: texts.join("\n"), files };
}

/** What the user sent, from a stored `message/send` request body. */
export function requestMessage(body: unknown): { text: string; files: FileRef[] } | null {
  if (!isObj(body) || !isObj(body.params) || !isObj(body.params.message)) return null;
  const message = body.params.message;
  const read = readParts(message.parts);
  if (!read.text && typeof message.content === "string") read.text = message.content;
  return read.text || read.files.length ? read : null;
}

/** The agent's reply from a JSON-RPC response (a message, a task, or notify's shape). */
export function replyMessage(body: unknown): { text: string; files: FileRef[] } | null {
  if (!isObj(body)) return null;
  const result = body.result;
  if (typeof result === "string") {
    const files = readParts(body.parts).files;
    return { text: result, files };
  }
  if (!isObj(result)) return null;
  const direct = readParts(result.parts);
  if (direct.text || direct.files.length) return direct;
  const texts: string[] = [];
  const files: FileRef[] = [];
  if (Array.isArray(result.artifacts)) {
    for (const artifact of result.artifacts) {
      if (!isObj(artifact)) continue;
      const read = readParts(artifact.parts);
      if (read.text) texts.push(read.text);
      files.push(...read.files);
    }
  }
  if (!texts.length && isObj(result.status) && isObj(result.status.message)) {
    const read = readParts(result.status.message.parts);
    if (read.text) texts.push(read.text);
    files.push(...read.files);
  }
  return texts.length || files.length ? { text: texts.join("\n"), files } : null;
}

/** The error text of a JSON-RPC error response, if it is one. */
export function replyError(body: unknown): string | null {
  if (!isObj(body) || !isObj(body.error)) return null;
  const message = body.error.message;
  return typeof message === "string" ? message : "the agent answered with an error";
}
