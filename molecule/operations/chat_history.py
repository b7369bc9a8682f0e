"""A workspace's chat, rebuilt from its activity rows the way the original canvas rebuilt it.

The canvas of the original platform loaded its chat from the activity feed
(`type=a2a_receive&source=canvas`, newest first, `before_ts` to page back) and turned each row
into up to two bubbles; `GET /workspaces/:id/chat-history` does that on the server
(docs/compatibility.md#d43), with the same rules:

- a user bubble from the request: the text parts of `params.message` and its file parts
  (a file part needs a `uri`; its name falls back to the URI's last segment);
- an agent bubble from the response: `result` when it is a string (notify's shape, its files
  in `parts`), else the text of `result.parts`, `result.artifacts[].parts` and
  `result.status.message.parts`, and the file parts of all of these and `result.message`;
  a JSON-RPC error reply is the text `agent error: <message>`; role `system` when the row's
  status is `error` or the text starts with "agent error";
- both bubbles take the row's time; the canvas's one internal self-message (the runtime's
  "Delegation results are ready..." nudge) is not a user bubble.

Message ids are the row id with `:user` / `:agent`, so a client can merge pages and live
events without duplicates.
"""

from __future__ import annotations

from typing import Any

INTERNAL_SELF_MESSAGE_PREFIXES = (
    "Delegation results are ready. Review them and take appropriate action",
)


def _texts(parts: Any) -> list[str]:
    if not isinstance(parts, list):
        return []
    out = []
    for part in parts:
        if isinstance(part, dict) and (part.get("kind") == "text" or part.get("type") == "text"):
            text = part.get("text")
            if isinstance(text, str) and text:
                out.append(text)
    return out


def _basename(uri: str) -> str:
    cleaned = uri.removeprefix("workspace:")
    for scheme in ("https://", "http://"):
        cleaned = cleaned.removeprefix(scheme)
    return cleaned.rsplit("/", 1)[-1] or "file"


def _files(parts: Any) -> list[dict[str, Any]]:
    if not isinstance(parts, list):
        return []
    out = []
    for part in parts:
        if not isinstance(part, dict) or "file" not in (part.get("kind"), part.get("type")):
            continue
        inner = part.get("file")
        file: dict[str, Any] = inner if isinstance(inner, dict) else part
        uri = file.get("uri")
        if not isinstance(uri, str) or not uri:
            continue
        name = file.get("name")
        entry: dict[str, Any] = {
            "uri": uri,
            "name": name if isinstance(name, str) and name else _basename(uri),
        }
        if isinstance(file.get("mimeType"), str):
            entry["mimeType"] = file["mimeType"]
        size = file.get("size")
        if isinstance(size, int) and not isinstance(size, bool):
            entry["size"] = size
        out.append(entry)
    return out


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _user_side(request_body: Any) -> tuple[str, list[dict[str, Any]]]:
    message = _dict(_dict(_dict(request_body).get("params")).get("message"))
    return "\n".join(_texts(message.get("parts"))), _files(message.get("parts"))


def _agent_side(response_body: Any) -> tuple[str, list[dict[str, Any]]]:
    body = _dict(response_body)
    result = body.get("result")
    if isinstance(result, str):  # notify: {result: text, parts: [files]}
        return result, _files(body.get("parts"))
    task = _dict(result)
    status_message = _dict(_dict(task.get("status")).get("message"))
    texts = _texts(task.get("parts"))
    files = _files(task.get("parts"))
    artifacts = task.get("artifacts")
    for artifact in artifacts if isinstance(artifacts, list) else []:
        texts += _texts(_dict(artifact).get("parts"))
        files += _files(_dict(artifact).get("parts"))
    if not texts:
        texts = _texts(status_message.get("parts"))
    error = _dict(body.get("error")).get("message")
    if not texts and not task and isinstance(error, str) and error:
        texts = [f"agent error: {error}"]  # a JSON-RPC error reply
    files += _files(status_message.get("parts"))
    files += _files(_dict(task.get("message")).get("parts"))
    return "\n".join(texts), files


def _message(
    row: dict[str, Any], side: str, role: str, text: str, files: list[dict[str, Any]]
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "id": f"{row['id']}:{side}",
        "role": role,
        "content": text,
        "timestamp": row["created_at"],
        "activity_id": row["id"],
    }
    if files:
        message["attachments"] = files
    return message


def row_messages(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The bubbles one `a2a_receive` row stands for: user first, then the agent's."""
    out = []
    text, files = _user_side(row.get("request_body"))
    if (text or files) and not text.startswith(INTERNAL_SELF_MESSAGE_PREFIXES):
        out.append(_message(row, "user", "user", text, files))
    if row.get("response_body") is not None:
        text, files = _agent_side(row["response_body"])
        if text or files:
            failed = row.get("status") == "error" or text.lower().startswith("agent error")
            out.append(_message(row, "agent", "system" if failed else "agent", text, files))
    return out


def chat_messages(rows_newest_first: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bubbles of a page of rows, oldest first."""
    out: list[dict[str, Any]] = []
    for row in reversed(rows_newest_first):
        out.extend(row_messages(row))
    return out
