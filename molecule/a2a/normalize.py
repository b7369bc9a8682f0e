"""Bring every A2A request body to one JSON-RPC shape before the proxy looks at it.

Agents, the canvas, the CLI and the SDKs do not all speak the same A2A generation
(docs/compatibility.md §1 lists them). The runtimes behind the proxy run a2a-sdk, whose v0.3
validator insists on a JSON-RPC envelope, `params.message.parts` and `params.message.messageId`.
Older ("v0.2") senders put the text in `params.message.content` instead, and several legacy
senders omit the `jsonrpc` envelope or the `messageId` altogether. Before the compat shim
existed such messages were accepted by the platform (HTTP 200/202) and then silently dropped by
the receiver's validator (the original platform's PR #2349, issue #2345). This module converts
at the proxy edge, so every workspace gets the compatibility for free, and rejects the shapes it
cannot convert loudly, to the actual caller, with a 400 and a hint (the original's messages,
listed in docs/compatibility.md §1.1).

Faithful to the original, it normalises *only* these things:

* no `jsonrpc` key -> the body is rebuilt as `{"jsonrpc": "2.0", "id": <uuid4>, "method",
  "params"}`; every other top-level key is dropped, and a missing `method`/`params` becomes
  `null`;
* `params.message` (when it is an object) gets a fresh `messageId` if the key is absent;
* if `params.message` has no `parts` key, a string `content` becomes one `{"kind": "text"}`
  part, a list `content` becomes `parts`, and `content` is removed; any other `content`
  (number, bool, object, null) or no `content` at all is a 400.

It deliberately does **not** touch `role`, part keys (`{"type": "text"}` stays as is; the
platform's own delegate path sends that), v1.0 proto-JSON shapes, or anything outside
`params.message`: poll-mode recipients read this body verbatim and every poll client copes
with both `kind` and `type`.

`extract_message_id` and `expires_in_seconds` read the two values the busy-queue needs from a
normalised envelope, as the original does: the idempotency key and the optional TTL.

The test corpus under `tests/a2a/corpus/` replays every shape seen in the wild through
`normalize_a2a_payload`; a change here that breaks one of them fails that gate.
"""

from __future__ import annotations

import math
import re
import uuid
from typing import Any, NoReturn

from molecule.errors import BadRequest, JSONRejected
from molecule.jsontext import loads

__all__ = [
    "INVALID_CONTENT_TYPE",
    "INVALID_CONTENT_TYPE_HINT",
    "INVALID_JSON",
    "MISSING_PARTS",
    "MISSING_PARTS_HINT",
    "expires_in_seconds",
    "extract_message_id",
    "normalize_a2a_payload",
    "normalize_a2a_request",
]

INVALID_JSON = "invalid JSON"
INVALID_CONTENT_TYPE = "invalid params.message.content type"
INVALID_CONTENT_TYPE_HINT = (
    "content must be a string (v0.2 compat) or omitted in favour of parts (v0.3)"
)
MISSING_PARTS = "params.message must contain either 'parts' (v0.3) or 'content' (v0.2 compat)"
MISSING_PARTS_HINT = 'v0.3 example: {"parts":[{"kind":"text","text":"..."}]}'

JSONRPC_VERSION = "2.0"

# A JSON escape that may decode to a UTF-16 surrogate (only then can a lone one survive).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_NUL_ESCAPE = re.compile(rb"\\u0000")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def normalize_a2a_payload(raw: bytes) -> tuple[dict[str, Any], str]:
    """Parse and normalise an A2A request body.

    Returns the normalised JSON-RPC envelope (a fresh dict; `raw` is never aliased) and its
    method, or `""` when the method is missing or not a string (the envelope keeps whatever
    was sent, `null` for a missing one). Raises `BadRequest` with the original's exact body:

    * `{"error": "invalid JSON"}` for anything that is not a UTF-8 JSON object (including an
      empty or whitespace-only body, a top-level array/string/number/null, `NaN`/`Infinity`,
      a BOM, or nesting too deep to parse);
    * `{"error": "invalid params.message.content type", "hint": ...}` when `params.message`
      has no `parts` and a `content` that is neither a string nor a list;
    * `{"error": "params.message must contain either 'parts' (v0.3) or 'content' (v0.2
      compat)", "hint": ...}` when `params.message` has neither key.

    "Has a key" means the key is present, whatever its value (as in the original's Go map
    lookups): `"parts": null` counts as present and is passed through; `"content": null` is an
    invalid content type; an existing `messageId` of any value is kept.
    """
    envelope, method, _ = normalize_a2a_request(raw)
    return envelope, method


