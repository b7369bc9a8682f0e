"""Wire shapes of the knowledge routes (memories, key/value memory, instructions,
checkpoints, shared context), for the API description (molecule.http.openapi).

The routes validate with the original's exact messages; these models say what a client may
send and gets back, never stricter than the routes.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


# -- memories (HMA) ---------------------------------------------------------------------------


class MemoryCommit(BaseModel):
    content: str = Field(min_length=1, description="secret-looking values are redacted")
    scope: Literal["LOCAL", "TEAM", "GLOBAL"]
    namespace: str | None = Field(None, max_length=50, description='default "general"')


class MemoryCommitted(BaseModel):
    id: str
    scope: str
    namespace: str


class MemoryQuery(BaseModel):
    scope: Literal["LOCAL", "TEAM", "GLOBAL"] | None = None
    q: str | None = Field(None, max_length=1000)
    namespace: str | None = Field(None, max_length=50)
    limit: int | None = Field(None, ge=1, le=50)


class Memory(BaseModel):
    id: str
    workspace_id: str
    content: str
    scope: str
    namespace: str
    created_at: str


# -- key/value memory -------------------------------------------------------------------------


class KeyValueWrite(BaseModel):
    key: str = Field(min_length=1, max_length=256)
    value: Any = Field(description="any JSON value, at most 64 KiB once serialised")
    ttl_seconds: int | None = Field(None, ge=1, le=315_360_000)
    if_match_version: int | None = Field(None, ge=0)


class KeyValueEntry(BaseModel):
    key: str
    value: Any = None
    version: int
    expires_at: str | None = None
    updated_at: str


class KeyValueWritten(BaseModel):
    status: str
    key: str
    version: int


class VersionConflict(BaseModel):
    error: str
    expected_version: int
    current_version: int | None = None


# -- instructions -----------------------------------------------------------------------------


class InstructionCreate(BaseModel):
    scope: Literal["global", "workspace"]
    scope_target: str | None = Field(None, description="the workspace id, for workspace scope")
    title: str = Field(min_length=1, max_length=200)
    content: str = Field(min_length=1, max_length=8192)
    priority: int = Field(0, ge=-1_000_000, le=1_000_000)


class InstructionUpdate(BaseModel):
    title: str | None = Field(None, max_length=200)
    content: str | None = Field(None, max_length=8192)
    priority: int | None = Field(None, ge=-1_000_000, le=1_000_000)
    enabled: bool | None = None


class InstructionListQuery(BaseModel):
    scope: Literal["global", "team", "workspace"] | None = None
    workspace_id: str | None = Field(
        None, description="the enabled rules that apply to this workspace, in resolve order"
    )


class Instruction(_Open):
    id: str
    scope: str
    scope_target: str | None = None
    title: str
    content: str
    priority: int
    enabled: bool


class Created(BaseModel):
    id: str


class Resolved(BaseModel):
    workspace_id: str
    instructions: str = Field(description="markdown: global rules, then the workspace's")


# -- checkpoints ------------------------------------------------------------------------------


class CheckpointWrite(BaseModel):
    workflow_id: str = Field(min_length=1, max_length=256)
    step_name: str = Field(min_length=1, max_length=256)
    step_index: int = Field(0, ge=0, le=1_000_000)
    payload: Any = Field(None, description="any JSON value, at most 256 KiB once serialised")


class CheckpointSaved(BaseModel):
    id: str
    workspace_id: str
    workflow_id: str
    step_name: str


class Checkpoint(BaseModel):
    id: str
    workspace_id: str
    workflow_id: str
    step_name: str
    step_index: int
    completed_at: str
    payload: Any = None


class CheckpointListQuery(BaseModel):
    workflow_id: str | None = Field(None, max_length=256)
    limit: int | None = Field(None, ge=1, le=500)


class LatestQuery(BaseModel):
    workflow_id: str | None = Field(None, max_length=256)


class CheckpointsDeleted(BaseModel):
    deleted: int
    workflow_id: str


# -- shared context ---------------------------------------------------------------------------


class SharedFile(BaseModel):
    path: str
    content: str
