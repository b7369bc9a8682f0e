"""The running platform's parts, as handed to the HTTP layer and background services."""

from __future__ import annotations

from dataclasses import dataclass, field

from molecule.actors.directory import Directory
from molecule.actors.supervision import ServiceSupervisor, Tasks
from molecule.config import Settings
from molecule.events import EventBus
from molecule.events.activity_log import ActivityLog
from molecule.observability.metrics import Metrics
from molecule.operations.creation import WorkspaceCreation
from molecule.operations.plugins import PluginSupport
from molecule.operations.removal import Removal
from molecule.operations.scheduler import Scheduler
from molecule.provision.pipeline import Pipeline
from molecule.security.ssrf import URLPolicy
from molecule.store.heartbeats import HeartbeatBuffer
from molecule.store.pool import Store
from molecule.store.queue import QueueRows
from molecule.store.secrets import Secrets
from molecule.store.token_rows import OrgTokens, WorkspaceTokens
from molecule.store.token_usage import UsageBuffer
from molecule.store.workspaces import Workspaces


@dataclass
class Services:
    settings: Settings
    store: Store
    workspaces: Workspaces
    tokens: WorkspaceTokens
    org_tokens: OrgTokens
    bus: EventBus
    heartbeats: HeartbeatBuffer
    directory: Directory
    url_policy: URLPolicy
    admin_token: str
    activity: ActivityLog
    queue: QueueRows
    secrets: Secrets
    pipeline: Pipeline
    removal: Removal
    creation: WorkspaceCreation
    tasks: Tasks  # one-off work that outlives its request (delegations, removal cleanup)
    background: ServiceSupervisor  # the long-lived loops (write-behind, sweeps, ticks)
    metrics: Metrics = field(default_factory=Metrics)  # GET /metrics (this platform's own)
    usage: UsageBuffer = field(default_factory=UsageBuffer)  # token usage, written behind
    scheduler: Scheduler | None = None  # the cron scheduler (None: not running here)
    plugins: PluginSupport = field(default_factory=PluginSupport)  # plugin installs' shared state
