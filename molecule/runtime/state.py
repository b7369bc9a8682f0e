"""The runtime's shared state: one object the HTTP app and the heartbeat both read."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from molecule.runtime.adapters.base import Adapter
from molecule.runtime.credentials import Credentials
from molecule.runtime.settings import Settings
from molecule.runtime.tasks import TaskStore, TaskTracker


@dataclass
class RuntimeState:
    settings: Settings
    credentials: Credentials
    adapter: Adapter | None = None
    configuration_error: str | None = None  # set when adapter setup failed (redacted)
    url: str = ""
    tracker: TaskTracker = field(default_factory=TaskTracker)
    store: TaskStore = field(default_factory=TaskStore)
    started_at: float = field(default_factory=time.monotonic)
    registered: bool = False
    removed: bool = False  # the platform answered 410: the workspace is gone

    @property
    def configured(self) -> bool:
        return self.adapter is not None and self.configuration_error is None

    @property
    def uptime_seconds(self) -> int:
        return int(time.monotonic() - self.started_at)
