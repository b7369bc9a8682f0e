"""Runtime settings: the environment the provisioner gives us plus `<config dir>/config.yaml`.

Read once at startup and frozen. Environment variables follow the original runtime's names;
the local-process additions are `MOLECULE_WORKSPACE_ROOT` (host directory holding
`configs/ workspace/ home/ plugins/`) and `MOLECULE_AGENT_PORT` (the port the provisioner
picked, overriding `a2a.port`).
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from molecule.errors import SettingsError
from molecule.workspace_paths import VirtualRoots

log = logging.getLogger(__name__)

DEFAULT_PORT = 8000
DEFAULT_HEARTBEAT = 30.0
HEARTBEAT_MIN, HEARTBEAT_MAX = 5.0, 300.0
MIN_HEARTBEAT_OVERRIDE = 0.05


@dataclass(frozen=True)
class AgentConfig:
    """The parts of config.yaml the runtime uses."""

    name: str
    description: str = ""
    version: str = "1.0.0"
    skills: tuple[dict[str, Any], ...] = ()
    port: int = DEFAULT_PORT
    streaming: bool = True
    push_notifications: bool = False
    heartbeat_interval: float = DEFAULT_HEARTBEAT
    adapter: str = "echo"
    model: str | None = None
    runtime_config: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    workspace_id: str
    platform_url: str
    config_dir: Path
    configs_dir: Path
    hostname: str
    port: int
    bind_host: str
    roots: VirtualRoots
    env_token: str | None
    config: AgentConfig
    env: Mapping[str, str]

    @property
    def advertised_url(self) -> str:
        return f"http://{_url_host(self.hostname)}:{self.port}"

    def url_for_port(self, port: int) -> str:
        return f"http://{_url_host(self.hostname)}:{port}"


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _default_platform_url(env: Mapping[str, str]) -> str:
    if Path("/.dockerenv").exists() or env.get("DOCKER_VERSION"):
        return "http://host.docker.internal:8080"
    return "http://localhost:8080"


def _as_bool(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _skills(value: Any) -> tuple[dict[str, Any], ...]:
    """`skills` entries are names (skill directories) or full `{id,name,description,tags}`."""
    out: list[dict[str, Any]] = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, str):
            out.append({"id": item, "name": item, "description": "", "tags": []})
        elif isinstance(item, dict):
            sid = str(item.get("id") or item.get("name") or "")
            tags = item.get("tags")
            out.append(
                {
                    "id": sid,
                    "name": str(item.get("name") or sid),
                    "description": str(item.get("description") or ""),
                    "tags": [str(t) for t in tags] if isinstance(tags, list) else [],
                }
            )
    return tuple(out)


def _heartbeat_interval(observability: Mapping[str, Any], env: Mapping[str, str]) -> float:
    override = env.get("MOLECULE_HEARTBEAT_INTERVAL_SECONDS")
    if override:
        try:
            return max(MIN_HEARTBEAT_OVERRIDE, float(override))
        except ValueError as exc:
            raise SettingsError(f"MOLECULE_HEARTBEAT_INTERVAL_SECONDS: {override!r}") from exc
    value = observability.get("heartbeat_interval_seconds", DEFAULT_HEARTBEAT)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = DEFAULT_HEARTBEAT
    return min(HEARTBEAT_MAX, max(HEARTBEAT_MIN, seconds))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def parse_config(raw: Mapping[str, Any], workspace_id: str, env: Mapping[str, str]) -> AgentConfig:
    a2a = _mapping(raw.get("a2a"))
    runtime_config = _mapping(raw.get("runtime_config"))
    port_value = a2a.get("port", DEFAULT_PORT)
    try:
        port = int(port_value)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"a2a.port is not a number: {port_value!r}") from exc
    adapter = runtime_config.get("adapter") or raw.get("adapter") or "echo"
    model = raw.get("model")
    return AgentConfig(
        name=str(raw.get("name") or workspace_id),
        description=str(raw.get("description") or ""),
        version=str(raw.get("version") or "1.0.0"),
        skills=_skills(raw.get("skills")),
        port=port,
        streaming=_as_bool(a2a.get("streaming"), True),
        push_notifications=_as_bool(a2a.get("push_notifications"), False),
        heartbeat_interval=_heartbeat_interval(_mapping(raw.get("observability")), env),
        adapter=str(adapter).strip().lower(),
        model=str(model) if model else None,
        runtime_config=dict(runtime_config),
        raw=dict(raw),
    )


def _load_yaml(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        log.warning("no %s; using defaults", path)
        return {}
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SettingsError(f"invalid YAML in {path}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"{path} must hold a mapping")
    return data


def _bind_host(env: Mapping[str, str], hostname: str) -> str:
    """Bind loopback when we advertise a loopback name, all interfaces otherwise.

    The original always binds 0.0.0.0 (it lives in a container). A local-process agent that
    advertises `localhost` has no reason to expose its unauthenticated A2A endpoint to the LAN.
    """
    explicit = env.get("MOLECULE_AGENT_HOST")
    if explicit:
        return explicit
    if hostname == "localhost":
        return "127.0.0.1"
    try:
        return "127.0.0.1" if ipaddress.ip_address(hostname).is_loopback else "0.0.0.0"
    except ValueError:
        return "0.0.0.0"


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    workspace_id = env.get("WORKSPACE_ID", "").strip()
    if not workspace_id:
        raise SettingsError("WORKSPACE_ID is required")
    host_root_value = env.get("MOLECULE_WORKSPACE_ROOT", "").strip()
    host_root = Path(host_root_value).resolve() if host_root_value else None
    roots = VirtualRoots(host_root)
    default_config = roots.to_host("/configs")
    config_dir = Path(env.get("WORKSPACE_CONFIG_PATH") or default_config)
    configs_dir = Path(env.get("CONFIGS_DIR") or config_dir)
    config = parse_config(_load_yaml(config_dir / "config.yaml"), workspace_id, env)
    port = config.port
    if env.get("MOLECULE_AGENT_PORT"):
        try:
            port = int(env["MOLECULE_AGENT_PORT"])
        except ValueError as exc:
            raise SettingsError(f"MOLECULE_AGENT_PORT: {env['MOLECULE_AGENT_PORT']!r}") from exc
    if not 0 <= port <= 65535:  # 0 = let the OS pick (tests); the original requires 1..65535
        raise SettingsError(f"port {port} outside 1..65535")
    hostname = env.get("HOSTNAME", "").strip() or "localhost"
    return Settings(
        workspace_id=workspace_id,
        platform_url=(env.get("PLATFORM_URL") or _default_platform_url(env)).rstrip("/"),
        config_dir=config_dir,
        configs_dir=configs_dir,
        hostname=hostname,
        port=port,
        bind_host=_bind_host(env, hostname),
        roots=roots,
        env_token=env.get("MOLECULE_WORKSPACE_TOKEN", "").strip() or None,
        config=config,
        env=env,
    )
