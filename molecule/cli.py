"""The `molecule` command: serve, migrate, token."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import trio
import trio_asyncio

from molecule.config import Settings
from molecule.errors import ConfigError
from molecule.services import Services

if TYPE_CHECKING:
    from molecule.store.embedded import EmbeddedPostgres


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _database(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    """The DSN to use, starting the embedded cluster when no DATABASE_URL is set."""
    if settings.database_url:
        return settings.database_url, None
    from molecule.store.embedded import EmbeddedPostgres

    pg = EmbeddedPostgres(settings.home).start()
    return pg.dsn(), pg


def cmd_serve(args: argparse.Namespace) -> int:
    from molecule.platform import data_dir_ready, login_url, serve_platform

    settings = Settings.from_env(host=args.host, port=args.port)
    data_dir_ready(settings.home)
    dsn, pg = _database(settings)
    if pg is not None:
        pg.keep()  # restarted if it dies while we serve

    def ready(svc: Services, binds: list[str]) -> None:
        print(f"Molecule is serving on {', '.join(binds)}", flush=True)
        print(f"Open: {login_url(settings, svc.admin_token)}", flush=True)

    try:
        trio.run(lambda: serve_platform(settings, dsn, on_ready=ready))
    except KeyboardInterrupt:
        pass
    finally:
        if pg is not None:
            pg.stop()
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from molecule.platform import data_dir_ready
    from molecule.store.migrate import migrate
    from molecule.store.pool import Store

    settings = Settings.from_env()
    data_dir_ready(settings.home)
    dsn, pg = _database(settings)

    async def run() -> list[str]:
        async with trio_asyncio.open_loop():
            store = await Store.open(dsn, min_size=1, max_size=1)
            try:
                return await migrate(store)
            finally:
                await store.close()

    try:
        applied = trio.run(run)
    finally:
        if pg is not None:
            pg.stop()
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from molecule.platform import load_admin_token, login_url

    settings = Settings.from_env(host=args.host, port=args.port)
    token = load_admin_token(settings)
    print(login_url(settings, token) if args.url else token)
    return 0


def cmd_agent(args: argparse.Namespace) -> int:
    from molecule.runtime.main import main as agent_main

    return agent_main(list(args.agent_args))


def cmd_connect(args: argparse.Namespace) -> int:
    from molecule.connect.main import main as connect_main

    return int(connect_main(list(args.connect_args)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="molecule", description="Molecule control plane")
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the platform")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.set_defaults(func=cmd_serve)
    mig = sub.add_parser("migrate", help="apply database migrations and exit")
    mig.set_defaults(func=cmd_migrate)
    token = sub.add_parser("token", help="print the admin token (or the login URL)")
    token.add_argument("--url", action="store_true", help="print the login URL instead")
    token.add_argument("--host", default="127.0.0.1")
    token.add_argument("--port", type=int, default=8080)
    token.set_defaults(func=cmd_token)
    agent = sub.add_parser(
        "agent", help="run the agent runtime (configured by WORKSPACE_ID, PLATFORM_URL, ...)"
    )
    agent.add_argument("agent_args", nargs=argparse.REMAINDER)
    agent.set_defaults(func=cmd_agent)
    connect = sub.add_parser(
        "connect", help="bridge an external workspace to a local backend (molecule connect <id>)"
    )
    connect.add_argument("connect_args", nargs=argparse.REMAINDER)
    connect.set_defaults(func=cmd_connect)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.log_level)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"molecule: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
