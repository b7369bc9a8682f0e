"""`molecule serve`, `molecule migrate`, `molecule images build`: the platform on this machine.

These run platform parts in this process (so they import the platform; the client commands
do not). Without DATABASE_URL they start the embedded PostgreSQL cluster in
$MOLECULE_HOME first (docs/architecture.md §1.1) and stop it when they end. Heavy imports
wait until the command runs, so `molecule workspace list` starts fast.

`serve` and `migrate` hold the data directory's lock, shared (molecule.cli.backup_lock), so
`molecule restore` never writes under a running platform. `migrate --status` only reads
(molecule.cli.migration_status), and works while the platform serves.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

import click

from molecule.cli.backup_lock import hold_shared
from molecule.cli.connection import listen_options, output_option
from molecule.cli.migration_status import show_migration_status

if TYPE_CHECKING:
    from molecule.config import Settings
    from molecule.services import Services
    from molecule.store.embedded import EmbeddedPostgres


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _log_level(ctx: click.Context) -> str:
    root = ctx.find_root()
    return str(root.params.get("log_level") or "INFO")


def _database(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    """The DSN to use, starting the embedded cluster when no DATABASE_URL is set."""
    if settings.database_url:
        return settings.database_url, None
    from molecule.store.embedded import EmbeddedPostgres

    pg = EmbeddedPostgres(settings.home).start()
    return pg.dsn(), pg


@click.command("serve")
@listen_options("to listen on")
@click.option(
    "--log-format",
    "log_format_name",
    type=click.Choice(("text", "json")),
    help="Log lines (default: MOLECULE_LOG_FORMAT or text).",
)
@click.option(
    "--certfile",
    metavar="PEM",
    help="Serve HTTPS with this certificate chain (default: MOLECULE_TLS_CERTFILE).",
)
@click.option(
    "--keyfile",
    metavar="PEM",
    help="The certificate's unencrypted private key (default: MOLECULE_TLS_KEYFILE).",
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    log_format_name: str | None,
    certfile: str | None,
    keyfile: str | None,
) -> int:
    """Run the platform."""
    import trio

    from molecule.config import Settings, log_format
    from molecule.observability.logs import use_format
    from molecule.platform import data_dir_ready, login_url, serve_platform

    setup_logging(_log_level(ctx))
    use_format(log_format_name or log_format())
    settings = Settings.from_env(host=host, port=port, certfile=certfile, keyfile=keyfile)
    data_dir_ready(settings.home)
    home_lock = hold_shared(settings.home)  # while we serve, `molecule restore` refuses
    dsn, pg = _database(settings)
    if pg is not None:
        pg.keep()  # restarted if it dies while we serve

    def ready(svc: Services, binds: list[str]) -> None:
        print(f"Molecule is serving on {', '.join(binds)}", flush=True)
        if settings.production:  # the token stays out of logs; `molecule token` prints it
            print(f"Open: {login_url(settings, None)}", flush=True)
            print("Sign in with the admin token (`molecule token` prints it).", flush=True)
        else:
            print(f"Open: {login_url(settings, svc.admin_token)}", flush=True)

    try:
        trio.run(lambda: serve_platform(settings, dsn, on_ready=ready))
    except KeyboardInterrupt:
        pass
    except (OSError, BaseExceptionGroup) as exc:
        causes = _environment_errors(exc)
        if causes is None:
            raise
        logging.getLogger("molecule").debug("serve failed", exc_info=exc)  # --log-level DEBUG
        for cause in causes:  # the database unreachable, the port taken: no traceback
            print(f"molecule: cannot serve: {type(cause).__name__}: {cause}", file=sys.stderr)
        return 1
    finally:
        if pg is not None:
            pg.stop()
        home_lock.release()
    return 0


def _environment_errors(exc: BaseException) -> list[OSError] | None:
    """The OS errors `exc` consists of (a refused database connection, an address in use),
    or None when anything else is in it (a bug, whose traceback is wanted)."""
    if isinstance(exc, OSError):
        return [exc]
    if isinstance(exc, BaseExceptionGroup):
        matched, rest = exc.split(OSError)
        if rest is None and matched is not None:
            found: list[OSError] = []
            for leaf in matched.exceptions:
                found += _environment_errors(leaf) or []
            return found
    return None


@click.command("migrate")
@click.option("--status", is_flag=True, help="Only show applied and pending migrations.")
@output_option()
@click.pass_context
def migrate(ctx: click.Context, status: bool) -> int:
    """Apply the database migrations and exit (--status: only show them)."""
    if status:  # before the platform's imports: it only reads
        from molecule.config import Settings

        return show_migration_status(Settings.from_env())
    import trio
    import trio_asyncio

    from molecule.config import Settings
    from molecule.platform import data_dir_ready
    from molecule.store.migrate import migrate as apply_migrations
    from molecule.store.pool import Store

    setup_logging(_log_level(ctx))
    settings = Settings.from_env()
    data_dir_ready(settings.home)
    home_lock = hold_shared(settings.home)
    dsn, pg = _database(settings)

    async def run() -> list[str]:
        async with trio_asyncio.open_loop():
            store = await Store.open(dsn, min_size=1, max_size=1)
            try:
                return await apply_migrations(store)
            finally:
                await store.close()

    try:
        applied = trio.run(run)
    finally:
        if pg is not None:
            pg.stop()
        home_lock.release()
    click.echo(
        f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else "")
    )
    return 0


@click.group("images")
def images() -> None:
    """Workspace images on the Docker Engine."""


@images.command("build")
@click.option("--base", help="Base image (default: a registry Python, else Debian's).")
@click.option("--debian-base", is_flag=True, help="Use (or make) the Debian base image.")
@click.option("--if-missing", is_flag=True, help="Only if missing or out of date.")
@click.pass_context
def build(ctx: click.Context, base: str | None, debian_base: bool, if_missing: bool) -> int:
    """Build the built-in runtime image."""
    import trio

    from molecule.config import Settings
    from molecule.errors import EngineError
    from molecule.provision.docker.image_command import build_images

    setup_logging(_log_level(ctx))
    settings = Settings.from_env()
    try:
        image = trio.run(build_images, settings, base, debian_base, not if_missing)
    except EngineError as exc:
        print(f"molecule: building the runtime image failed: {exc}", file=sys.stderr)
        return 1
    print(f"molecule-runtime:latest {image}", flush=True)
    return 0
