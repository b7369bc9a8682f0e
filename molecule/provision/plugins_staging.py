"""A plugin in flight: the files a source yielded, every one checked before any is written.

Whatever a source delivers (a directory of the plugins registry, an archive, a git tree) goes
through one `Collector`, in memory, and only a whole, accepted tree is ever delivered to a
workspace. The rules, each a 4xx that leaves nothing behind:

- paths are relative and plain: no absolute path, no `..`, no `.` or empty segment, no
  backslash, no control character, text that is UTF-8, at most MAX_PATH characters and
  MAX_DEPTH levels, and every one a path the agent itself accepts under `/plugins/<name>/`
  (molecule.workspace_paths): 422 `unsafe plugin archive: <path>: <why>`;
- only regular files and directories: a symbolic or hard link, a device, a FIFO or a sparse
  file is refused (422), never followed or recreated; a name used twice, or both as a file
  and as a directory, too;
- bounds: the files' bytes at most `Limits.max_bytes` (the original's
  PLUGIN_INSTALL_MAX_DIR_BYTES, 100 MiB) and at most `Limits.max_entries` entries: 413
  `staged plugin exceeds size limit` (the original's message) and `staged plugin exceeds
  file count limit`.

Digests, as the original computed them: the caller's `sha256` pin is the SHA-256 of
`plugin.yaml`; a `manifest.json` with a `sha256` field declares the digest of the whole tree
(every file but that top-level `manifest.json`, as `<path>\\0<content>` in byte order).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from molecule.durations import parse_duration
from molecule.errors import PathRefused, PayloadTooLarge, Unprocessable
from molecule.workspace_paths import validate_virtual

MAX_PATH = 512
MAX_DEPTH = 16
MAX_ENTRIES = 1000
DEFAULT_MAX_BYTES = 100 * 1024 * 1024  # PLUGIN_INSTALL_MAX_DIR_BYTES
DEFAULT_FETCH_TIMEOUT = 5 * 60.0  # PLUGIN_INSTALL_FETCH_TIMEOUT
TOO_LARGE = "staged plugin exceeds size limit"
TOO_MANY = "staged plugin exceeds file count limit"
INTEGRITY_FAILED = "plugin manifest integrity check failed"
MANIFEST = "plugin.yaml"
INTEGRITY_FILE = "manifest.json"
SKIPPED_DIRS = frozenset({".git", "__pycache__"})


@dataclass(frozen=True)
class Limits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_entries: int = MAX_ENTRIES
    fetch_timeout: float = DEFAULT_FETCH_TIMEOUT

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        """The original's settings, read at each use as it did; junk keeps the default."""
        env = os.environ if env is None else env
        raw = env.get("PLUGIN_INSTALL_MAX_DIR_BYTES", "").strip()
        max_bytes = (
            int(raw) if raw.isascii() and raw.isdigit() and int(raw) > 0 else DEFAULT_MAX_BYTES
        )
        timeout = parse_duration(env.get("PLUGIN_INSTALL_FETCH_TIMEOUT", "") or "") or 0.0
        return cls(max_bytes, MAX_ENTRIES, timeout if timeout > 0 else DEFAULT_FETCH_TIMEOUT)

    @property
    def archive_bytes(self) -> int:
        """What a tar of an acceptable tree can take: the files, a header and padding each."""
        return self.max_bytes + (self.max_entries + 64) * 2048


