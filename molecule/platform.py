"""The platform process tree (docs/architecture.md §1.1) and its startup and shutdown order.

    trio.run (`molecule serve` starts the embedded PostgreSQL first, without DATABASE_URL)
    └─ trio_asyncio loop
       └─ platform nursery
          ├─ Store                     asyncpg pool; migrations at boot
          ├─ EventBus                  pub/sub and the A2A idle timers
          ├─ Supervisor "workspaces"   one WorkspaceActor per live workspace
          ├─ LocalProcessProvisioner   the agent processes and the lifeline pipe, or
          │  DockerProvisioner         a container per workspace (a Docker Engine answers)
          ├─ ServiceSupervisor         heartbeat write-behind, activity writer, event ticks,
          │                            token last-used flush, the sweeps, the cron scheduler
          ├─ Tasks                     delegation delivery, removal cleanup
          └─ HTTP server               hypercorn's trio worker (molecule.http.server)

Startup: open the pool, apply migrations, return interrupted queue items to `queued`,
unlink upload staging objects a killed run left, build the provisioner and start pipeline,
start the supervisor, activate the watched workspaces from one query, start the services,
then bind the HTTP server (`serve_platform`).

Shutdown (SIGTERM/SIGINT or cancellation): stop accepting requests, stop every agent
(bounded), flush staged activity rows, stop the actors and services, flush buffered
heartbeat columns and token use times, close the pool. The CLI then stops the embedded
cluster.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import trio
import trio_asyncio
from hypercorn.config import Config as HypercornConfig

from molecule.a2a.client import AgentClient
from molecule.actors.directory import Directory
from molecule.actors.dispatch import Dispatcher
from molecule.actors.docker_sweeps import start_docker_sweeps
from molecule.actors.messages import AgentDown, ProcessExited
from molecule.actors.supervision import ServiceSupervisor, Tasks
from molecule.actors.supervisor import Supervisor
from molecule.actors.sweepers import start_sweeps
from molecule.actors.workspace import WorkspaceDeps
from molecule.config import Settings, local_url
from molecule.events import EventBus
from molecule.events.activity_log import ActivityLog
from molecule.http import edge_tls
from molecule.http.app import create_app
from molecule.http.server import serve
from molecule.observability.live import LiveFigures
from molecule.observability.metrics import Metrics
from molecule.operations.approvals import EXPIRY_SWEEP_INTERVAL, Approvals
from molecule.operations.creation import WorkspaceCreation
from molecule.operations.removal import Removal
from molecule.operations.scheduler import Scheduler
from molecule.provision.backend import (
    close_backend,
    container_binds,
    open_backend,
    served_at,
)
from molecule.provision.pipeline import Pipeline
from molecule.provision.templates import Templates
from molecule.security.crypto import SecretBox
from molecule.security.ssrf import URLPolicy
from molecule.security.token_material import new_token
from molecule.services import Services
from molecule.store.activity_rows import ActivityRows
from molecule.store.approvals import ApprovalRows
from molecule.store.delegations import DelegationRows
from molecule.store.heartbeats import HeartbeatBuffer
from molecule.store.migrate import migrate
from molecule.store.orphan_rows import OrphanRows
from molecule.store.pending_uploads import unlink_orphaned_staging
from molecule.store.plugins import PluginRows
from molecule.store.pool import Store
from molecule.store.queue import QueueRows
from molecule.store.schedules import ScheduleRows
from molecule.store.secrets import Secrets
from molecule.store.token_rows import OrgTokens, WorkspaceTokens
from molecule.store.token_usage import TokenUsageRows, UsageBuffer
from molecule.store.workspaces import Workspaces

log = logging.getLogger("molecule.platform")

TOKEN_FLUSH_INTERVAL = 5.0


def load_admin_token(settings: Settings) -> str:
    """ADMIN_TOKEN from the environment, else the generated one kept in the data directory."""
    if settings.admin_token_env:
        return settings.admin_token_env
    path = settings.admin_token_file
    if path.exists():
        token = path.read_text().strip()
        if token:
            return token
    settings.home.mkdir(parents=True, exist_ok=True)
    token = new_token()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    os.chmod(path, 0o600)
    return token


@asynccontextmanager
async def running_platform(settings: Settings, dsn: str) -> AsyncIterator[Services]:
    """Everything but the HTTP server: store, migrations, bus, actors, services.

    Must run inside `trio_asyncio.open_loop()`. Tests use it directly.
    """
    store = await Store.open(dsn)
    try:
        await migrate(store)
        workspaces = Workspaces(store)
        tokens = WorkspaceTokens(store)
        bus = EventBus(store)
        heartbeats = HeartbeatBuffer(workspaces, settings.heartbeat_flush_interval)
        policy = URLPolicy(saas=settings.saas_mode, dev=settings.dev_mode)
        supervisor = Supervisor("workspaces")
        metrics = Metrics()  # this platform's own registry (GET /metrics)
        metrics.watch(LiveFigures(bus, supervisor, store))
        background = ServiceSupervisor()
        activity = ActivityLog(ActivityRows(store), bus)
        queue = QueueRows(store)
        requeued = await queue.requeue_stuck_dispatched()
        if requeued:
            log.info("returned %d interrupted A2A queue items to the queue", requeued)
        orphans = await unlink_orphaned_staging(store)
        if orphans:
            log.info("unlinked %d upload staging object(s) left by an interrupted run", orphans)
        client = AgentClient(settings.a2a_response_header_timeout)
        dispatcher = Dispatcher(client, bus, activity, queue, workspaces, DelegationRows(store))
        dispatcher.usage = usage = UsageBuffer(TokenUsageRows(store))  # written behind
        secrets = Secrets(store, SecretBox(settings.secrets_key))
        directory_box: list[Directory] = []

        def process_exited(workspace_id: str, code: int | None) -> None:
            ref = directory_box[0].running(workspace_id) if directory_box else None
            if ref is not None:
                try:
                    ref.tell(ProcessExited(code))
                except Exception:
                    log.warning("workspace %s: exit notice not delivered", workspace_id)

        async with trio.open_nursery() as nursery:
            provisioner = await open_backend(settings, nursery, process_exited)
            pipeline = Pipeline(
                workspaces,
                tokens,
                secrets,
                bus,
                Templates(user_dir=settings.home / "templates"),  # imports go there
                provisioner,
                platform_url=f"http://127.0.0.1:{settings.port}",
            )
            dispatcher.liveness = provisioner
            dispatcher.on_dead = lambda wid: _notify_dead(directory_box, wid)
            deps = WorkspaceDeps(
                settings,
                workspaces,
                tokens,
                bus,
                heartbeats,
                policy,
                activity,
                queue,
                dispatcher,
                pipeline,
                metrics=metrics,
            )
            await nursery.start(supervisor.run)
            directory = Directory(supervisor, deps)
            directory_box.append(directory)
            await directory.activate_watched()
            await nursery.start(background.run)
            background.start("heartbeat write-behind", heartbeats.run)
            background.start("activity writer", activity.run)
            background.start("token usage write-behind", usage.run)
            background.start("event ticks", bus.run_batches)
            background.every("token last-used flush", TOKEN_FLUSH_INTERVAL, tokens.flush_last_used)
            start_sweeps(
                background,
                directory,
                pipeline,
                queue,
                activity.rows,
                provision_timeout=settings.provision_timeout,
                retention_days=settings.activity_retention_days,
            )
            # Docker backend only: orphaned containers and volumes, stale tokens, image watch.
            start_docker_sweeps(
                background,
                provisioner,
                directory,
                OrphanRows(store),
                tokens,
                image_auto_refresh=settings.image_auto_refresh,
            )
            # Pending approvals nobody decided are denied after 10 minutes, listed or not.
            approvals = Approvals(ApprovalRows(store), workspaces, bus)
            background.every("approval expiry", EXPIRY_SWEEP_INTERVAL, approvals.expire_stale)
            # Cron schedules fire as A2A messages from system:cron (docs/architecture.md §3.6).
            scheduler = Scheduler(ScheduleRows(store), directory, workspaces, activity, bus)
            background.start("scheduler", scheduler.run)
            tasks = Tasks(nursery)
            removal = Removal(directory, tokens, heartbeats, pipeline, bus, tasks)
            svc = Services(
                settings=settings,
                store=store,
                workspaces=workspaces,
                tokens=tokens,
                org_tokens=OrgTokens(store),
                bus=bus,
                heartbeats=heartbeats,
                directory=directory,
                url_policy=policy,
                admin_token=load_admin_token(settings),
                activity=activity,
                queue=queue,
                secrets=secrets,
                pipeline=pipeline,
                removal=removal,
                creation=WorkspaceCreation(workspaces, tokens, bus, directory, PluginRows(store)),
                tasks=tasks,
                background=background,
                metrics=metrics,
                usage=usage,
                scheduler=scheduler,
            )
            try:
                yield svc
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(20):
                    await provisioner.stop_all()  # no orphan agents outlive the platform
                with trio.CancelScope(shield=True), trio.move_on_after(10):
                    await activity.flush()  # staged rows of the last moments
                nursery.cancel_scope.cancel()
                with trio.CancelScope(shield=True):
                    await client.aclose()
        with trio.CancelScope(shield=True), trio.move_on_after(5):
            await close_backend(provisioner)  # the Docker Engine client, if any
        with trio.CancelScope(shield=True):
            with trio.move_on_after(10):
                try:
                    await heartbeats.flush()
                    await tokens.flush_last_used()
                    await usage.flush()
                except Exception:  # e.g. the database is down: shutdown goes on
                    log.exception("flushing buffered heartbeats and token use at shutdown failed")
    finally:
        with trio.CancelScope(shield=True):
            with trio.move_on_after(10):
                await store.close()


async def _wait_for_signal() -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("received %s: shutting down", signal.Signals(signum).name)
            return


def hypercorn_config(settings: Settings) -> HypercornConfig:
    cfg = HypercornConfig()
    cfg.bind = [f"{settings.host}:{settings.port}"]
    cfg.accesslog = None
    # The server's own error lines go through the root logger's handlers (and so its format,
    # JSON included) instead of a handler of its own.
    cfg.errorlog = logging.getLogger("hypercorn.error")
    cfg.graceful_timeout = 5
    # A connection that sends nothing (new, or after a response) is closed after 20 s: long
    # enough that pooled clients drop idle connections first (httpx, which the agent runtime
    # and the connect bridge use, after 5 s; aiohttp after 15 s) and so never send a request
    # on one the server is closing; and a quarter of the 75 s a silent client held a socket.
    # From a request's first byte its head has 10 s instead (HEADER_READ_TIMEOUT in
    # molecule.http.server, which applies to any Config).
    cfg.keep_alive_timeout = 20
    edge_tls.apply(cfg, settings)  # --certfile/--keyfile
    return cfg


async def serve_platform(
    settings: Settings,
    dsn: str,
    *,
    on_ready: Callable[[Services, list[str]], None] | None = None,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
) -> None:
    async with trio_asyncio.open_loop():
        async with running_platform(settings, dsn) as svc:
            app = create_app(svc)
            config = hypercorn_config(settings)
            # Containers on a Docker bridge reach the platform at the network's gateway.
            provisioner = svc.pipeline.provisioner
            if provisioner is not None:
                # Under TLS the bridge gets a plain listener of its own (molecule.http.edge_tls).
                host, port = ("127.0.0.1", 0) if settings.tls else (settings.host, settings.port)
                edge_tls.add_container_binds(config, container_binds(provisioner, host, port))
            async with trio.open_nursery() as nursery:
                binds = await nursery.start(
                    lambda task_status: serve(
                        app,
                        config,
                        shutdown_trigger=shutdown_trigger or _wait_for_signal,
                        task_status=task_status,
                    )
                )
                svc.pipeline.platform_url = edge_tls.agent_url(binds)
                if provisioner is not None:
                    served_at(provisioner, binds)
                tune_gc_for_serving()
                if on_ready is not None:
                    on_ready(svc, binds)


async def _notify_dead(directory_box: list[Directory], workspace_id: str) -> None:
    """The dispatcher found the agent not running: its actor decides (a restart cycle in
    flight is the reason, and needs no other)."""
    ref = directory_box[0].running(workspace_id) if directory_box else None
    if ref is not None:
        ref.tell(AgentDown())


def tune_gc_for_serving() -> None:
    """Move boot-time objects out of the collector's way and collect young objects less often.

    Everything built at boot (modules, the app, 10,000 actors) lives as long as the process,
    yet every full collection walks it again: measured, those pauses were the whole p99 tail
    of heartbeats (106 ms -> ~45 ms with this, see bench/heartbeats.py). Reference counting
    still frees almost everything at once; the cyclic collector only runs less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def login_url(settings: Settings, admin_token: str | None) -> str:
    """The canvas's address; with a token, the link that signs in by visiting it."""
    query = f"?token={admin_token}" if admin_token else ""
    return f"{local_url(settings.host, settings.port, settings.tls)}/{query}"


def data_dir_ready(home: Path) -> None:
    """Create the data directory, private to us.

    As root, the embedded cluster runs as the `postgres` user and lives in `postgres/`
    inside it, so others get traverse-only access (0711: no listing); every file in it
    carries its own restrictive mode (the admin token is 0600).
    """
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o711 if os.geteuid() == 0 else 0o700)
