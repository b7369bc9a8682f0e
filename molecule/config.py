"""Settings from the environment, read and validated once at startup.

Everything the platform reads from the environment lives here, so a typo in a variable is
found at boot with a message naming it, not in the middle of a request.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from molecule.durations import parse_duration
from molecule.errors import ConfigError, SecretKeyError
from molecule.security.crypto import parse_key
from molecule.security.ssrf import dev_mode, saas_mode

log = logging.getLogger("molecule.config")

DEFAULT_A2A_IDLE_TIMEOUT = 300.0
DEFAULT_RESPONSE_HEADER_TIMEOUT = 180.0
LIVENESS_TTL_SECONDS = 180.0
BACKENDS = ("auto", "local", "docker")
DEFAULT_DOCKER_SOCKET = Path("/var/run/docker.sock")
DEFAULT_DOCKER_NETWORK = "molecule-monorepo-net"  # the original's network name
DEFAULT_IMAGE_REGISTRY = "ghcr.io/molecule-ai"
DEFAULT_RATE_LIMIT = 600  # the original's RATE_LIMIT: requests per minute per client
MAX_RATE_LIMIT = 1_000_000_000


def _docker_host(env: Mapping[str, str], backend: str) -> str | None:
    """Where the Docker Engine would answer: DOCKER_HOST, else the default socket if it is
    there. None with MOLECULE_BACKEND=local (nothing is probed)."""
    if backend == "local":
        return None
    explicit = env.get("DOCKER_HOST", "").strip()
    if explicit:
        return explicit
    return f"unix://{DEFAULT_DOCKER_SOCKET}" if DEFAULT_DOCKER_SOCKET.is_socket() else None


def _positive_number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        log.warning("%s=%r is not a number; using the default %s", name, raw, default)
        return default
    if value <= 0:
        log.warning("%s=%r is not positive; using the default %s", name, raw, default)
        return default
    return value


def _duration(env: Mapping[str, str], name: str, default: float) -> float:
    """A positive Go duration (`180s`, `3m`) or number of seconds; else the default, logged."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    value = parse_duration(raw)
    if value is None or value <= 0:
        log.warning("%s=%r is not a positive duration; using the default %gs", name, raw, default)
        return default
    return value


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str | None
    host: str = "127.0.0.1"
    port: int = 8080
    admin_token_env: str | None = None
    dev_mode: bool = False
    # MOLECULE_ENV=production (or prod): the encryption key is required and the login URL
    # printed at start leaves the admin token out (logs are often shipped elsewhere).
    production: bool = False
    saas_mode: bool = False
    external_platform_url: str | None = None
    liveness_ttl: float = LIVENESS_TTL_SECONDS
    a2a_idle_timeout: float = DEFAULT_A2A_IDLE_TIMEOUT
    # How long an agent may take to send its response headers (the original's Go duration
    # setting A2A_PROXY_RESPONSE_HEADER_TIMEOUT); past it the call counts as busy.
    a2a_response_header_timeout: float = DEFAULT_RESPONSE_HEADER_TIMEOUT
    heartbeat_flush_interval: float = 1.0
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    secrets_key: bytes | None = None
    provision_timeout: float | None = None  # PROVISION_TIMEOUT_SECONDS, beats templates
    activity_retention_days: float = 7.0
    # GET /admin/workspaces/:id/test-token answers (upstream-may §8.4): unless MOLECULE_ENV is
    # exactly "production", or MOLECULE_ENABLE_TEST_TOKENS=1 says so anyway.
    test_tokens_enabled: bool = True
    # Which backend runs the agents (docs/architecture.md §1.1): "auto" (a container per
    # workspace when a Docker Engine answers at `docker_host`, else local processes),
    # "local" (MOLECULE_BACKEND=local) or "docker" (an engine is required).
    backend: str = "auto"
    docker_host: str | None = None  # DOCKER_HOST, else the default socket when it exists
    docker_network: str = DEFAULT_DOCKER_NETWORK  # MOLECULE_DOCKER_NETWORK; "host": host network
    image_auto_refresh: bool = False  # IMAGE_AUTO_REFRESH=true
    image_registry: str = DEFAULT_IMAGE_REGISTRY  # MOLECULE_IMAGE_REGISTRY
    runtime_base_image: str | None = None  # MOLECULE_RUNTIME_BASE_IMAGE (the built-in image's)
    # GET /metrics without a credential (MOLECULE_METRICS_OPEN=1): for a scraper on a private
    # network; otherwise it takes the admin token, an org token or the session.
    metrics_open: bool = False
    # MOLECULE_MCP_ALLOW_SEND_MESSAGE: the MCP bridge lists and runs send_message_to_user
    # (molecule/operations/mcp_tools.py); off by default, as in the original.
    mcp_allow_send_message: bool = False
    # Requests per minute per client (RATE_LIMIT; 0: no limit). Who a client is, and what is
    # exempt: molecule/http/edge_limits.py.
    rate_limit: int = DEFAULT_RATE_LIMIT
    # TLS (`molecule serve --certfile/--keyfile`, or MOLECULE_TLS_CERTFILE/_KEYFILE): PEM files
    # checked at startup (molecule.http.edge_tls says what listens where).
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None

    @property
    def tls(self) -> bool:
        return self.tls_certfile is not None

    @property
    def dev_fail_open(self) -> bool:
        """The original's development fail-open: only in dev mode and without ADMIN_TOKEN."""
        return self.dev_mode and not self.admin_token_env

    @property
    def admin_token_file(self) -> Path:
        return self.home / "admin_token"

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        certfile: str | None = None,
        keyfile: str | None = None,
    ) -> Settings:
        env = os.environ if env is None else env
        home = data_home(env)
        if not (0 < port < 65536):
            raise ConfigError(f"port {port} is outside 1..65535")
        cors = parse_cors_origins(env.get("CORS_ORIGINS", ""))
        tls_certfile, tls_keyfile = tls_files(
            certfile or env.get("MOLECULE_TLS_CERTFILE", "").strip() or None,
            keyfile or env.get("MOLECULE_TLS_KEYFILE", "").strip() or None,
        )
        try:
            key = parse_key(env.get("SECRETS_ENCRYPTION_KEY"))
        except SecretKeyError as exc:
            raise ConfigError(str(exc)) from None
        production = env.get("MOLECULE_ENV", "").strip().lower() in {"prod", "production"}
        if key is None and production:
            raise ConfigError("SECRETS_ENCRYPTION_KEY is required when MOLECULE_ENV=production")
        timeout = _positive_number(env, "PROVISION_TIMEOUT_SECONDS", 0.0) or None
        backend = env.get("MOLECULE_BACKEND", "").strip().lower() or "auto"
        if backend not in BACKENDS:
            raise ConfigError(f"MOLECULE_BACKEND={backend!r}: use one of {', '.join(BACKENDS)}")
        network = env.get("MOLECULE_DOCKER_NETWORK", "").strip() or DEFAULT_DOCKER_NETWORK
        return cls(
            home=home.absolute(),
            database_url=env.get("DATABASE_URL") or None,
            host=host,
            port=port,
            admin_token_env=env.get("ADMIN_TOKEN") or None,
            dev_mode=dev_mode(env),
            production=production,
            saas_mode=saas_mode(env),
            external_platform_url=(env.get("EXTERNAL_PLATFORM_URL") or "").rstrip("/") or None,
            a2a_idle_timeout=_positive_number(
                env, "A2A_IDLE_TIMEOUT_SECONDS", DEFAULT_A2A_IDLE_TIMEOUT
            ),
            a2a_response_header_timeout=_duration(
                env, "A2A_PROXY_RESPONSE_HEADER_TIMEOUT", DEFAULT_RESPONSE_HEADER_TIMEOUT
            ),
            cors_origins=cors,
            secrets_key=key,
            provision_timeout=timeout,
            activity_retention_days=_positive_number(env, "ACTIVITY_RETENTION_DAYS", 7.0),
            test_tokens_enabled=env.get("MOLECULE_ENABLE_TEST_TOKENS") == "1"
            or env.get("MOLECULE_ENV") != "production",
            backend=backend,
            docker_host=_docker_host(env, backend),
            docker_network=network,
            image_auto_refresh=env.get("IMAGE_AUTO_REFRESH", "").strip().lower() == "true",
            image_registry=(env.get("MOLECULE_IMAGE_REGISTRY", "").strip().rstrip("/"))
            or DEFAULT_IMAGE_REGISTRY,
            runtime_base_image=env.get("MOLECULE_RUNTIME_BASE_IMAGE", "").strip() or None,
            metrics_open=_flag(env, "MOLECULE_METRICS_OPEN"),
            mcp_allow_send_message=_flag(env, "MOLECULE_MCP_ALLOW_SEND_MESSAGE"),
            rate_limit=parse_rate_limit(env),
            tls_certfile=tls_certfile,
            tls_keyfile=tls_keyfile,
        )


