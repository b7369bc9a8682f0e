"""Wire shapes of the core routes, for the API description (molecule.http.openapi).

Bodies the routes parse with their own models (molecule.models) are described by those;
these cover the rest. They say what a client may send and will get back; the routes keep
their own validation and exact error strings.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


# -- workspaces -------------------------------------------------------------------------------


class WorkspacePatch(BaseModel):
    """Fields a PATCH may change (hierarchy fields: admin only, docs/compatibility.md#d15)."""

    name: str | None = Field(None, max_length=255)
    role: str | None = Field(None, max_length=1000)
    tier: int | None = Field(None, ge=1, le=4)
    parent_id: str | None = None
    runtime: str | None = Field(None, max_length=100)
    workspace_dir: str | None = None
    collapsed: bool | None = None
    x: float | None = None
    y: float | None = None
    hibernation_idle_minutes: int | None = Field(None, ge=0, le=10_080)


class Workspace(_Open):
    """A workspace row as the API shows it."""

    id: str
    name: str
    status: str
    runtime: str | None = None
    parent_id: str | None = None
    url: str | None = None


class Created(_Open):
    """The created workspace (external ones with their connection block and token)."""

    id: str
    status: str


class DeleteQuery(BaseModel):
    confirm: bool | None = None
    purge: bool | None = None


class IncludeRemoved(BaseModel):
    include_removed: bool | None = None


class HibernateQuery(BaseModel):
    force: bool | None = None


# -- secrets, tokens --------------------------------------------------------------------------


class SecretWrite(BaseModel):
    """A secret: an environment variable name and its value (at most 64 KiB)."""

    key: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,255}$")
    value: str


class SecretKey(_Open):
    key: str
    has_value: bool
    scope: Literal["workspace", "global"]


class Paging(BaseModel):
    limit: int | None = Field(None, ge=1, le=200)
    offset: int | None = Field(None, ge=0)


class OrgTokenCreate(BaseModel):
    name: str | None = Field(None, max_length=100)


class TokenCreated(_Open):
    """A new token; the plaintext is shown this once."""

    auth_token: str


# -- activity, notify, delegation -------------------------------------------------------------


class ActivityReport(BaseModel):
    """An agent reports what it did."""

    activity_type: Literal[
        "a2a_send",
        "a2a_receive",
        "task_update",
        "agent_log",
        "skill_promotion",
        "memory_write",
        "error",
    ]
    method: str | None = None
    summary: str | None = None
    status: str | None = None
    error_detail: str | None = None
    source_id: str | None = None
    target_id: str | None = None
    duration_ms: int | None = None
    request_body: Any = None
    response_body: Any = None
    metadata: Any = None


class ActivityQuery(BaseModel):
    type: str | None = None
    source: Literal["canvas", "agent"] | None = None
    peer_id: str | None = None
    since_id: str | None = None
    since_secs: int | None = Field(None, ge=1)
    before_ts: str | None = None
    limit: int | None = Field(None, ge=1, le=500)


class Attachment(BaseModel):
    uri: str
    name: str
    mimeType: str | None = None  # noqa: N815 - the wire name
    size: int | None = None


class Notify(BaseModel):
    """An agent's message to its user (AGENT_MESSAGE), optionally with file attachments."""

    message: str = Field(min_length=1)
    attachments: list[Attachment] | None = None


class Delegate(BaseModel):
    task: str = Field(min_length=1)
    target_id: str
    idempotency_key: str | None = None


class DelegationRecord(BaseModel):
    task: str = Field(min_length=1)
    target_id: str
    delegation_id: str


class DelegationUpdate(BaseModel):
    status: Literal["completed", "failed"]
    response_preview: str | None = None
    error: str | None = None


# -- A2A --------------------------------------------------------------------------------------


class JsonRpcRequest(_Open):
    """An A2A JSON-RPC request (v0.3, or the v0.2 shape the proxy normalises)."""

    method: str
    params: dict[str, Any] | None = None
    jsonrpc: str | None = None
    id: Any = None


class DropStaleQuery(BaseModel):
    max_age_minutes: int | None = Field(None, ge=1, le=366 * 24 * 60)
    workspace_id: str | None = None


# -- chat files -------------------------------------------------------------------------------

MULTIPART_FILES: dict[str, Any] = {
    "type": "object",
    "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
    "required": ["files"],
}


class DownloadQuery(BaseModel):
    path: str


class ChatFiles(_Open):
    """The stored files: `{files: [{uri, name, mimeType, size}]}`."""

    files: list[Attachment]


# -- registry ---------------------------------------------------------------------------------


class PeersQuery(BaseModel):
    q: str | None = None


class Discovered(BaseModel):
    id: str
    url: str
    name: str


class Allowed(BaseModel):
    allowed: bool


class Registered(_Open):
    """`{status: "registered", delivery_mode, auth_token? (first register only), ...}`."""

    status: str
    delivery_mode: str


class LoginQuery(BaseModel):
    token: str | None = None
