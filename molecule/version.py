"""The platform's version: the installed distribution's, else the one in the source tree's
pyproject.toml (the production image runs the tree from /app without installing it, and
/buildinfo and backup manifests should still say which version they come from)."""

from __future__ import annotations

import functools
import tomllib
from importlib import metadata
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


@functools.cache
def platform_version() -> str:
    try:
        return metadata.version("molecule")
    except metadata.PackageNotFoundError:
        pass
    try:
        project = tomllib.loads(PYPROJECT.read_text())["project"]
        return str(project["version"])
    except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError):
        return "unknown"