def _flag(env: Mapping[str, str], name: str) -> bool:
    """An on/off setting: 1/true/yes is on, empty or 0/false/no off, anything else refused."""
    raw = env.get(name, "").strip().lower()
    if raw in ("1", "true", "yes"):
        return True
    if raw in ("", "0", "false", "no"):
        return False
    raise ConfigError(f"{name}={raw!r}: use 1 (on) or 0 (off)")


def parse_cors_origins(raw: str) -> tuple[str, ...]:
    """CORS_ORIGINS: the comma-separated origins (`scheme://host[:port]`) whose pages may call
    the API from a browser, lower-cased. A wildcard is refused: the canvas authenticates with
    a cookie, and a credentialed API open to every origin is open to every web page."""
    origins: list[str] = []
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        origin = item.rstrip("/").lower()
        parts = urlsplit(origin)
        try:
            port_ok = parts.port is None or parts.port > 0
        except ValueError:
            port_ok = False
        if not (
            parts.scheme in ("http", "https")
            and parts.hostname
            and port_ok
            and not (parts.path or parts.query or parts.fragment or "@" in parts.netloc)
            and origin.isascii()
            and not any(c.isspace() for c in origin)
        ):
            raise ConfigError(
                f"CORS_ORIGINS: {item!r} is not an origin: list each one as scheme://host[:port]"
                " (e.g. https://canvas.example.com); '*' is not accepted"
            )
        origins.append(origin)
    return tuple(dict.fromkeys(origins))


