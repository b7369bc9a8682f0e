"""The built-in runtime image's build context, made from the platform's own installation.

`docker/runtime.Dockerfile` plus two trees:

- `deps/`: the Python packages the agent program needs (its import roots and everything they
  require), copied file by file from the environment the platform runs in (each
  distribution's RECORD): an unpacked wheelhouse, so a build downloads nothing and the image
  runs exactly the versions the platform was tested with;
- `molecule/`: the modules the agent program imports, found by following its imports from
  `molecule/runtime` (so an edit elsewhere in the platform does not change the image).

The context's digest (every path and byte, the Dockerfile, the Python version) labels the
image: a platform that finds the label different from its own context rebuilds.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata as metadata
import io
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the molecule package
DOCKERFILE = PACKAGE_ROOT.parent / "docker" / "runtime.Dockerfile"
# What the agent program imports from outside the standard library.
RUNTIME_REQUIREMENTS = (
    "trio", "httpx", "hypercorn", "h11", "PyYAML", "python-multipart", "pydantic",
)  # fmt: skip
# Run in a throwaway container of this image to list and delete files in a workspace's
# volumes with the local backend's own rules (molecule.provision.docker.volume_files).
EXTRA_MODULES = ("molecule.provision.host_files",)
PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"


@dataclass(frozen=True)
class BuildContext:
    tar: bytes
    digest: str
    python_version: str


def _distributions() -> list[metadata.Distribution]:
    """The runtime's requirements and theirs, as installed here (markers evaluated here)."""
    found: dict[str, metadata.Distribution] = {}
    pending = list(RUNTIME_REQUIREMENTS)
    while pending:
        name = pending.pop()
        dist = metadata.distribution(name)
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key in found:
            continue
        found[key] = dist
        for raw in dist.requires or []:
            req = Requirement(raw)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                pending.append(req.name)
    return [found[k] for k in sorted(found)]


def dependency_files() -> list[tuple[Path, str]]:
    """(installed file, path under deps/) for every file of the runtime's distributions,
    compiled caches left out (the image compiles its own)."""
    out: list[tuple[Path, str]] = []
    for dist in _distributions():
        for record in dist.files or []:
            rel = record.as_posix()
            if rel.startswith("..") or "__pycache__" in rel or rel.endswith(".pyc"):
                continue  # console scripts and caches
            path = Path(str(dist.locate_file(record)))
            if path.is_file():
                out.append((path, rel))
    return out


def _module_file(name: str) -> Path | None:
    base = PACKAGE_ROOT.parent / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_bytes(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {n for n in names if n == "molecule" or n.startswith("molecule.")}


def runtime_modules() -> list[Path]:
    """Every `molecule` module the agent program can import, with its packages' inits, and
    the file walker the platform runs in a helper container (volume_files)."""
    pending = [*EXTRA_MODULES]
    pending += [
        ".".join(p.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts).removesuffix(".__init__")
        for p in (PACKAGE_ROOT / "runtime").rglob("*.py")
    ]
    seen: dict[str, Path] = {}
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        path = _module_file(name)
        if path is None:
            continue  # a name imported from a module, not a module
        seen[name] = path
        parts = name.split(".")
        pending.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        pending.extend(_imports(path, name))
    return sorted(set(seen.values()))


def build_context() -> BuildContext:
    """The context tar and its digest (blocking file I/O: call it from a thread)."""
    entries: list[tuple[str, Path]] = [("Dockerfile", DOCKERFILE)]
    entries += [(f"deps/{rel}", path) for path, rel in dependency_files()]
    entries += [
        (f"molecule/{path.relative_to(PACKAGE_ROOT).as_posix()}", path)
        for path in runtime_modules()
    ]
    entries.sort()
    digest = hashlib.sha256(PYTHON_VERSION.encode())
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for arcname, path in entries:
            data = path.read_bytes()
            digest.update(arcname.encode() + b"\0" + hashlib.sha256(data).digest())
            info = tarfile.TarInfo(arcname)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return BuildContext(out.getvalue(), "sha256:" + digest.hexdigest(), PYTHON_VERSION)
