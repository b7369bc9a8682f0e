"""`molecule connect <workspace_id>`: bridge an external workspace to a local backend.

    molecule connect <id> [--platform URL] [--token TOKEN] [--backend mock|exec]
                          [--exec "cmd ..."] [--state-dir DIR] [--once]

The token defaults to `MOLECULE_WORKSPACE_TOKEN`, then to the one saved in the state dir by
a first registration; the platform URL to `MOLECULE_PLATFORM_URL` / `PLATFORM_URL`. The state
dir (default `~/.molecule/connect/<id>`) keeps the inbox cursor across restarts.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

import httpx

from molecule.connect.backends import (
    DEFAULT_EXEC_TIMEOUT,
    DEFAULT_MAX_OUTPUT,
    Backend,
    ExecBackend,
    MockBackend,
)
from molecule.connect.bridge import (
    HEARTBEAT_INTERVAL,
    POLL_INTERVAL,
    SINCE_SECS,
    Bridge,
    BridgeConfig,
    BridgeError,
)
from molecule.models import is_uuid

log = logging.getLogger("molecule.connect")

DEFAULT_PLATFORM = "http://127.0.0.1:8080"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="molecule connect",
        description="bridge a poll-mode external workspace to a local backend",
    )
    p.add_argument("workspace_id")
    p.add_argument(
        "--platform",
        default=os.environ.get("MOLECULE_PLATFORM_URL")
        or os.environ.get("PLATFORM_URL")
        or DEFAULT_PLATFORM,
        help="platform base URL (env MOLECULE_PLATFORM_URL or PLATFORM_URL)",
    )
    p.add_argument(
        "--token",
        default=os.environ.get("MOLECULE_WORKSPACE_TOKEN") or None,
        help="workspace token (env MOLECULE_WORKSPACE_TOKEN)",
    )
    p.add_argument("--backend", choices=("mock", "exec"), default="mock")
    p.add_argument("--exec", dest="exec_cmd", help='command for --backend exec, e.g. "cat"')
    p.add_argument("--exec-timeout", type=float, default=DEFAULT_EXEC_TIMEOUT)
    p.add_argument("--max-output", type=int, default=DEFAULT_MAX_OUTPUT)
    p.add_argument("--state-dir", type=Path, default=None)
    p.add_argument("--name", default=None, help="agent card name (default: the workspace's)")
    p.add_argument("--poll-interval", type=float, default=POLL_INTERVAL)
    p.add_argument("--heartbeat-interval", type=float, default=HEARTBEAT_INTERVAL)
    p.add_argument("--since-secs", type=int, default=SINCE_SECS)
    p.add_argument("--once", action="store_true", help="register, poll once, answer, exit")
    return p


def _backend(args: argparse.Namespace) -> Backend:
    if args.backend == "exec":
        if not args.exec_cmd:
            raise ValueError('--backend exec needs --exec "command ..."')
        return ExecBackend(args.exec_cmd, timeout=args.exec_timeout, max_output=args.max_output)
    return MockBackend()


def _attach_values(argv: list[str], options: tuple[str, ...]) -> list[str]:
    """`--token X` as `--token=X`: a token is base64url, so one in 64 starts with "-", and
    argparse would take it for an option ("expected one argument")."""
    out: list[str] = []
    values = iter(argv)
    for arg in values:
        if arg in options:
            value = next(values, None)
            out.append(arg if value is None else f"{arg}={value}")
        else:
            out.append(arg)
    return out


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(_attach_values(argv, ("--token",)))
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if not is_uuid(args.workspace_id):
        parser.error("workspace_id must be a UUID")
    if args.poll_interval <= 0 or args.heartbeat_interval <= 0 or args.since_secs <= 0:
        parser.error("intervals and --since-secs must be positive")
    try:
        backend = _backend(args)
    except ValueError as exc:
        parser.error(str(exc))
    wid = args.workspace_id.lower()
    state_dir = args.state_dir or Path.home() / ".molecule" / "connect" / wid
    config = BridgeConfig(
        workspace_id=wid,
        platform_url=args.platform,
        token=args.token,
        state_dir=state_dir,
        poll_interval=args.poll_interval,
        heartbeat_interval=args.heartbeat_interval,
        since_secs=args.since_secs,
        agent_name=args.name,
    )
    bridge = Bridge(config, backend)

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        bridge.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info(
        "molecule connect: workspace %s via %s, %s backend, state in %s",
        wid, config.platform_url, backend.name, state_dir,
    )  # fmt: skip
    try:
        return bridge.run(once=args.once)
    except BridgeError as exc:
        print(f"molecule connect: {exc}", file=sys.stderr)
        return 1
    except httpx.HTTPError as exc:
        print(f"molecule connect: platform unreachable: {exc}", file=sys.stderr)
        return 1
    finally:
        bridge.close()