def parse_rate_limit(env: Mapping[str, str]) -> int:
    """RATE_LIMIT: requests per minute per client, 600 when unset; 0 turns the limit off."""
    raw = env.get("RATE_LIMIT", "").strip()
    if not raw:
        return DEFAULT_RATE_LIMIT
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_RATE_LIMIT:
        raise ConfigError(
            f"RATE_LIMIT={raw!r}: use a whole number of requests per minute per client "
            f"(0 to {MAX_RATE_LIMIT}; 0 turns the limit off)"
        )
    return int(raw)


def tls_files(certfile: str | None, keyfile: str | None) -> tuple[Path | None, Path | None]:
    """The TLS certificate chain and private key (PEM), both or neither, loaded once here so
    that a missing file, a key that does not match the certificate or a key behind a
    passphrase stops the start with a message instead of failing at the first handshake."""
    if certfile is None and keyfile is None:
        return None, None
    if certfile is None or keyfile is None:
        raise ConfigError(
            "TLS needs both a certificate and its key: --certfile and --keyfile "
            "(MOLECULE_TLS_CERTFILE and MOLECULE_TLS_KEYFILE)"
        )
    cert, key = Path(certfile).expanduser().absolute(), Path(keyfile).expanduser().absolute()
    for label, path in (("certificate", cert), ("key", key)):
        if not path.is_file():
            raise ConfigError(f"TLS {label} file {path} does not exist or is not a file")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # An empty passphrase: an encrypted key fails here instead of prompting on a terminal.
        context.load_cert_chain(str(cert), str(key), password=b"")
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"TLS certificate {cert} and key {key} cannot be used together ({exc}); "
            "the key must be unencrypted PEM and belong to the certificate"
        ) from None
    return cert, key


def data_home(env: Mapping[str, str] | None = None) -> Path:
    """MOLECULE_HOME, else ~/.molecule: where the platform keeps its data (and the admin
    token the `molecule` client commands read)."""
    env = os.environ if env is None else env
    return Path(env.get("MOLECULE_HOME") or Path.home() / ".molecule").expanduser()


def log_format(env: Mapping[str, str] | None = None) -> str:
    """MOLECULE_LOG_FORMAT: "text" (readable lines, the default) or "json" (one object per
    line). Read before the settings, so that their own warnings come out in that format."""
    env = os.environ if env is None else env
    raw = env.get("MOLECULE_LOG_FORMAT", "").strip().lower() or "text"
    if raw not in ("text", "json"):
        raise ConfigError(f"MOLECULE_LOG_FORMAT={raw!r}: use text or json")
    return raw


def local_url(host: str, port: int | str, tls: bool) -> str:
    """How this machine reaches a server listening on host:port: an unspecified address on
    loopback, an IPv6 one in brackets (the login URL, the CLI's default platform URL)."""
    host = host.strip().strip("[]") or "127.0.0.1"
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if tls else 'http'}://{host}:{port}"
