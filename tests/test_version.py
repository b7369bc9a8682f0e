"""The platform's version where the package is not installed (the production image)."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from molecule import version


def test_without_an_installed_distribution_the_source_trees_version_is_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def not_installed(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(version.metadata, "version", not_installed)
    expected = tomllib.loads(version.PYPROJECT.read_text())["project"]["version"]
    version.platform_version.cache_clear()
    try:
        assert version.platform_version() == expected != "unknown"
        monkeypatch.setattr(version, "PYPROJECT", tmp_path / "missing.toml")
        version.platform_version.cache_clear()
        assert version.platform_version() == "unknown"
    finally:
        version.platform_version.cache_clear()
