"""Workspace templates: `<templates dir>/<name>/config.yaml` plus any files beside it.

The built-in templates ship inside the package and are never written to.
`MOLECULE_TEMPLATES_DIR` points at an operator's own directory instead, which is also where
imported templates (`POST /templates/import`) go; without it, imports go to a directory of
their own (`$MOLECULE_HOME/templates`), listed after the shipped ones. Parsed once per
directory scan and cached; an import refreshes the cache.

An import is written whole or not at all: into a hidden temporary directory first, renamed
into place at the end. Its file paths follow the agent's rules for `/configs/<path>` (the
template is copied there at the workspace's first start), and without a `config.yaml` one is
generated from the files, as the original did.
"""

from __future__ import annotations

import logging
import os
import posixpath
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from molecule.errors import Conflict, PathRefused, ServiceUnavailable
from molecule.workspace_paths import validate_virtual

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
    def __init__(self, directory: Path | None = None, *, user_dir: Path | None = None) -> None:
        env = os.environ.get("MOLECULE_TEMPLATES_DIR")
        own = directory or (Path(env) if env else None)
        self.directory = own or BUILTIN_DIR
        # Where imports are written: the operator's own directory, else `user_dir` beside the
        # shipped templates (None: imports are unavailable).
        self.import_dir: Path | None = own or user_dir
        self._cache: dict[str, Template] | None = None

    def directories(self) -> list[Path]:
        """The directories listed, in order (the first template of a name wins)."""
        extra = self.import_dir
        return [self.directory] + ([extra] if extra and extra != self.directory else [])

    def all(self) -> dict[str, Template]:
        if self._cache is None:
            found: dict[str, Template] = {}
            for directory in self.directories():
                for name, template in _scan(directory).items():
                    found.setdefault(name, template)
            self._cache = found
        return self._cache

    def import_template(self, name: str, files: Mapping[str, bytes]) -> str:
        """Write a new template from `files` (relative path -> bytes); return its id.

        Blocking (run it in a thread). `PathRefused` for a path the agent would refuse,
        `Conflict` (409, with the id) when a template of that id exists anywhere."""
        template_id = normalize_name(name)
        for path in files:
            validate_virtual("/configs/" + path)
        dirs = {path.rsplit("/", i)[0] for path in files for i in range(1, path.count("/") + 1)}
        if clash := dirs.intersection(files):
            raise PathRefused(f"{min(clash)}: a file and a directory of the same name")
        if self.import_dir is None:
            raise ServiceUnavailable("no templates directory to import into")
        if template_id in self.all() or (self.import_dir / template_id).exists():
            raise Conflict("template already exists", extra={"id": template_id})
        self.import_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        staging = self.import_dir / f".import-{uuid.uuid4().hex}"
        try:
            staging.mkdir(mode=0o700)
            for path, data in files.items():
                _write_new(staging, path, data)
            if "config.yaml" not in files:
                _write_new(staging, "config.yaml", default_config(name, files).encode())
            try:
                os.rename(staging, self.import_dir / template_id)
            except OSError:  # another import of that id won the race
                raise Conflict("template already exists", extra={"id": template_id}) from None
            _fsync_dir(self.import_dir)  # the rename itself is on disk before the 201
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            self._cache = None
        return template_id

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


def _write_new(directory: Path, path: str, data: bytes) -> None:
    target = directory / path
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except (FileExistsError, NotADirectoryError, IsADirectoryError):
        raise PathRefused(f"{path}: a file and a directory of the same name") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _scan(directory: Path) -> dict[str, Template]:
    found: dict[str, Template] = {}
    if not directory.is_dir():
        return found
    for sub in sorted(directory.iterdir()):
        cfg = sub / "config.yaml"
        if sub.name.startswith(".") or not sub.is_dir() or not cfg.is_file():
            continue  # a hidden directory is an import being written
        try:
            data = yaml.safe_load(cfg.read_text()) or {}
        except (yaml.YAMLError, UnicodeDecodeError):
            log.warning("template %s: config.yaml is not valid YAML; skipped", sub.name)
            continue
        if isinstance(data, dict):
            found[sub.name] = Template(sub.name, sub, data)
    return found


def normalize_name(name: str) -> str:
    """The original's directory name for a template: ASCII letters lowercased, spaces and
    hyphens to `-`, digits and `_` kept, everything else dropped; `unnamed` when empty."""
    out: list[str] = []
    for ch in name:
        if ch in " -":
            out.append("-")
        elif "A" <= ch <= "Z":
            out.append(ch.lower())
        elif "a" <= ch <= "z" or "0" <= ch <= "9" or ch == "_":
            out.append(ch)
    return "".join(out) or "unnamed"


def default_config(name: str, files: Mapping[str, Any]) -> str:
    """A config.yaml for files imported without one: the prompt files are the top-level
    Markdown files, the skills the directories holding `skills/<name>/SKILL.md`."""
    prompts = sorted(p for p in files if "/" not in p and p.endswith(".md"))
    skills = sorted(
        {
            posixpath.basename(posixpath.dirname(p))
            for p in files
            if posixpath.basename(p) == "SKILL.md"
            and posixpath.dirname(posixpath.dirname(p)) == "skills"
        }
    )
    config = {
        "name": name,
        "description": "Imported agent",
        "version": "1.0.0",
        "tier": 1,
        "prompt_files": prompts or ["system-prompt.md"],
        "skills": skills,
        "tools": [],
    }
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
