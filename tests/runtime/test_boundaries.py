"""The runtime is a separate program: it imports only the shared wire models, the one
exception tree and a few small shared modules from the platform package (docs/architecture.md
§2, rule 3)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "molecule"
RUNTIME = PACKAGE / "runtime"
ALLOWED = (
    "molecule.runtime",
    "molecule.models",
    "molecule.errors",
    "molecule.jsontext",
    "molecule.lifeline",
    "molecule.security.token_material",
    "molecule.security.redact",
    "molecule.workspace_paths",
    "molecule.form_parts",
    "molecule.asgi",
)


def _molecule_imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return [name for name in names if name.startswith("molecule")]


def _allowed(name: str) -> bool:
    return any(name == ok or name.startswith(ok + ".") for ok in ALLOWED)


def test_runtime_imports_only_shared_modules() -> None:
    offenders = [
        (path.name, name)
        for path in RUNTIME.rglob("*.py")
        for name in _molecule_imports(path)
        if not _allowed(name)
    ]
    assert offenders == []


def test_shared_modules_import_only_shared_modules() -> None:
    """What the runtime may import must not pull the platform in behind its back."""
    shared = [PACKAGE.joinpath(*name.split(".")[1:]).with_suffix(".py") for name in ALLOWED[1:]]
    assert all(path.is_file() for path in shared)
    offenders = [
        (path.name, name)
        for path in shared
        for name in _molecule_imports(path)
        if not _allowed(name)
    ]
    assert offenders == []


def test_runtime_modules_stay_small() -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in RUNTIME.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n >= 400} == {}
