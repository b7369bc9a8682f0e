"""Which platform a client command talks to, with which credential, and how it answers.

The original CLI's names are accepted (molecule-cli: `--api-url`, MOLECULE_API_URL,
MOLECULE_API_TOKEN, `-o table|json|yaml`, MOL_OUTPUT), first match wins:

- platform URL: `--api-url` (or `--platform`), MOLECULE_API_URL, MOLECULE_PLATFORM_URL,
  PLATFORM_URL, else where `molecule serve` listens by default or as MOLECULE_HOST and
  MOLECULE_PORT say (http://127.0.0.1:8080 unless they are set);
- credential: `--token`, MOLECULE_TOKEN, MOLECULE_API_TOKEN, ADMIN_TOKEN, else the admin
  token `molecule serve` keeps in $MOLECULE_HOME/admin_token (read here, never created:
  without one the request goes without credentials, as a development platform allows);
- output: `-o`, MOL_OUTPUT, else `table` (`text` is the original's other word for it).

The options may stand before the command or after it (`molecule -o json workspace list`
and `molecule workspace list -o json`), as the original's persistent flags could.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from molecule.cli.http_client import Credential, PlatformClient
from molecule.errors import CommandFailed

URL_ENV = ("MOLECULE_API_URL", "MOLECULE_PLATFORM_URL", "PLATFORM_URL")
TOKEN_ENV = ("MOLECULE_TOKEN", "MOLECULE_API_TOKEN", "ADMIN_TOKEN")
FORMATS = ("table", "json", "yaml")
META = "molecule.cli.options"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ClientOptions:
    api_url: str
    credential: Credential
    output: str
    verbose: bool


def _env(env: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    """(name, value) of the first variable set to something (an empty one counts as unset)."""
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return name, value
    return None


def data_home(env: Mapping[str, str]) -> Path:
    """MOLECULE_HOME, else ~/.molecule: molecule.config.data_home's rule (a test keeps them
    equal), not imported from there because that module pulls in the platform's security
    modules, half a second a command."""
    return Path(env.get("MOLECULE_HOME") or Path.home() / ".molecule").expanduser()


def credential_from(flag: str | None, env: Mapping[str, str]) -> Credential:
    if flag:
        return Credential(flag, "--token")
    found = _env(env, TOKEN_ENV)
    if found is not None:
        return Credential(found[1], found[0])
    path = data_home(env) / "admin_token"
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        return Credential(None, f"no token given, and no {path}")
    except OSError as exc:
        return Credential(None, f"no token given, and {path}: {exc.strerror or exc}")
    return Credential(token or None, str(path))


def output_format(value: str | None, env: Mapping[str, str]) -> str:
    raw = (value or env.get("MOL_OUTPUT", "") or "table").strip().lower()
    raw = "table" if raw == "text" else raw
    if raw not in FORMATS:
        raise CommandFailed(f"unknown output format {raw!r}: use table, json or yaml")
    return raw


def local_api_url(env: Mapping[str, str]) -> str:
    """Where a `molecule serve` on this machine listens: MOLECULE_HOST and MOLECULE_PORT,
    which it reads too, over HTTPS when MOLECULE_TLS_CERTFILE makes it serve that."""
    from molecule.config import local_url

    port = env.get("MOLECULE_PORT", "").strip()
    tls = bool(env.get("MOLECULE_TLS_CERTFILE", "").strip())
    return local_url(env.get("MOLECULE_HOST", ""), port if port.isdigit() else 8080, tls)


def resolve(given: Mapping[str, Any], env: Mapping[str, str]) -> ClientOptions:
    """The options in force: flags given (`given`), else the environment, else defaults."""
    url = given.get("api_url") or (_env(env, URL_ENV) or ("", local_api_url(env)))[1]
    return ClientOptions(
        api_url=url.rstrip("/"),
        credential=credential_from(given.get("token"), env),
        output=output_format(given.get("output"), env),
        verbose=bool(given.get("verbose")),
    )


def current() -> ClientOptions:
    ctx = click.get_current_context()
    opts = resolve(ctx.meta.get(META, {}), os.environ)
    if opts.verbose:
        _log_requests()
    return opts


def client(timeout: float | None = None) -> PlatformClient:
    opts = current()
    if timeout is None:
        return PlatformClient(opts.api_url, opts.credential)
    return PlatformClient(opts.api_url, opts.credential, timeout=timeout)


def _log_requests() -> None:
    logger = logging.getLogger("molecule.cli")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.DEBUG)


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value not in (None, False) and param.name:
        ctx.meta.setdefault(META, {})[param.name] = value
    return value


def listen_options(what: str) -> Callable[[F], F]:
    """`--host` and `--port` of `molecule serve`, and of the commands that must find it
    (`doctor`, `token --url`): MOLECULE_HOST and MOLECULE_PORT when not given."""
    host = click.option(
        "--host",
        default="127.0.0.1",
        show_default=True,
        envvar="MOLECULE_HOST",
        help=f"Address {what} (env MOLECULE_HOST).",
    )
    port = click.option(
        "--port",
        type=int,
        default=8080,
        show_default=True,
        envvar="MOLECULE_PORT",
        help=f"Port {what} (env MOLECULE_PORT).",
    )

    def both(f: F) -> F:
        return host(port(f))

    return both


def output_option() -> Callable[[F], F]:
    return click.option(
        "-o",
        "--output",
        type=click.Choice(("table", "text", "json", "yaml"), case_sensitive=False),
        expose_value=False,
        callback=_remember,
        help="Output format: table | json | yaml (env: MOL_OUTPUT).",
    )


def _options() -> list[Callable[[F], F]]:
    return [
        click.option(
            "--api-url",
            "--platform",
            "api_url",
            metavar="URL",
            expose_value=False,
            callback=_remember,
            help="Platform API base URL (env: MOLECULE_API_URL; default http://127.0.0.1:8080, "
            "or MOLECULE_HOST:MOLECULE_PORT).",
        ),
        click.option(
            "--token",
            metavar="TOKEN",
            expose_value=False,
            callback=_remember,
            help="Bearer token (env: MOLECULE_TOKEN or ADMIN_TOKEN; "
            "default: $MOLECULE_HOME/admin_token).",
        ),
        output_option(),
        click.option(
            "-v",
            "--verbose",
            is_flag=True,
            expose_value=False,
            callback=_remember,
            help="Show each HTTP request on stderr.",
        ),
    ]


def client_options(f: F) -> F:
    """The connection and output options, on the root group and on every client command."""
    for option in reversed(_options()):
        f = option(f)
    return f
