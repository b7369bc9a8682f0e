// A file in the chat: a link that downloads it through the platform (the session cookie).
import { downloadUrl } from "../api/chat";
import type { FileRef } from "../api/types";

function size(bytes: number | undefined): string {
  if (bytes === undefined) return "";
  if (bytes < 1024) return ` (${bytes} B)`;
  if (bytes < 1024 * 1024) return ` (${(bytes / 1024).toFixed(1)} KB)`;
  return ` (${(bytes / 1024 / 1024).toFixed(1)} MB)`;
}

export function FileChip({ workspaceId, file }: { workspaceId: string; file: { uri: string; name: string; size?: number } & Partial<FileRef> }) {
  return (
    <a className="chip" href={downloadUrl(workspaceId, file.uri)} download={file.name} aria-label={`Download ${file.name}`}>
      ↓ {file.name}
      {size(file.size)}
    </a>
  );
}
