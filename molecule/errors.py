"""The one exception tree.

Every error the platform raises on purpose is a `MoleculeError`: it knows its HTTP status,
its client-facing message (the contract's exact string) and optional extra body keys and
headers. The HTTP layer turns it into `{"error": message, **extra}`; anything else that
escapes a handler is a real fault, logged with its traceback and answered with a bare 500.
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


class DatastoreUnavailable(ServiceUnavailable):
    """PostgreSQL cannot be reached (down, restarting, out of connections): every such
    failure, on any route, is this 503 with Retry-After (the contract's auth-lookup body),
    never a 500. Raised by the store layer, which alone knows a connection failure from a
    query error."""

    RETRY_AFTER = 5

    def __init__(self) -> None:
        super().__init__(
            "platform datastore unavailable — retry shortly",
            retry_after=self.RETRY_AFTER,
            extra={"code": "platform_unavailable"},
        )


# --- actor runtime errors -------------------------------------------------------------


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
