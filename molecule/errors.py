"""The one exception tree of Molecule: the platform and the agent program raise only these.

Every error is a `MoleculeError` and knows its HTTP status, its client-facing message (the
original's exact string where it defined one; docs/compatibility.md §1.1) and optional extra
body keys and headers. The HTTP layer answers it as `{"error": message, **extra}` with that
status; any other exception that escapes a handler is a real fault, logged with its traceback
and answered with a bare 500, so internal detail never reaches a client.

    MoleculeError (500)
    ├── BadRequest (400): JSONRejected, UnsafeURL, DNSLookupFailed, PathRefused, MalformedForm
    ├── Unauthorized (401), PaymentRequired (402), Forbidden (403), NotFound (404)
    ├── RequestTimeout (408)
    ├── Conflict (409): NameTaken, DuplicateIdempotencyKey
    ├── Gone (410), PayloadTooLarge (413), Unprocessable (422), TooManyRequests (429)
    ├── ClientGone (499): the client hung up; nothing is answered
    ├── ConfigError: SecretKeyError, SettingsError, UnknownAdapter (startup; exit code 2)
    ├── EmbeddedPostgresError, DecryptError, ProvisionError, ProvisionFailed, MkdirFailed,
    │   ToolError, RpcError, BridgeError, EngineError (502; a Docker Engine request failed)
    ├── CommandFailed: a `molecule` client command refused or failed (molecule.cli)
    ├── StopActor: not a failure; an actor's way to end itself normally
    ├── BadGateway (502): AgentUnreachable, ResponseTooLarge, PlatformError, LLMError
    ├── AgentErrorStatus: the agent's own error status, passed on
    └── ServiceUnavailable (503, Retry-After):
        ├── DatastoreUnavailable (the database cannot be reached)
        ├── ActorError: MailboxFull, ActorStopped, AskTimeout, ActorCrashed
        ├── NoBackend
        └── AgentBusy: AgentConnectionLost, PoolTimeout, ResponseHeaderTimeout,
            IdleTimeout, CeilingTimeout, StillBusy

The agent program (`molecule.runtime`) shares this module (it imports nothing else of the
platform but the shared wire modules).
"""

from __future__ import annotations

from typing import Any


class MoleculeError(Exception):
    status: int = 500
    default_message: str = "internal error"

    def __init__(
        self,
        message: str | None = None,
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        status: int | None = None,
    ) -> None:
        self.message = message if message is not None else self.default_message
        super().__init__(self.message)
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})
        if status is not None:
            self.status = status

    def body(self) -> dict[str, Any]:
        return {"error": self.message, **self.extra}


# --- by HTTP status ---------------------------------------------------------------------------


class BadRequest(MoleculeError):
    status, default_message = 400, "bad request"


class Unauthorized(MoleculeError):
    status, default_message = 401, "unauthorized"


class PaymentRequired(MoleculeError):
    status, default_message = 402, "workspace budget limit exceeded"


class Forbidden(MoleculeError):
    status, default_message = 403, "forbidden"


class NotFound(MoleculeError):
    status, default_message = 404, "not found"


class RequestTimeout(MoleculeError):
    status, default_message = 408, "request body timeout"


class Conflict(MoleculeError):
    status, default_message = 409, "conflict"


class Gone(MoleculeError):
    status, default_message = 410, "gone"


class PayloadTooLarge(MoleculeError):
    status, default_message = 413, "payload too large"


class Unprocessable(MoleculeError):
    status, default_message = 422, "unprocessable entity"


class TooManyRequests(MoleculeError):
    status, default_message = 429, "too many requests"


class ClientGone(MoleculeError):
    """The client hung up (mid-body, or before the answer): there is nobody to answer."""

    status, default_message = 499, "client closed the connection"


class BadGateway(MoleculeError):
    status, default_message = 502, "bad gateway"


