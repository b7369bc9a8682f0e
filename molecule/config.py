"""Settings from the environment, read and validated once at startup.

Everything the platform reads from the environment lives here, so a typo in a variable is
found at boot with a message naming it, not in the middle of a request.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from molecule.durations import parse_duration
from molecule.errors import ConfigError, SecretKeyError
from molecule.security.crypto import parse_key
from molecule.security.ssrf import dev_mode, saas_mode

log = logging.getLogger("molecule.config")

DEFAULT_A2A_IDLE_TIMEOUT = 300.0
DEFAULT_RESPONSE_HEADER_TIMEOUT = 180.0
LIVENESS_TTL_SECONDS = 180.0


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
    ) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("MOLECULE_HOME") or Path.home() / ".molecule").expanduser()
        if not (0 < port < 65536):
            raise ConfigError(f"port {port} is outside 1..65535")
        cors = tuple(o.strip() for o in env.get("CORS_ORIGINS", "").split(",") if o.strip())
        try:
            key = parse_key(env.get("SECRETS_ENCRYPTION_KEY"))
        except SecretKeyError as exc:
            raise ConfigError(str(exc)) from None
        if key is None and env.get("MOLECULE_ENV", "").strip().lower() in {"prod", "production"}:
            raise ConfigError("SECRETS_ENCRYPTION_KEY is required when MOLECULE_ENV=production")
        timeout = _positive_number(env, "PROVISION_TIMEOUT_SECONDS", 0.0) or None
        return cls(
            home=home.absolute(),
            database_url=env.get("DATABASE_URL") or None,
            host=host,
            port=port,
            admin_token_env=env.get("ADMIN_TOKEN") or None,
            dev_mode=dev_mode(env),
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
        )
