"""Workspace templates: `<templates dir>/<name>/config.yaml` plus any files beside it.

The built-in templates ship inside the package; `MOLECULE_TEMPLATES_DIR` points at an
operator's own directory instead. Parsed once per directory scan and cached.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger("molecule.provision.templates")

BUILTIN_DIR = Path(__file__).resolve().parent / "templates"
DEFAULT_TIMEOUTS = {"hermes": 30 * 60}
DEFAULT_PROVISION_TIMEOUT = 10 * 60


@dataclass(frozen=True)
class Template:
    id: str
    path: Path
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def runtime(self) -> str:
        return str(self.config.get("runtime") or "")

    @property
    def runtime_config(self) -> dict[str, Any]:
        rc = self.config.get("runtime_config")
        return rc if isinstance(rc, dict) else {}

    @property
    def required_env(self) -> list[str]:
        raw = self.runtime_config.get("required_env") or []
        return [str(x) for x in raw if isinstance(x, str) and x]

    @property
    def provision_timeout_seconds(self) -> int | None:
        value = self.runtime_config.get("provision_timeout_seconds")
        return int(value) if isinstance(value, int | float) and value > 0 else None

    def summary(self) -> dict[str, Any]:
        c = self.config
        raw_skills = c.get("skills")
        skills: list[Any] = raw_skills if isinstance(raw_skills, list) else []
        body: dict[str, Any] = {
            "id": self.id,
            "name": c.get("name") or self.id,
            "description": c.get("description") or "",
            "tier": c.get("tier") or 3,
            "runtime": self.runtime,
            "model": c.get("model") or self.runtime_config.get("model") or "",
            "models": c.get("models") if isinstance(c.get("models"), list) else [],
            "required_env": self.required_env,
            "skills": skills,
            "skill_count": len(skills),
        }
        if self.provision_timeout_seconds:
            body["provision_timeout_seconds"] = self.provision_timeout_seconds
        return body


class Templates:
    def __init__(self, directory: Path | None = None) -> None:
        env = os.environ.get("MOLECULE_TEMPLATES_DIR")
        self.directory = directory or (Path(env) if env else BUILTIN_DIR)
        self._cache: dict[str, Template] | None = None

    def all(self) -> dict[str, Template]:
        if self._cache is None:
            found: dict[str, Template] = {}
            if self.directory.is_dir():
                for sub in sorted(self.directory.iterdir()):
                    cfg = sub / "config.yaml"
                    if not sub.is_dir() or not cfg.is_file():
                        continue
                    try:
                        data = yaml.safe_load(cfg.read_text()) or {}
                    except yaml.YAMLError:
                        log.warning("template %s: config.yaml is not valid YAML; skipped", sub.name)
                        continue
                    if isinstance(data, dict):
                        found[sub.name] = Template(sub.name, sub, data)
            self._cache = found
        return self._cache

    def get(self, name: str | None) -> Template | None:
        return self.all().get(name) if name else None

    def for_workspace(self, template: str | None, runtime: str) -> Template | None:
        """The named template, else `<runtime>-default`."""
        return self.get(template) or self.get(f"{runtime}-default")

    def known_runtimes(self) -> set[str]:
        return {t.runtime for t in self.all().values() if t.runtime}

    def provision_timeout(self, runtime: str, env_override: float | None) -> float:
        """PROVISION_TIMEOUT_SECONDS > template value for the runtime > per-runtime default."""
        if env_override:
            return env_override
        from_templates = [
            t.provision_timeout_seconds
            for t in self.all().values()
            if t.runtime == runtime and t.provision_timeout_seconds
        ]
        if from_templates:
            return float(max(t for t in from_templates if t is not None))
        return float(DEFAULT_TIMEOUTS.get(runtime, DEFAULT_PROVISION_TIMEOUT))

    def provision_timeout_ms(self, runtime: str) -> int | None:
        """What the canvas shows: the template's declared value only."""
        values = [
            t.provision_timeout_seconds
            for t in self.all().values()
            if t.runtime == runtime and t.provision_timeout_seconds
        ]
        return max(v for v in values if v is not None) * 1000 if values else None
