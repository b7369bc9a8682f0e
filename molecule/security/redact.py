"""Keep secrets and unbounded text out of what users and clients see.

`sanitize_error_detail` is the original's filter for the `error_detail` of an activity
broadcast: agents put raw exception text there, which routinely embeds
`Authorization: Bearer ...`, API keys or JWTs, and every canvas watching the workspace receives
the event. The database keeps the raw value; only what leaves the platform is scrubbed.

`describe_error` is the agent program's own filter, for error text it puts in its card, its
JSON-RPC errors and its heartbeats: it also knows the agent's environment, so it replaces the
values of secret-looking variables wherever they appear (`secret_env_values`).

`redact_memory_secrets` is the original's scrubber for agent memories (SAFE-T1201): a memory is
stored and shared with the team or everyone, so credentials an agent picked up from a tool's
output are replaced by `[REDACTED:<label>]` before the row is written.

`truncate_bytes` bounds previews (summaries, log excerpts) by their UTF-8 size, which is what
columns, events and terminals care about, without ever splitting a character.

The agent program imports this module too, so it imports nothing of the platform.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

ERROR_DETAIL_MAX_BYTES = 4096
"""Cap on a sanitized error detail, before the truncation marker (as in the original)."""

TRUNCATED_MARKER = "…[truncated]"
ELLIPSIS = "…"
_ELLIPSIS_BYTES = len(ELLIPSIS.encode("utf-8"))
REDACTED = "[REDACTED]"

_REDACT_LOOKAHEAD_BYTES = 4096
"""How far past the cap redaction looks, so a secret straddling the cut is matched whole and
replaced, instead of being cut into a fragment too short for the pattern to recognise."""

# The prefix (keyword plus separators) is kept so the reader still sees *what* was hidden;
# the value, a run of 20+ token characters, is replaced. ASCII-only so that `re.IGNORECASE`
# does not let Unicode case folding (e.g. the Kelvin sign for "k") widen the character class.
_PREFIXED_SECRET = re.compile(
    r"((?:bearer|token|api[_-]?key|sk-proj-|sk-)[ :=]*)[A-Za-z0-9_/.-]{20,}",
    re.IGNORECASE | re.ASCII,
)
# The agent's filter is stricter than the original's broadcast filter above, which is kept as
# the original had it: values from 16 characters, and `+` counts (base64 keys).
_PREFIXED_SECRET_STRICT = re.compile(
    r"((?:bearer|token|api[_-]?key|sk-proj-|sk-)[ :=]*)[A-Za-z0-9_/.+-]{16,}",
    re.IGNORECASE | re.ASCII,
)
# Three base64url segments, the first starting with the encoding of '{"'.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_SECRET_ENV_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)
_SECRET_ENV_MIN_CHARS = 8  # shorter values would redact ordinary words
ERROR_TEXT_MAX_CHARS = 500
"""Cap on the agent's own error text (card, JSON-RPC `data`, heartbeat), before `…`."""
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_/.-")


def _fits(s: str, limit: int) -> bool:
    """Whether `s` is at most `limit` bytes in UTF-8, without encoding a huge string.

    Every character is at least one byte, so more characters than `limit` is already too
    long. `surrogatepass` measures lone surrogates (e.g. from undecodable subprocess output)
    as the 3 bytes they occupy instead of raising.
    """
    return len(s) <= limit and len(s.encode("utf-8", "surrogatepass")) <= limit


def _utf8_prefix(s: str, limit: int) -> str:
    """The longest prefix of `s` whose UTF-8 encoding fits in `limit` bytes."""
    head = s[:limit]
    data = head.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return head
    cut = limit
    while cut > 0 and (data[cut] & 0xC0) == 0x80:  # back off continuation bytes
        cut -= 1
    return data[:cut].decode("utf-8", "surrogatepass")


def redact_secrets(s: str) -> str:
    """Replace credential-looking values with `[REDACTED]`, keeping their keyword prefix.

    A heuristic, not a guarantee: it catches the shapes that actually leak through error
    text (bearer headers, `token=`, `api_key:`, OpenAI-style `sk-` keys, JWTs) at the cost of
    occasionally hiding a harmless long identifier that follows the word "token".
    """
    s = _PREFIXED_SECRET.sub(lambda m: m.group(1) + REDACTED, s)
    return _JWT.sub(REDACTED, s)


