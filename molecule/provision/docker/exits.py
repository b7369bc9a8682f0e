"""Containers that die are noticed at once: the Engine's event stream, followed for good.

The watcher follows `GET /events` filtered to our labelled containers' `die` and `oom`
events. A `die` of the container the provisioner started for a workspace (and did not ask to
stop: `stop` forgets the container first) is reported through `on_exit`, as the local
backend reports a process exit, and the workspace actor restarts the agent within its
crash-loop bound. An `oom` is remembered so the exit's log line says why.

When the stream breaks (the Engine restarted, a socket hiccup), the watcher reconnects with a
backoff, asking for the events since just before the previous connection (`since`), and
first checks every tracked container, so no exit is lost in between. A repeated report is
harmless: only the first one finds the container still tracked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import MutableMapping
from typing import Any

import trio

from molecule.errors import EngineError
from molecule.provision.base import ExitCallback
from molecule.provision.docker.engine import Engine
from molecule.provision.docker.naming import WORKSPACE_LABEL, owned_filter

log = logging.getLogger("molecule.provision.docker.exits")

BACKOFF_START, BACKOFF_MAX = 0.5, 30.0
MAX_OOM_MEMORY = 1024


class ExitWatcher:
    def __init__(
        self,
        engine: Engine,
        current: MutableMapping[str, str],
        on_exit: ExitCallback,
        instance: str,
    ) -> None:
        self.engine = engine
        self.filters = {**owned_filter(instance), "type": ["container"], "event": ["die", "oom"]}
        self.current = current  # workspace id -> the container id we started and watch
        self.on_exit = on_exit
        self._oom: set[str] = set()

    def exited(self, workspace_id: str, container_id: str, code: int | None) -> None:
        """Report the exit if `container_id` is the one we run for the workspace."""
        if self.current.get(workspace_id) != container_id:
            return
        del self.current[workspace_id]
        why = " (out of memory)" if container_id in self._oom else ""
        self._oom.discard(container_id)
        log.warning(
            "workspace %s: container %s exited on its own (code %s)%s",
            workspace_id,
            container_id[:12],
            code,
            why,
        )
        self.on_exit(workspace_id, code)

    def on_event(self, event: dict[str, Any]) -> None:
        actor = event.get("Actor") or {}
        attributes = actor.get("Attributes") or {}
        workspace_id = attributes.get(WORKSPACE_LABEL)
        container_id = str(actor.get("ID") or event.get("id") or "")
        action = event.get("Action") or event.get("status")
        if not workspace_id or not container_id:
            return
        if action == "oom":
            if len(self._oom) < MAX_OOM_MEMORY:
                self._oom.add(container_id)
        elif action == "die":
            raw = attributes.get("exitCode")
            code = int(raw) if isinstance(raw, str) and raw.lstrip("-").isdigit() else None
            self.exited(workspace_id, container_id, code)

    async def reconcile(self) -> None:
        """Report tracked containers that are no longer running (exits the stream missed)."""
        for workspace_id, container_id in list(self.current.items()):
            found = await self.engine.inspect("containers", container_id)
            state = (found or {}).get("State") or {}
            if found is None or not state.get("Running"):
                code = state.get("ExitCode")
                self.exited(workspace_id, container_id, code if isinstance(code, int) else None)

    async def run(self) -> None:
        """Follow the stream until cancelled (a task in the provisioner's nursery)."""
        backoff = BACKOFF_START
        since = time.time()
        while True:
            started = trio.current_time()
            try:
                await self.reconcile()
                # Events since just before this pass: none is lost while (re)connecting.
                connecting_at = time.time()
                await self.engine.events(self.filters, since, self.on_event)
                since = connecting_at - 1.0
                log.warning("the Docker event stream ended; reconnecting")
            except EngineError as exc:
                log.warning("the Docker event stream failed (%s); reconnecting", exc)
            except Exception:
                log.exception("following the Docker event stream failed; reconnecting")
            if trio.current_time() - started > 60:
                backoff = BACKOFF_START
            await trio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)
