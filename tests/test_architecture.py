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


OTHER_STATUS_TABLES = ("a2a_queue", "activity_logs", "delegations", "pending_uploads")


def _sql_strings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def test_sql_status_literals_are_enum_values() -> None:
    """Any status literal in SQL about workspaces must be a workspace_status value."""
    allowed = {s.value for s in WorkspaceStatus}
    compared = re.compile(r"\bstatus\s*(?:=|<>|!=)\s*'([a-z_]+)'")
    in_list = re.compile(r"\bstatus\s+(?:NOT\s+)?IN\s*\(([^)]*)\)", re.I)
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for sql in _sql_strings(path):
            if "workspaces" not in sql or any(t in sql for t in OTHER_STATUS_TABLES):
                continue
            values = compared.findall(sql)
            for body in in_list.findall(sql):
                values += re.findall(r"'([a-z_]+)'", body)
            offenders += [(path.name, v) for v in values if v not in allowed]
    assert offenders == []


def test_status_gate_catches_a_bad_literal(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("SQL = \"UPDATE workspaces SET status = 'zombie' WHERE id = $1\"\n")
    assert _sql_strings(bad) and "zombie" in _sql_strings(bad)[0]


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
    "molecule.events", "molecule.operations.access", "molecule.provision", "molecule.a2a",
    "molecule.cli", "molecule.runtime",
)  # fmt: skip


def test_store_and_security_import_nothing_above_them() -> None:
    assert _forbidden("store", UPPER) == []
    assert _forbidden("security", (*UPPER, "molecule.store")) == []


def test_actors_do_not_import_http() -> None:
    assert _forbidden("actors", ("molecule.http", "molecule.platform", "molecule.cli")) == []
