"""`molecule connect <workspace_id>`: bridge an external workspace to a local backend.

    molecule connect <id> [--api-url URL] [--token TOKEN] [--backend mock|exec]
                          [--backend-opt cmd="cmd ..."] [--backend-opt timeout=60s]
                          [--state-dir DIR] [--once]

Compatible with the original CLI's spellings (molecule-cli `connect`): the platform URL comes
from `--api-url` (alias `--platform`), else the env `MOLECULE_API_URL`, else our
`MOLECULE_PLATFORM_URL` / `PLATFORM_URL`, else `http://127.0.0.1:8080`; the exec backend's
command from `--backend-opt cmd=...` (or `--exec`), its per-message timeout from
`--backend-opt timeout=<Go duration>` (or `--exec-timeout` seconds). The token defaults to
`MOLECULE_WORKSPACE_TOKEN`, then to the one saved in the state dir by a first registration.
The state dir (default `~/.molecule/connect/<id>`) keeps the inbox cursor across restarts.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import sys
from collections.abc import Mapping
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
)
from molecule.durations import parse_duration
from molecule.errors import BridgeError
from molecule.models import is_uuid

log = logging.getLogger("molecule.connect")

DEFAULT_PLATFORM = "http://127.0.0.1:8080"
# Where the platform URL comes from when no flag names it, first match wins: the original
# CLI's variable, then ours.
PLATFORM_ENV = ("MOLECULE_API_URL", "MOLECULE_PLATFORM_URL", "PLATFORM_URL")
# The original exec backend's default per-message timeout, used when the command is given the
# original's way (`--backend-opt cmd=...`); `--exec` keeps ours.
BACKEND_OPT_EXEC_TIMEOUT = 60.0
# `--backend-opt` keys this bridge implements, per backend.
BACKEND_OPTS: dict[str, tuple[str, ...]] = {"exec": ("cmd", "timeout"), "mock": ()}
# Options whose value may start with "-" (see _attach_values).
VALUE_OPTIONS = ("--token", "--backend-opt", "--exec")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="molecule connect",
        description="bridge a poll-mode external workspace to a local backend",
    )
    p.add_argument("workspace_id")
    p.add_argument(
        "--api-url",
        "--platform",
        dest="platform",
        metavar="URL",
        default=None,
        help="platform base URL (env MOLECULE_API_URL, MOLECULE_PLATFORM_URL or PLATFORM_URL; "
        f"default {DEFAULT_PLATFORM})",
    )
    p.add_argument(
        "--token",
        default=None,
        help="workspace token (env MOLECULE_WORKSPACE_TOKEN)",
    )
    p.add_argument("--backend", choices=("mock", "exec"), default="mock")
    p.add_argument(
        "--backend-opt",
        dest="backend_opts",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help='backend option, repeatable: exec takes cmd="command ..." and timeout=<duration>',
    )
    p.add_argument("--exec", dest="exec_cmd", help='command for --backend exec, e.g. "cat"')
    p.add_argument(
        "--exec-timeout",
        type=float,
        default=None,
        help=f"seconds per message for --backend exec (default {DEFAULT_EXEC_TIMEOUT:g})",
    )
    p.add_argument("--max-output", type=int, default=DEFAULT_MAX_OUTPUT)
    p.add_argument("--state-dir", type=Path, default=None)
    p.add_argument("--name", default=None, help="agent card name (default: the workspace's)")
    p.add_argument("--poll-interval", type=float, default=POLL_INTERVAL)
    p.add_argument("--heartbeat-interval", type=float, default=HEARTBEAT_INTERVAL)
    p.add_argument("--since-secs", type=int, default=SINCE_SECS)
    p.add_argument("--once", action="store_true", help="register, poll once, answer, exit")
    return p


def _platform(flag: str | None, environ: Mapping[str, str]) -> tuple[str, str]:
    """The platform URL and where it came from: the flag, else the first non-empty variable
    of PLATFORM_ENV, else the default."""
    if flag:
        return flag, "--api-url"
    for name in PLATFORM_ENV:
        value = environ.get(name)
        if value:
            return value, name
    return DEFAULT_PLATFORM, "the default"


def _backend_opts(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, str]:
    opts: dict[str, str] = {}
    for raw in args.backend_opts:
        key, sep, value = raw.partition("=")
        if not sep or not key:
            parser.error(f"--backend-opt: {raw!r} is not KEY=VALUE")
        opts[key] = value
    allowed = BACKEND_OPTS[args.backend]
    for key in opts:
        if key not in allowed:
            supported = ", ".join(allowed) or "none"
            parser.error(
                f"--backend-opt {key} is not supported by the {args.backend} backend "
                f"(supported: {supported})"
            )
    return opts


def parse_args(argv: list[str], environ: Mapping[str, str] | None = None) -> argparse.Namespace:
    """Parse and validate `molecule connect`'s arguments; exits 2 with a message on bad input.

    `environ` (default: the process environment) supplies the platform URL and token when no
    flag gives them."""
    env = os.environ if environ is None else environ
    parser = build_parser()
    args = parser.parse_args(_attach_values(argv, VALUE_OPTIONS))
    args.platform, source = _platform(args.platform, env)
    if not args.platform.startswith(("http://", "https://")):
        parser.error(f"{source} must be an http:// or https:// URL, got {args.platform!r}")
    if args.token is None:
        args.token = env.get("MOLECULE_WORKSPACE_TOKEN") or None
    if not is_uuid(args.workspace_id):
        parser.error("workspace_id must be a UUID")
    if args.poll_interval <= 0 or args.heartbeat_interval <= 0 or args.since_secs <= 0:
        parser.error("intervals and --since-secs must be positive")
    if args.exec_timeout is not None and args.exec_timeout <= 0:
        parser.error("--exec-timeout must be positive")
    opts = _backend_opts(parser, args)
    if args.backend == "exec":
        if args.exec_cmd and "cmd" in opts:
            parser.error('give the command once: --exec "..." or --backend-opt cmd="..."')
        if "cmd" in opts:
            args.exec_cmd = opts["cmd"]
        try:
            words = shlex.split(args.exec_cmd or "")
        except ValueError as exc:
            parser.error(f"cannot parse the exec command {args.exec_cmd!r}: {exc}")
        if not words:
            parser.error('--backend exec needs --exec "command ..." (or --backend-opt cmd=...)')
        if "timeout" in opts:
            if args.exec_timeout is not None:
                parser.error("give the timeout once: --exec-timeout or --backend-opt timeout=")
            seconds = parse_duration(opts["timeout"])
            if seconds is None or seconds <= 0:
                parser.error(
                    f"--backend-opt timeout={opts['timeout']!r} is not a positive duration "
                    "(e.g. 60s, 5m, 1h30m)"
                )
            args.exec_timeout = seconds
        elif args.exec_timeout is None:
            by_opt = "cmd" in opts
            args.exec_timeout = BACKEND_OPT_EXEC_TIMEOUT if by_opt else DEFAULT_EXEC_TIMEOUT
    return args


def build_backend(args: argparse.Namespace) -> Backend:
    """The backend a parsed command line asks for."""
    if args.backend == "exec":
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
    args = parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    backend = build_backend(args)
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
