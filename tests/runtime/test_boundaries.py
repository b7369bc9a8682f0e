"""The runtime is a separate program: it imports only the shared wire models and token
helpers from the platform package (architecture §1)."""

from __future__ import annotations

import ast
from pathlib import Path

RUNTIME = Path(__file__).resolve().parents[2] / "molecule" / "runtime"
ALLOWED = (
    "molecule.runtime",
    "molecule.models",
    "molecule.security.token_material",
    "molecule.lifeline",
    "molecule.jsontext",
)


def test_runtime_imports_only_shared_modules() -> None:
    offenders = []
    for path in RUNTIME.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.startswith("molecule") and not any(
                    name == ok or name.startswith(ok + ".") for ok in ALLOWED
                ):
                    offenders.append((path.name, name))
    assert offenders == []


def test_runtime_modules_stay_small() -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in RUNTIME.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n >= 400} == {}