class ServiceUnavailable(MoleculeError):
    status, default_message = 503, "service unavailable"

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: int | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        hdrs = dict(headers or {})
        if retry_after is not None:
            hdrs.setdefault("Retry-After", str(retry_after))
        super().__init__(message, extra=extra, headers=hdrs)


# --- input ------------------------------------------------------------------------------------


class JSONRejected(BadRequest):
    """A body is not JSON the platform accepts (molecule.jsontext); the message says why.
    `malformed`: not JSON at all (the other reasons are limits on valid JSON)."""

    def __init__(self, reason: str, *, malformed: bool = False) -> None:
        super().__init__(reason)
        self.malformed = malformed


class UnsafeURL(BadRequest):
    """A URL the platform refuses to store or call (molecule.security.ssrf). The status
    depends on the caller (400 at register, 502 in the proxy), so each caller wraps
    `message`, the exact client-facing text of the original."""


class DNSLookupFailed(BadRequest):
    """A hostname could not be turned into addresses (no answer, a timeout, garbage): an
    SSRF check refuses it (molecule.security.ssrf); the message says why."""


class PathRefused(BadRequest):
    """A virtual file path (`/configs/...`, `/workspace/...`) failed validation."""


class NameTaken(Conflict):
    """Every `<name> (n)` variant is taken under this parent."""

    default_message = "workspace name already in use; please pick a different name"


class DuplicateIdempotencyKey(Conflict):
    """Another row of this workspace already holds the idempotency key."""


# --- configuration and startup (the CLI prints the message and exits with 2) ---------------------


class ConfigError(MoleculeError):
    """A setting has a value the program cannot use; the message names it."""


class SecretKeyError(ConfigError):
    """SECRETS_ENCRYPTION_KEY is not a 32-byte key."""


class SettingsError(ConfigError):
    """The agent program cannot start (the original runtime's preflight hard failures)."""


class UnknownAdapter(ConfigError):
    """config.yaml names an agent adapter the runtime does not have."""


# --- the platform's own parts -----------------------------------------------------------------


class DatastoreUnavailable(ServiceUnavailable):
    """PostgreSQL cannot be reached: on any route a 503 with Retry-After, never a 500
    (docs/compatibility.md#d23). Only the store tells an outage from a query error."""

    RETRY_AFTER = 5

    def __init__(self) -> None:
        super().__init__(
            "platform datastore unavailable — retry shortly",
            retry_after=self.RETRY_AFTER,
            extra={"code": "platform_unavailable"},
        )


class EmbeddedPostgresError(MoleculeError):
    """The private cluster could not be started; the message says what to do."""


class DecryptError(MoleculeError):
    """A stored secret cannot be decrypted with the configured key."""


class StopActor(MoleculeError):
    """Not a failure: raised from an actor's handle()/timeout() to end it normally."""


class ActorError(ServiceUnavailable):
    """Base for failures talking to the actor named `actor`; all are 503 with Retry-After."""

    default_message = "platform busy — retry shortly"

    def __init__(self, actor: str) -> None:
        super().__init__(self.default_message, retry_after=1)
        self.actor = actor


class MailboxFull(ActorError):
    """The mailbox is full: the sender is told to retry, never made to wait."""


class ActorStopped(ActorError):
    """The actor ended before it took the message."""


class AskTimeout(ActorError):
    def __init__(self, actor: str, timeout: float) -> None:
        super().__init__(actor)
        self.timeout = timeout


class ActorCrashed(ActorError):
    default_message = "internal error"


# --- provisioning -----------------------------------------------------------------------------


class NoBackend(ServiceUnavailable):
    default_message = "provisioner not available"


class ProvisionError(MoleculeError):
    """A backend failed to start an agent; `public` is the canned message safe to show
    users and broadcast, `detail` goes to the log only."""

    def __init__(self, public: str, detail: str = "") -> None:
        super().__init__(public)
        self.public = public
        self.detail = detail

    def __str__(self) -> str:
        return self.detail or self.public