@dataclass
class StagedPlugin:
    """A whole, checked plugin tree: relative path -> bytes."""

    name: str
    files: dict[str, bytes]
    executable: frozenset[str] = frozenset()
    commit: str | None = None  # the git commit a github:// source was fetched at

    @property
    def manifest(self) -> bytes | None:
        return self.files.get(MANIFEST)

    def manifest_sha256(self) -> str | None:
        data = self.manifest
        return None if data is None else hashlib.sha256(data).hexdigest()

    def tree_sha256(self) -> str:
        return tree_digest(self.files)

    def verify_integrity(self) -> None:
        """A `manifest.json` declaring `sha256` must match the tree (422 otherwise)."""
        declared_file = self.files.get(INTEGRITY_FILE)
        if declared_file is None:
            return
        try:
            declared = json.loads(declared_file)
        except ValueError:
            raise Unprocessable(INTEGRITY_FAILED) from None
        if not isinstance(declared, dict) or "sha256" not in declared:
            return
        value = declared["sha256"]
        if not isinstance(value, str) or value.lower() != self.tree_sha256():
            raise Unprocessable(INTEGRITY_FAILED)


def tree_digest(files: Mapping[str, bytes]) -> str:
    entries = sorted(
        rel.encode() + b"\0" + data for rel, data in files.items() if rel != INTEGRITY_FILE
    )
    return hashlib.sha256(b"".join(entries)).hexdigest()


def unsafe(path: str, why: str) -> Unprocessable:
    shown = path[:200] if path.isprintable() else "(unprintable name)"
    return Unprocessable(f"unsafe plugin archive: {shown}: {why}")


def plain_path(raw: str) -> str:
    """The relative path an entry names ("" for the tree's root), or an `unsafe` refusal."""
    path = raw
    while path.startswith("./"):
        path = path[2:]
    path = path.rstrip("/") if path not in ("", "/") else path
    if path in ("", "."):
        return ""
    if path.startswith("/"):
        raise unsafe(raw, "absolute path")
    if not path.isprintable() or "\\" in path:
        raise unsafe(raw, "control character or backslash in the name")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise unsafe(raw, "name is not UTF-8") from None
    parts = path.split("/")
    if ".." in parts:
        raise unsafe(raw, "path leaves the plugin (..)")
    if len(path) > MAX_PATH or len(parts) > MAX_DEPTH:
        raise unsafe(raw, f"path longer than {MAX_PATH} characters or {MAX_DEPTH} levels")
    try:
        validate_virtual(f"/plugins/plugin/{path}")
    except PathRefused:
        raise unsafe(raw, "not a path the agent accepts") from None
    return path


@dataclass
class Collector:
    """Accumulates one tree under the rules of the module docstring."""

    limits: Limits
    files: dict[str, bytes] = field(default_factory=dict)
    executable: set[str] = field(default_factory=set)
    dirs: set[str] = field(default_factory=set)
    total: int = 0
    entries: int = 0

    def _count(self) -> None:
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise PayloadTooLarge(TOO_MANY)

    def _claim_parents(self, path: str) -> None:
        parts = path.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent in self.files:
                raise unsafe(path, "a file of that name is on its path")
            self.dirs.add(parent)

    def add_dir(self, raw: str) -> None:
        path = plain_path(raw)
        if not path:
            return
        self._count()
        if path in self.files:
            raise unsafe(path, "both a file and a directory")
        self._claim_parents(path)
        self.dirs.add(path)

    def reserve(self, raw: str, size: int) -> str:
        """Check an entry before its bytes are read; its path."""
        path = plain_path(raw)
        if not path:
            raise unsafe(raw, "a file without a name")
        self._count()
        if path in self.files:
            raise unsafe(path, "duplicate entry")
        if path in self.dirs:
            raise unsafe(path, "both a file and a directory")
        if size < 0 or self.total + size > self.limits.max_bytes:
            raise PayloadTooLarge(TOO_LARGE)
        self._claim_parents(path)
        return path

    def add_file(self, path: str, data: bytes, executable: bool) -> None:
        """`path` as `reserve` returned it."""
        self.total += len(data)
        if self.total > self.limits.max_bytes:
            raise PayloadTooLarge(TOO_LARGE)
        self.files[path] = data
        if executable:
            self.executable.add(path)

    def staged(self, name: str, commit: str | None = None) -> StagedPlugin:
        return StagedPlugin(name, dict(self.files), frozenset(self.executable), commit)
