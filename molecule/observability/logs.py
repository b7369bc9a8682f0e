"""Log records an operator can search: which request, workspace and operation each one
belongs to, and one JSON object per line when asked (`molecule serve --log-format json`).

The fields come from two places, the record's own (`extra=log_extra(...)`) first:
- `log_extra(workspace_id, operation)`: a log call that names a workspace passes it as data
  too, so a JSON line can be filtered by workspace without parsing its message;
- the log context, a context variable: the HTTP layer opens one per request (its request id,
  then the route's operation and the workspace in its path) and a workspace actor binds its
  workspace id for its own task. Trio tasks start with a copy of the context of the task that
  started them, so work a request starts (an A2A forward) logs with that request's id.

The readable format (the default) is unchanged: `time LEVEL logger: message`.
"""

from __future__ import annotations

import json
import logging
import os
import re
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")
FIELDS = ("workspace_id", "operation", "request_id")
MAX_REQUEST_ID = 128
# What a request id from a client or proxy may look like (a UUID, 32 hex digits, base64):
# anything else (too long, spaces, control characters, non-ASCII) is replaced, so it can be
# written into a log line and a header as it is.
_REQUEST_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._:/+=-]{{0,{MAX_REQUEST_ID - 1}}}")


@dataclass(slots=True)
class LogContext:
    """What the records of one request (or one actor's task) belong to."""

    request_id: str | None = None
    operation: str | None = None
    workspace_id: str | None = None


_context: ContextVar[LogContext | None] = ContextVar("molecule_log_context", default=None)


def current() -> LogContext | None:
    return _context.get()


def open_context(
    request_id: str | None = None,
    *,
    workspace_id: str | None = None,
    operation: str | None = None,
) -> Token[LogContext | None]:
    """A fresh context for this task (and the tasks it starts from now on), replacing the
    one it inherited; `close_context` ends it (a task that ends needs not)."""
    return _context.set(LogContext(request_id, operation, workspace_id))


def close_context(token: Token[LogContext | None]) -> None:
    _context.reset(token)


def detach() -> None:
    """Forget the context this task inherited: a long-lived task started by a request (an
    actor's) must not log with that request's id forever."""
    _context.set(None)


def bind(*, operation: str | None = None, workspace_id: str | None = None) -> None:
    """Fill in the current context (opening one for this task if there is none)."""
    ctx = _context.get()
    if ctx is None:
        _context.set(LogContext(operation=operation, workspace_id=workspace_id))
        return
    if operation is not None:
        ctx.operation = operation
    if workspace_id is not None:
        ctx.workspace_id = workspace_id


def log_extra(workspace_id: str | None, operation: str | None = None) -> dict[str, str]:
    """`extra=` for a log call about a workspace: the id (and operation) as fields."""
    extra: dict[str, str] = {}
    if workspace_id:
        extra["workspace_id"] = workspace_id
    if operation:
        extra["operation"] = operation
    return extra


def valid_request_id(value: str) -> bool:
    return _REQUEST_ID.fullmatch(value) is not None


def new_request_id() -> str:
    return os.urandom(16).hex()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (RFC 3339, UTC, milliseconds), level, logger, message,
    the context fields when known, and the traceback of an exception as `exception`.

    Non-ASCII is escaped: a line stays valid whatever text (a lone surrogate from an agent's
    error, say) ends up in a message.
    """

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, Any] = {
            "time": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        ctx = _context.get()
        for name in FIELDS:
            value = getattr(record, name, None) or (getattr(ctx, name) if ctx else None)
            if value:
                entry[name] = str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, separators=(",", ":"), default=str)


def use_format(fmt: str) -> None:
    """Switch every handler of the root logger to `fmt` ("text" or "json")."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
    formatter = JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)
