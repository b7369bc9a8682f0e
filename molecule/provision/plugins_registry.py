"""The plugins this platform offers (`local://<name>`), what a plugin says about itself, and
the `<scheme>://<spec>` sources installs name.

The registry is two directories, the later winning on a name both hold: the plugins shipped
in this package (`molecule/provision/plugins/`) and the operator's (`MOLECULE_PLUGINS_DIR`,
else `$MOLECULE_HOME/plugins`). An entry is a directory `<name>/` or an archive
`<name>.tar.gz` (`.tgz`, `.tar`), a directory winning over an archive in the same place.
Entries are read from disk on each call: they are few, and an operator may add one without a
restart.

A plugin describes itself in `plugin.yaml` (upstream-april §8.3): `version`, `description`,
`author`, `tags`, `skills`, `runtimes` (the runtimes it has an adaptor for; none listed means
"unspecified, try it"; `claude-code` and `claude_code` are the same). Its name is its entry's
name (for `github://` the repository's), never the manifest's, as in the original.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from molecule.errors import BadRequest, NotFound
from molecule.provision.plugins_archive import (
    archive_stem,
    find_archive,
    first_member,
    read_archive_file,
    read_directory,
)
from molecule.provision.plugins_staging import MANIFEST, Limits, StagedPlugin

BUILTIN_PLUGINS_DIR = Path(__file__).resolve().parent / "plugins"
# A registry entry's name (the original's local resolver) and any plugin name a route takes
# (a GitHub repository's name may have capitals).
LOCAL_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
PLUGIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]{0,31}$")
MAX_SOURCE = 1024
MAX_MANIFEST = 64 * 1024
MAX_LISTED = 500
MAX_ITEMS, MAX_ITEM = 64, 256
MAX_TEXT = 4096
INVALID_NAME = "invalid plugin name"
INVALID_SOURCE = "invalid plugin source"
NOT_FOUND = "failed to fetch plugin from local"


def valid_name(name: str) -> bool:
    return bool(PLUGIN_NAME.match(name)) and ".." not in name


def _local(name: str) -> bool:
    return bool(LOCAL_NAME.match(name)) and ".." not in name


def check_name(name: str, *, local: bool = False) -> str:
    """400 `invalid plugin name` unless a route may take it (`local`: a registry entry)."""
    if not (_local(name) if local else valid_name(name)):
        raise BadRequest(INVALID_NAME)
    return name


@dataclass(frozen=True)
class Source:
    scheme: str
    spec: str

    @property
    def raw(self) -> str:
        return f"{self.scheme}://{self.spec}"


def parse_source(text: str) -> Source:
    """`<scheme>://<spec>`; anything else is 400 `invalid plugin source`."""
    text = text.strip()
    scheme, sep, spec = text.partition("://")
    if (
        not sep
        or not SCHEME.match(scheme)
        or not spec
        or len(text) > MAX_SOURCE
        or not spec.isprintable()
        or any(c.isspace() for c in spec)
    ):
        raise BadRequest(INVALID_SOURCE)
    return Source(scheme, spec)


def _strings(raw: Any) -> list[str]:
    if not isinstance(raw, list):
        return []
    return [s for s in raw[:MAX_ITEMS] if isinstance(s, str) and len(s) <= MAX_ITEM]


def _text(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key)
    return value[:MAX_TEXT] if isinstance(value, str) else ""


def describe(name: str, manifest: bytes | None) -> dict[str, Any]:
    """The API's view of a plugin (the original's `pluginInfo`); a missing or unreadable
    manifest gives just the name. Lists are `[]` when absent (the original sent `null`)."""
    info: dict[str, Any] = {
        "name": name, "version": "", "description": "", "author": "",
        "tags": [], "skills": [], "runtimes": [],
    }  # fmt: skip
    if manifest is None or len(manifest) > MAX_MANIFEST:
        return info
    try:
        raw = yaml.safe_load(manifest)
    except (yaml.YAMLError, ValueError, RecursionError):
        return info
    if not isinstance(raw, dict):
        return info
    for key in ("version", "description", "author"):
        info[key] = _text(raw, key)
    for key in ("tags", "skills", "runtimes"):
        info[key] = _strings(raw.get(key))
    return info


def supports_runtime(info: dict[str, Any], runtime: str) -> bool:
    declared = info.get("runtimes") or []
    if not declared:
        return True
    wanted = runtime.replace("-", "_")
    return any(str(r).replace("-", "_") == wanted for r in declared)


def manifest_digest(manifest: bytes | None) -> str | None:
    return None if manifest is None else hashlib.sha256(manifest).hexdigest()


def _read_manifest(entry: Path) -> bytes | None:
    """An entry's `plugin.yaml` (a regular file, not a link), or None."""
    if not entry.is_dir():
        return first_member(entry, MANIFEST, MAX_MANIFEST)
    try:
        fd = os.open(entry / MANIFEST, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = f.read(MAX_MANIFEST + 1)
    return data if len(data) <= MAX_MANIFEST else None


class PluginRegistry:
    def __init__(self, directories: list[Path]) -> None:
        self.directories = directories

    @classmethod
    def for_home(cls, home: Path) -> PluginRegistry:
        own = os.environ.get("MOLECULE_PLUGINS_DIR")
        return cls([BUILTIN_PLUGINS_DIR, Path(own) if own else home / "plugins"])

    def entries(self) -> dict[str, Path]:
        """Every entry by name, in name order (a later directory wins)."""
        found: dict[str, Path] = {}
        for directory in self.directories:
            try:
                children = sorted(directory.iterdir())[: MAX_LISTED * 2]
            except OSError:  # missing or unreadable: nothing offered from there
                continue
            here: dict[str, Path] = {}
            for child in children:
                if child.is_dir() and _local(child.name):
                    here[child.name] = child
                elif (stem := archive_stem(child.name)) and _local(stem):
                    if child.is_file():
                        here.setdefault(stem, child)
            found.update(here)
        return dict(sorted(found.items())[:MAX_LISTED])

    def listing(self, runtime: str | None = None) -> list[dict[str, Any]]:
        """`GET /plugins`: every entry described, with the `local://` source that installs
        it and the SHA-256 of its `plugin.yaml` (what an install may pin)."""
        listed = []
        for name, entry in self.entries().items():
            manifest = _read_manifest(entry)
            info = describe(name, manifest)
            if runtime and not supports_runtime(info, runtime):
                continue
            info["source"] = f"local://{name}"
            if (digest := manifest_digest(manifest)) is not None:
                info["sha256"] = digest
            listed.append(info)
        return listed

    def stage(self, name: str, limits: Limits) -> StagedPlugin:
        """The entry `name`, read whole and checked (blocking). 404 when there is none."""
        check_name(name, local=True)
        for directory in reversed(self.directories):
            candidate = directory / name
            if candidate.is_dir():
                return read_directory(candidate, name, limits)
            archive = find_archive(directory, name) if directory.is_dir() else None
            if archive is not None:
                return read_archive_file(archive, name, limits)
        raise NotFound(NOT_FOUND)