def sanitize_error_detail(s: str) -> str:
    """Make an agent-supplied error detail safe to broadcast.

    Redacts secrets and caps the result at 4096 UTF-8 bytes, then appends `…[truncated]` when
    anything was cut. Redaction happens before the cut, on a window reaching past the cap:
    cutting first could leave the head of a secret (say 15 of its characters) that no longer
    matches the 20-character rule. The window bounds the regex work for huge inputs; if the
    window edge falls inside a token-like run, that run is dropped rather than kept as a
    possibly partial, unrecognisable secret.
    """
    if _fits(s, ERROR_DETAIL_MAX_BYTES):
        return redact_secrets(s)
    window = _utf8_prefix(s, ERROR_DETAIL_MAX_BYTES + _REDACT_LOOKAHEAD_BYTES)
    if len(window) < len(s) and s[len(window)] in _TOKEN_CHARS:
        end = len(window)
        while end > 0 and window[end - 1] in _TOKEN_CHARS:
            end -= 1
        window = window[:end]
    return _utf8_prefix(redact_secrets(window), ERROR_DETAIL_MAX_BYTES) + TRUNCATED_MARKER


def truncate_bytes(s: str, limit: int) -> str:
    """Cut `s` to at most `limit` UTF-8 bytes, ending with `…` when it had to cut.

    The ellipsis (3 bytes) counts against the same budget, so the result always fits a column
    or field sized `limit`. With a budget under 3 bytes there is no room for it and the text
    is only cut. Characters are never split.
    """
    if limit < 0:
        raise ValueError("limit must be non-negative")
    if _fits(s, limit):
        return s
    if limit < _ELLIPSIS_BYTES:
        return _utf8_prefix(s, limit)
    return _utf8_prefix(s, limit - _ELLIPSIS_BYTES) + ELLIPSIS


# --- the agent program's error text -------------------------------------------------------


def secret_env_values(env: Mapping[str, str]) -> list[str]:
    """Values of environment variables whose names say they are secrets (8+ characters)."""
    return [
        value
        for name, value in env.items()
        if _SECRET_ENV_NAME.search(name) and len(value) >= _SECRET_ENV_MIN_CHARS
    ]


def scrub_error_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace the given secret values and credential-looking tokens with `[REDACTED]`, then
    cap the text at 500 characters (`…` when cut)."""
    for value in secrets:
        if value:
            text = text.replace(value, REDACTED)
    text = _PREFIXED_SECRET_STRICT.sub(lambda m: m.group(1) + REDACTED, text)
    text = _JWT.sub(REDACTED, text)
    if len(text) > ERROR_TEXT_MAX_CHARS:
        text = text[:ERROR_TEXT_MAX_CHARS] + ELLIPSIS
    return text


def describe_error(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """`<Type>: message`, scrubbed: the shape of the original's `configuration_error`."""
    message = str(exc)
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return scrub_error_text(text, secrets)


# --- memory content -----------------------------------------------------------------------

# The original's patterns, in its order: the most specific first, so an assignment such as
# `OPENAI_API_KEY=sk-...` is replaced whole before the generic `sk-` or base64 rules could take
# only part of it. Each applies to the previous one's output. ASCII, as Go's RE2 is (`\b`,
# `\s`, `\S`); `(?i)` makes `[A-Z]` match lowercase names too, as in the original.
_MEMORY_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b[A-Z][A-Z0-9_]*_API_KEY\s*=\s*\S+", re.ASCII), "API_KEY"),
    (re.compile(r"(?i)\b[A-Z][A-Z0-9_]*_TOKEN\s*=\s*\S+", re.ASCII), "TOKEN"),
    (re.compile(r"(?i)\b[A-Z][A-Z0-9_]*_SECRET\s*=\s*\S+", re.ASCII), "SECRET"),
    (re.compile(r"Bearer\s+\S+", re.ASCII), "BEARER_TOKEN"),
    (re.compile(r"sk-[A-Za-z0-9\-_]{16,}", re.ASCII), "SK_TOKEN"),
    (re.compile(r"ctx7_[A-Za-z0-9]+", re.ASCII), "CTX7_TOKEN"),
    (re.compile(r"[A-Za-z0-9+/]{33,}={0,2}", re.ASCII), "BASE64_BLOB"),
)


def redact_memory_secrets(content: str) -> tuple[str, list[str]]:
    """The memory text with every credential-looking value replaced by `[REDACTED:<label>]`,
    and the labels of the patterns that fired (for a log line that names no value).

    Labels: API_KEY, TOKEN, SECRET (`NAME_API_KEY=…`, `NAME_TOKEN=…`, `NAME_SECRET=…`),
    BEARER_TOKEN (`Bearer …`), SK_TOKEN (`sk-` keys), CTX7_TOKEN (`ctx7_…`) and BASE64_BLOB (33
    or more base64 characters: this also hides a very long plain identifier, as it did in the
    original).
    """
    fired: list[str] = []
    for pattern, label in _MEMORY_SECRET_PATTERNS:
        replaced = pattern.sub(f"[REDACTED:{label}]", content)
        if replaced != content:
            fired.append(label)
            content = replaced
    return content, fired
