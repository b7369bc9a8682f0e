"""`molecule agent`: boot the runtime, serve until SIGTERM/SIGINT.

Boot order (the original runtime's, adapted): settings from the environment and config.yaml
(preflight failures exit 2); adapter created and `setup()` run — a failure leaves the runtime up
in "not configured" mode; HTTP server bound (hypercorn's trio worker); one register; heartbeat
loop. SIGTERM or SIGINT triggers hypercorn's graceful shutdown (in flight requests get
`GRACEFUL_TIMEOUT` seconds), then the heartbeat stops and the adapter is closed; the exit code
is 0.

Environment (see `settings.py`): `WORKSPACE_ID` (required), `PLATFORM_URL`,
`WORKSPACE_CONFIG_PATH`, `CONFIGS_DIR`, `HOSTNAME` (advertised host, default `localhost`),
`MOLECULE_WORKSPACE_TOKEN`, `MOLECULE_WORKSPACE_ROOT`, `MOLECULE_AGENT_PORT`,
`MOLECULE_AGENT_HOST` (bind address), `MOLECULE_HEARTBEAT_INTERVAL_SECONDS`, `LOG_LEVEL`,
`MOLECULE_LIFELINE_FD` (set by the local provisioner: shut down when the platform is gone,
see `molecule.lifeline`), and
the LLM adapter's `OPENAI_BASE_URL`, `OPENAI_API_KEY`, `MOLECULE_MODEL`/`MODEL`.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from dataclasses import dataclass
from typing import cast

import httpx
import trio
from hypercorn.config import Config as HyperConfig
from hypercorn.trio import serve
from hypercorn.typing import ASGIFramework

from molecule.errors import SettingsError, UnknownAdapter
from molecule.lifeline import lifeline_fd, wait_until_cut
from molecule.runtime.adapters import AdapterContext, create_adapter
from molecule.runtime.adapters import known as known_adapters
from molecule.runtime.app import RuntimeApp
from molecule.runtime.credentials import Credentials
from molecule.runtime.heartbeat import heartbeat_loop, register
from molecule.runtime.platform_client import PlatformClient
from molecule.runtime.settings import Settings, load_settings
from molecule.runtime.state import RuntimeState
from molecule.security.redact import describe_error, secret_env_values

log = logging.getLogger("molecule.runtime")

SETUP_TIMEOUT = 60.0
GRACEFUL_TIMEOUT = 5.0
CLOSE_TIMEOUT = 5.0


@dataclass(frozen=True)
class Running:
    """What `run_runtime` reports once it is serving and has registered."""

    state: RuntimeState
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def hypercorn_config(settings: Settings) -> HyperConfig:
    cfg = HyperConfig()
    host = settings.bind_host
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    cfg.bind = [f"{host}:{settings.port}"]
    cfg.accesslog = None
    cfg.errorlog = logging.getLogger("hypercorn.error")  # ours, not a second stderr handler
    cfg.graceful_timeout = GRACEFUL_TIMEOUT
    return cfg


async def _setup_adapter(state: RuntimeState, client: PlatformClient) -> None:
    settings = state.settings
    try:
        adapter = create_adapter(settings.config.adapter, AdapterContext(settings, client))
    except UnknownAdapter:
        raise
    except Exception as exc:  # a broken adapter config: serve the card, say why
        state.configuration_error = describe_error(exc, secret_env_values(settings.env))
        log.error("adapter %r not loaded: %s", settings.config.adapter, state.configuration_error)
        return
    state.adapter = adapter
    try:
        with trio.fail_after(SETUP_TIMEOUT):
            await adapter.setup()
    except Exception as exc:
        state.configuration_error = describe_error(exc, secret_env_values(settings.env))
        log.error("adapter %r not configured: %s", adapter.name, state.configuration_error)


async def run_runtime(
    settings: Settings,
    shutdown: trio.Event,
    *,
    task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until `shutdown` is set. Raises `UnknownAdapter` before serving anything."""
    credentials = Credentials(settings.configs_dir, settings.env_token)
    await credentials.reload_token()
    state = RuntimeState(settings, credentials)
    async with httpx.AsyncClient() as http:
        client = PlatformClient(settings, credentials, http)
        await _setup_adapter(state, client)
        app = RuntimeApp(state)
        try:
            async with trio.open_nursery() as nursery:

                async def serve_then_stop(task_status: trio.TaskStatus[list[str]]) -> None:
                    await serve(
                        cast(ASGIFramework, app),
                        hypercorn_config(settings),
                        shutdown_trigger=shutdown.wait,
                        task_status=task_status,
                    )
                    nursery.cancel_scope.cancel()

                binds: list[str] = await nursery.start(serve_then_stop)
                port = int(binds[0].rsplit(":", 1)[1])
                state.url = settings.url_for_port(port)
                await register(state, client)
                nursery.start_soon(heartbeat_loop, state, client)
                task_status.started(Running(state, port))
        finally:
            if state.adapter is not None:
                with trio.move_on_after(CLOSE_TIMEOUT) as scope:
                    scope.shield = True
                    await state.adapter.aclose()


async def _wait_for_signal(shutdown: trio.Event) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("received %s: shutting down", signal.Signals(signum).name)
            shutdown.set()
            return


async def _watch_lifeline(fd: int, shutdown: trio.Event) -> None:
    await wait_until_cut(fd)
    log.warning("the platform that started this agent is gone: shutting down")
    shutdown.set()


async def _serve_until_signal(settings: Settings) -> None:
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_wait_for_signal, shutdown)
        fd = lifeline_fd(os.environ)
        if fd is not None:
            nursery.start_soon(_watch_lifeline, fd, shutdown)
        await run_runtime(settings, shutdown)
        nursery.cancel_scope.cancel()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="molecule agent",
        description="Run the Molecule agent runtime for one workspace (configured by env).",
        epilog="`molecule agent peers <workspace>` lists a workspace's peers instead.",
    )
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    level = logging.getLevelName(str(args.log_level).upper())
    logging.basicConfig(
        level=level if isinstance(level, int) else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        settings = load_settings()
        if settings.config.adapter not in known_adapters():
            raise UnknownAdapter(
                f"unknown adapter {settings.config.adapter!r} "
                f"(known: {', '.join(known_adapters())})"
            )
        trio.run(_serve_until_signal, settings)
    except (SettingsError, UnknownAdapter) as exc:
        print(f"molecule agent: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
