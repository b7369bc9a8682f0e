"""Static gates: the status enum and the code agree; layers point one way."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from molecule.models import WorkspaceStatus

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "molecule"


def _enum_from_migrations() -> list[str]:
    values: list[str] = []
    for path in sorted((ROOT / "migrations").glob("*.up.sql")):
        sql = path.read_text()
        for body in re.findall(r"CREATE TYPE workspace_status AS ENUM\s*\((.*?)\)", sql, re.S):
            values.extend(re.findall(r"'([a-z_]+)'", body))
        values.extend(
            re.findall(r"ALTER TYPE workspace_status ADD VALUE (?:IF NOT EXISTS )?'([a-z_]+)'", sql)
        )
    return values


def test_status_enum_matches_migrations() -> None:
    assert _enum_from_migrations() == [s.value for s in WorkspaceStatus]
    assert len(WorkspaceStatus) == 10


def test_sql_status_literals_are_enum_values() -> None:
    allowed = {s.value for s in WorkspaceStatus}
    pattern = re.compile(r"\bstatus\s*(?:=|<>|!=)\s*'([a-z_]+)'")
    in_list = re.compile(r"\bstatus\s+(?:NOT\s+)?IN\s*\(([^)]*)\)", re.I)
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        for value in pattern.findall(text):
            if value not in allowed and "workspaces" in text:
                offenders.append((path.name, value))
        for body in in_list.findall(text):
            for value in re.findall(r"'([a-z_]+)'", body):
                if value not in allowed and "workspace_status" in text:
                    offenders.append((path.name, value))
    assert offenders == []


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _forbidden(layer: str, banned: tuple[str, ...]) -> list[tuple[str, str]]:
    bad = []
    for path in (PACKAGE / layer).rglob("*.py"):
        for name in _imports(path):
            if name.startswith(banned):
                bad.append((str(path.relative_to(ROOT)), name))
    return bad


UPPER = (
    "molecule.http", "molecule.actors", "molecule.platform", "molecule.services",
    "molecule.events", "molecule.access", "molecule.provision", "molecule.a2a",
    "molecule.cli", "molecule.runtime",
)  # fmt: skip


def test_store_and_security_import_nothing_above_them() -> None:
    assert _forbidden("store", UPPER) == []
    assert _forbidden("security", (*UPPER, "molecule.store")) == []


def test_actors_do_not_import_http() -> None:
    assert _forbidden("actors", ("molecule.http", "molecule.platform", "molecule.cli")) == []
