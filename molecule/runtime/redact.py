"""Scrub secrets out of error text before it leaves the process (card, JSON-RPC, heartbeat).

Exception messages from HTTP clients and SDKs routinely embed `Authorization: Bearer ...` or
an API key. The runtime may import only the shared wire models, so it keeps its own small
filter: values of the environment's secret-looking variables, plus the usual token shapes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

REDACTED = "[REDACTED]"
MAX_CHARS = 500

_PREFIXED = re.compile(
    r"((?:bearer|token|api[_-]?key|sk-proj-|sk-)[ :=]*)[A-Za-z0-9_/.+-]{16,}",
    re.IGNORECASE | re.ASCII,
)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_SECRET_NAMES = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)


def secret_values(env: Mapping[str, str]) -> list[str]:
    """Values of environment variables whose names say they are secrets (8+ chars)."""
    return [v for k, v in env.items() if _SECRET_NAMES.search(k) and len(v) >= 8]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for value in secrets:
        if value:
            text = text.replace(value, REDACTED)
    text = _PREFIXED.sub(lambda m: m.group(1) + REDACTED, text)
    text = _JWT.sub(REDACTED, text)
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS] + "…"
    return text


def describe(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """`<Type>: message`, redacted: the shape of the original's `configuration_error`."""
    message = str(exc)
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return redact(text, secrets)