def normalize_a2a_request(raw: bytes) -> tuple[dict[str, Any], str, bool]:
    """`normalize_a2a_payload`, and whether normalising changed anything.

    When it did not (every v0.3 sender), the proxy forwards `raw` itself: the same JSON
    value, without serialising the envelope again on the hot path.
    """
    payload, changed = _parse_object(raw)

    if "jsonrpc" in payload:
        envelope = payload
    else:
        changed = True
        envelope = {
            "jsonrpc": JSONRPC_VERSION,
            "id": str(uuid.uuid4()),
            "method": payload.get("method"),
            "params": payload.get("params"),
        }

    params = envelope.get("params")
    if isinstance(params, dict):
        message = params.get("message")
        if isinstance(message, dict):
            changed = _normalize_message(message) or changed

    method = envelope.get("method")
    return envelope, method if isinstance(method, str) else "", changed


def extract_message_id(envelope: dict[str, Any]) -> str | None:
    """`params.message.messageId` when it is a non-empty string, else None.

    The busy-queue uses it as the idempotency key (as in the original: empty -> NULL, so a
    retried request with the same messageId is not enqueued twice).
    """
    params = envelope.get("params")
    if not isinstance(params, dict):
        return None
    message = params.get("message")
    if not isinstance(message, dict):
        return None
    message_id = message.get("messageId")
    if isinstance(message_id, str) and message_id:
        return message_id
    return None


def expires_in_seconds(envelope: dict[str, Any]) -> int | None:
    """`params.expires_in_seconds` as whole seconds, or None for "no TTL".

    Only a JSON number counts (int or float, truncated toward zero); a bool, string, null,
    non-finite, negative or zero value, or one that truncates to zero (e.g. 0.5), is None, as is
    a missing key or non-object `params`, as in the original. The value is not capped: a caller
    adding it to a datetime should guard against overflow.
    """
    params = envelope.get("params")
    if not isinstance(params, dict):
        return None
    value = params.get("expires_in_seconds")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    seconds = int(value)
    return seconds if seconds > 0 else None


# --- internals ---------------------------------------------------------------------------


def _normalize_message(message: dict[str, Any]) -> bool:
    """Apply the v0.2 -> v0.3 message fixes in place (the message is our own parsed copy);
    True when something changed."""
    changed = "messageId" not in message
    if changed:
        message["messageId"] = str(uuid.uuid4())
    if "parts" in message:
        return changed  # the v0.3 hot path: nothing else to do
    if "content" not in message:
        raise BadRequest(MISSING_PARTS, extra={"hint": MISSING_PARTS_HINT})
    content = message["content"]
    if isinstance(content, str):
        message["parts"] = [{"kind": "text", "text": content}]
    elif isinstance(content, list):
        message["parts"] = content
    else:
        raise BadRequest(INVALID_CONTENT_TYPE, extra={"hint": INVALID_CONTENT_TYPE_HINT})
    del message["content"]
    return True


def _parse_object(raw: bytes) -> tuple[dict[str, Any], bool]:
    """The JSON object, and whether lone surrogates were replaced in it.

    The platform's input bounds apply (molecule.jsontext: depth, no NaN). Unpaired
    surrogates are replaced with U+FFFD as Go's decoder does (message text passes through
    like any other); a NUL is refused, since no row could store the message.
    """
    try:
        value = loads(raw, check_text=False)
    except JSONRejected as exc:
        raise BadRequest(
            INVALID_JSON, extra={} if exc.malformed else {"detail": str(exc)}
        ) from None
    replaced = False
    if _SURROGATE_ESCAPE.search(raw):
        value = _replace_lone_surrogates(value)
        replaced = True
    if _NUL_ESCAPE.search(raw) and _holds_nul(value):
        raise BadRequest(INVALID_JSON, extra={"detail": "text may not contain NUL"})
    if not isinstance(value, dict):
        _invalid_json()
    return value, replaced


def _holds_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _invalid_json() -> NoReturn:
    raise BadRequest(INVALID_JSON)


def _replace_lone_surrogates(value: Any) -> Any:
    """Replace unpaired `\\udXXX` escapes with U+FFFD, as Go's encoding/json does.

    Python decodes them into lone surrogate code points, which cannot be encoded as UTF-8:
    left in place they would make the envelope unforwardable (a 500 at serialisation time)
    instead of passing through like any other text.
    """
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_replace_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {
            _LONE_SURROGATE.sub("\ufffd", key): _replace_lone_surrogates(item)
            for key, item in value.items()
        }
    return value
