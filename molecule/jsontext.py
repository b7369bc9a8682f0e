"""JSON as the platform writes and reads it: compact out, bounded and text-checked in.

Out: compact separators, as the original (Go) wrote every body; its shell clients grep for
`"status":"queued"`. Non-ASCII text is written as UTF-8, timestamps as RFC 3339.

In (`loads`), before anything else sees the value:
- nesting deeper than `MAX_DEPTH` is refused before parsing (the parser recurses: a body of
  a thousand `[` was a RecursionError, i.e. a 500, on every JSON route);
- `NaN` / `Infinity` are refused (not JSON; PostgreSQL's jsonb refuses them too);
- text holding NUL or an unpaired surrogate is refused: PostgreSQL cannot store either (a
  NUL in a secret crashed every later agent start; a lone surrogate in a heartbeat's
  `current_task` blocked the heartbeat flush for everyone). Both can only come from `\\u`
  escapes (raw control bytes are invalid JSON, and strict UTF-8 never yields surrogates),
  so the value is walked only when the text has an escape at all.

Shared by the platform and the agent program.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any, NoReturn

from molecule.errors import JSONRejected

MAX_DEPTH = 64

_TOKENS_B = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_TOKENS_S = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


def rfc3339(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)  # ids (uuid.UUID), numerics from the database: their text form


def dumps(value: Any) -> str:
    return json.dumps(value, default=_default, ensure_ascii=False, separators=(",", ":"))


def dumpb(value: Any) -> bytes:
    return dumps(value).encode()


def _too_deep(raw: bytes | str, limit: int) -> bool:
    if isinstance(raw, bytes):
        if raw.count(b"[") + raw.count(b"{") <= limit:
            return False  # cannot nest deeper than it has brackets: the common case
        tokens = _TOKENS_B.finditer(raw)
        opening, quote = (0x5B, 0x7B), 0x22
    else:
        if raw.count("[") + raw.count("{") <= limit:
            return False
        tokens = _TOKENS_S.finditer(raw)  # type: ignore[assignment]
        opening, quote = ("[", "{"), '"'  # type: ignore[assignment]
    depth = 0
    for match in tokens:
        first = match.group()[0]
        if first == quote:
            continue
        if first in opening:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _reject_constant(name: str) -> NoReturn:
    raise JSONRejected(f"{name} is not JSON", malformed=True)


def bad_text(value: str) -> str | None:
    """Why `value` cannot be stored as text (NUL, unpaired surrogate), or None."""
    found = _BAD_TEXT.search(value)
    if found is None:
        return None
    return "text may not contain NUL" if found.group() == "\x00" else "unpaired surrogate"


def _check_text(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            reason = bad_text(item)
            if reason:
                raise JSONRejected(reason)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def loads(raw: bytes | str, *, max_depth: int = MAX_DEPTH, check_text: bool = True) -> Any:
    """Parse request JSON under the rules above; JSONRejected says what is wrong."""
    if _too_deep(raw, max_depth):
        raise JSONRejected(f"JSON nested deeper than {max_depth} levels")
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        value = json.loads(text, parse_constant=_reject_constant)
    except JSONRejected:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise JSONRejected("malformed JSON", malformed=True) from exc
    if check_text and "\\u" in text:
        _check_text(value)
    return value
