"""Wire models and vocabularies shared by the platform and the agent runtime.

Request bodies are validated with pydantic in lax mode where the original's Go binding was
lax (numbers for numbers, strings for strings), and every handler maps a validation failure
to the original's exact 400 message.
"""

from __future__ import annotations

import enum
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr


class WorkspaceStatus(enum.StrEnum):
    """The `workspace_status` Postgres enum, in its declared order (a test checks the match)."""

    PROVISIONING = "provisioning"
    ONLINE = "online"
    OFFLINE = "offline"
    DEGRADED = "degraded"
    FAILED = "failed"
    REMOVED = "removed"
    PAUSED = "paused"
    HIBERNATED = "hibernated"
    AWAITING_AGENT = "awaiting_agent"
    HIBERNATING = "hibernating"


class DeliveryMode(enum.StrEnum):
    PUSH = "push"
    POLL = "poll"


# Runtimes whose agent is operated outside the platform ("bring your own compute").
EXTERNAL_RUNTIMES = frozenset({"external", "kimi", "kimi-cli"})

# Caller-id prefixes reserved for server-internal callers; refused when they arrive over HTTP.
SYSTEM_CALLER_PREFIXES = ("webhook:", "system:", "test:", "channel:")

CAPABILITY_KEYS = (
    "heartbeat",
    "scheduler",
    "session",
    "status_mgmt",
    "retry",
    "activity_decoration",
    "channel_dispatch",
)


def is_uuid(value: object) -> bool:
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class _Lax(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RegisterPayload(_Lax):
    id: StrictStr
    agent_card: Any = Field(...)
    url: StrictStr | None = None
    delivery_mode: StrictStr | None = None


class RuntimeMetadata(_Lax):
    capabilities: dict[str, Any] | None = None
    idle_timeout_seconds: StrictInt | StrictFloat | None = None


class HeartbeatPayload(_Lax):
    workspace_id: StrictStr
    error_rate: StrictFloat | StrictInt = 0.0
    sample_error: StrictStr | None = ""
    active_tasks: StrictInt = 0
    uptime_seconds: StrictInt | StrictFloat = 0
    current_task: StrictStr | None = ""
    monthly_spend: StrictInt = 0
    runtime_state: StrictStr | None = ""
    runtime_metadata: RuntimeMetadata | None = None


class UpdateCardPayload(_Lax):
    workspace_id: StrictStr
    agent_card: Any = Field(...)


class CanvasPosition(_Lax):
    x: StrictFloat | StrictInt = 0
    y: StrictFloat | StrictInt = 0


MAX_CONCURRENT_TASKS = 1000
MAX_BUDGET = 10**15  # the budget columns are bigint


class CreateWorkspacePayload(_Lax):
    name: StrictStr
    role: StrictStr | None = None
    template: StrictStr | None = None
    tier: StrictInt = 0
    model: StrictStr | None = None
    runtime: StrictStr | None = None
    external: StrictBool = False
    url: StrictStr | None = None
    workspace_dir: StrictStr | None = None
    workspace_access: StrictStr | None = None
    parent_id: StrictStr | None = None
    budget_limit: StrictInt | None = None  # 0..MAX_BUDGET, checked by the route
    max_concurrent_tasks: StrictInt = 0  # 0..MAX_CONCURRENT_TASKS, checked by the route
    delivery_mode: StrictStr | None = None
    canvas: CanvasPosition | None = None


class CheckAccessPayload(_Lax):
    caller_id: StrictStr
    target_id: StrictStr


class OrgTokenCreatePayload(_Lax):
    name: StrictStr | None = None