class EngineError(MoleculeError):
    """A Docker Engine request failed: its status (0 timed out, 900 unreachable) and text,
    for the log. "removal of container ... already in progress" is another remove of it."""

    def __init__(self, engine_status: int, message: str) -> None:
        super().__init__("docker engine request failed", status=502)
        self.engine_status, self.detail = engine_status, message
        self.not_found = engine_status == 404
        text = message.lower()
        self.removal_in_progress = "removal of container" in text and "already in progress" in text

    def __str__(self) -> str:
        return f"docker engine: {self.detail} ({self.engine_status})"


class ProvisionFailed(MoleculeError):
    """The start failed and the workspace is now `failed` with `message` as its reason."""

    def __init__(self, message: str, extra: dict[str, Any]) -> None:
        super().__init__(message, extra=extra)


# --- talking to agents (molecule.a2a) -----------------------------------------------------------


class AgentUnreachable(BadGateway):
    """Nothing answers at the agent's address: refused, unresolvable, TLS failure, or the
    dial timed out. Not busy: nothing is listening there. Also a URL or header the agent
    client cannot put on the wire (the request never leaves)."""

    default_message = "failed to reach workspace agent"


class ResponseTooLarge(BadGateway):
    """The agent's response body is larger than the client reads (10 MiB)."""

    default_message = "agent response too large"


class AgentErrorStatus(MoleculeError):
    """The agent's own error status, passed on (metrics tell it from the platform's)."""


class AgentBusy(ServiceUnavailable):
    """The agent took the request but did not answer in time, or dropped the connection
    mid-request: busy or stuck, not dead (the original's busy class). The A2A pipeline
    queues the message durably instead."""

    default_message = "workspace agent busy"


class AgentConnectionLost(AgentBusy):
    """The connection was reset or closed, or the agent sent something that is not HTTP."""


class PoolTimeout(AgentBusy):
    """No connection to the agent came free in time (too many calls in flight to it)."""


class ResponseHeaderTimeout(AgentBusy):
    """The agent accepted the request but sent no response headers in time."""


class IdleTimeout(AgentBusy):
    """No event for the target within its idle window: the agent is busy or stuck."""


class CeilingTimeout(AgentBusy):
    """The request's absolute deadline (X-Timeout or the agent ceiling) passed."""


class StillBusy(AgentBusy):
    """A drained queue item found its target busy again: it goes back to the queue."""


# --- the agent program (molecule.runtime) and `molecule connect` -------------------------------


class PlatformError(BadGateway):
    """A call to the platform answered with an unexpected status (or not at all)."""

    def __init__(self, what: str, status: int | None, body: str = "") -> None:
        detail = f"HTTP {status}" if status is not None else "no response"
        super().__init__(f"{what} failed: {detail}" + (f": {body[:300]}" if body else ""))
        self.http_status = status
        self.response_body = body


class LLMError(BadGateway):
    """The model provider refused or failed a completion."""


class MkdirFailed(MoleculeError):
    """A directory for an upload could not be created."""

    def __init__(self, exc: OSError) -> None:
        super().__init__(exc.strerror or str(exc))
        self.errno = exc.errno
        self.detail = exc.strerror or str(exc)


class ToolError(MoleculeError):
    """A tool call of the agent's model failed; the message goes back to the model."""


class RpcError(MoleculeError):
    """A JSON-RPC error the agent answers inside a 200 response (`code`, `data`)."""

    status = 200

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code, self.data = code, data

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "data": self.data}


class BridgeError(MoleculeError):
    """A refusal `molecule connect` cannot recover from (bad token, unknown workspace)."""


class CommandFailed(MoleculeError):
    """A `molecule` client command failed: `status` is the platform's HTTP answer (0: the
    command's own failure); it exits with `exit_code` (1, or 3: platform unreachable)."""

    status, exit_code = 0, 1


class MalformedForm(BadRequest):
    """A multipart/form-data body is malformed or breaks a limit (molecule.form_parts)."""
