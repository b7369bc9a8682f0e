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
    │   ToolError, RpcError, BridgeError
    ├── StopActor: not a failure; an actor's way to end itself normally
    ├── BadGateway (502): AgentUnreachable, ResponseTooLarge, PlatformError, LLMError
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
    status = 400
    default_message = "bad request"


class Unauthorized(MoleculeError):
    status = 401
    default_message = "unauthorized"


class PaymentRequired(MoleculeError):
    status = 402
    default_message = "workspace budget limit exceeded"


class Forbidden(MoleculeError):
    status = 403
    default_message = "forbidden"


class NotFound(MoleculeError):
    status = 404
    default_message = "not found"


class RequestTimeout(MoleculeError):
    status = 408
    default_message = "request body timeout"


class Conflict(MoleculeError):
    status = 409
    default_message = "conflict"


class Gone(MoleculeError):
    status = 410
    default_message = "gone"


class PayloadTooLarge(MoleculeError):
    status = 413
    default_message = "payload too large"


class Unprocessable(MoleculeError):
    status = 422
    default_message = "unprocessable entity"


class TooManyRequests(MoleculeError):
    status = 429
    default_message = "too many requests"


class ClientGone(MoleculeError):
    """The client hung up (mid-body, or before the answer): there is nobody to answer."""

    status = 499
    default_message = "client closed the connection"


class BadGateway(MoleculeError):
    status = 502
    default_message = "bad gateway"


class ServiceUnavailable(MoleculeError):
    status = 503
    default_message = "service unavailable"

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

    def __init__(self, message: str) -> None:
        super().__init__(message)


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
    """PostgreSQL cannot be reached (down, restarting, out of connections): every such
    failure, on any route, is this 503 with Retry-After (docs/compatibility.md#d23),
    never a 500. Raised by the store layer, which alone knows a connection failure from a
    query error."""

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
    """Base for failures talking to an actor; all map to 503 with Retry-After."""


class MailboxFull(ActorError):
    def __init__(self, actor: str) -> None:
        super().__init__("platform busy — retry shortly", retry_after=1)
        self.actor = actor


class ActorStopped(ActorError):
    def __init__(self, actor: str) -> None:
        super().__init__("platform busy — retry shortly", retry_after=1)
        self.actor = actor


class AskTimeout(ActorError):
    def __init__(self, actor: str, timeout: float) -> None:
        super().__init__("platform busy — retry shortly", retry_after=1)
        self.actor = actor
        self.timeout = timeout


class ActorCrashed(ActorError):
    def __init__(self, actor: str) -> None:
        super().__init__("internal error", retry_after=1)
        self.actor = actor


# --- provisioning -----------------------------------------------------------------------------


class NoBackend(ServiceUnavailable):
    def __init__(self) -> None:
        super().__init__("provisioner not available")


class ProvisionError(MoleculeError):
    """A backend failed to start an agent; `public` is the canned message safe to show
    users and broadcast, `detail` goes to the log only."""

    def __init__(self, public: str, detail: str = "") -> None:
        super().__init__(public)
        self.public = public
        self.detail = detail

    def __str__(self) -> str:
        return self.detail or self.public


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


class MalformedForm(BadRequest):
    """A multipart/form-data body cannot be parsed or breaks a form limit (molecule.form_parts);
    the message says what, in the parser's words. Each upload route words its own answer."""
