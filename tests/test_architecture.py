"""Static gates that keep the house in order (docs/architecture.md, "Layers").

Each gate is a function over source files that returns its offenders, run on the package and
on a violating snippet of its own: a gate that passes while broken is caught here too.

- layers: a package imports only the packages its layer may (import edges per package);
- SQL only in `molecule/store`;
- modules of at most 400 lines;
- exception classes only in `molecule/errors.py` (one tree, each error knowing its status);
- status literals in SQL are values of the `workspace_status` enum.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from molecule.models import WorkspaceStatus

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "molecule"
MAX_LINES = 400

# The modules every layer may use: no molecule imports of their own beyond each other.
SHARED = {
    "errors", "models", "jsontext", "lifeline", "workspace_paths", "form_parts", "asgi",
    "durations", "version",
}  # fmt: skip
# What each package (or top-level module) may import from molecule, besides itself.
ALLOWED: dict[str, set[str]] = {
    "__init__": set(),
    "errors": set(),
    "models": set(),
    "jsontext": {"errors"},
    "lifeline": set(),
    "workspace_paths": {"errors"},
    "form_parts": {"errors"},
    "asgi": {"errors", "jsontext"},
    "durations": set(),
    "version": set(),
    "security": SHARED,
    # Metrics and log records: any layer may count and log through it; it knows none of them.
    "observability": SHARED,
    "config": SHARED | {"security", "observability"},
    "store": SHARED | {"security", "observability"},
    "events": SHARED | {"security", "store", "observability"},
    "a2a": SHARED | {"security", "observability"},
    "provision": SHARED | {"security", "store", "events", "config", "observability"},
    "actors": SHARED
    | {"security", "store", "events", "config", "a2a", "provision", "observability"},
    "operations": SHARED
    | {"security", "store", "events", "config", "a2a", "provision", "actors", "observability"},
    "services": SHARED
    | {"security", "store", "events", "config", "a2a", "provision", "actors", "operations"}
    | {"observability"},
    "http": SHARED
    | {"security", "store", "events", "config", "a2a", "provision", "actors", "operations"}
    | {"services", "observability"},
    "platform": SHARED
    | {"security", "store", "events", "config", "a2a", "provision", "actors", "operations"}
    | {"services", "http", "observability"},
    "cli": {
        "errors",
        "models",
        "config",
        "services",
        "platform",
        "store",
        "provision",  # `molecule images build` (the Docker backend's runtime image)
        "runtime",
        "connect",
        "security",
        "observability",
        "version",
    },  # fmt: skip
    # The agent program and the connect bridge are separate programs: the shared modules and
    # two leaf helpers of `security` only.
    "runtime": SHARED | {"security.token_material", "security.redact"},
    "connect": SHARED | {"security.token_material"},
}


def _module_imports(source: str) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return [n for n in names if n == "molecule" or n.startswith("molecule.")]


def _owner(relative: Path) -> str:
    """`molecule/store/x.py` -> "store"; `molecule/platform.py` -> "platform"."""
    parts = relative.parts
    return parts[0] if len(parts) > 1 else relative.stem


def layer_offenders(files: dict[str, str]) -> list[tuple[str, str]]:
    """(file, import) pairs that cross a layer the wrong way; `files` maps a path relative
    to the package (e.g. "store/x.py") to its source."""
    bad = []
    for relative, source in files.items():
        owner = _owner(Path(relative))
        allowed = ALLOWED.get(owner)
        if allowed is None:
            bad.append((relative, "(package not in the layer map)"))
            continue
        for name in _module_imports(source):
            target = name.removeprefix("molecule.")
            if target == owner or target.startswith(owner + "."):
                continue
            if not any(target == ok or target.startswith(ok + ".") for ok in allowed):
                bad.append((relative, name))
    return bad


_SQL = re.compile(
    r"\b(SELECT\b[\s\S]*\bFROM\b|INSERT\s+INTO\b|UPDATE\s+[a-z_]+\s+(AS\s+\w+\s+)?SET\b|"
    r"DELETE\s+FROM\b|CREATE\s+(TABLE|INDEX|TYPE)\b|ALTER\s+TABLE\b|TRUNCATE\b)"
)


def _strings(source: str) -> list[str]:
    return [
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def sql_offenders(files: dict[str, str]) -> list[str]:
    """Files outside store/ holding SQL statements."""
    return sorted(
        relative
        for relative, source in files.items()
        if not relative.startswith("store/") and any(_SQL.search(s) for s in _strings(source))
    )


def size_offenders(files: dict[str, str]) -> list[tuple[str, int]]:
    return [
        (relative, n) for relative, source in files.items() if (n := source.count("\n")) > MAX_LINES
    ]


_EXCEPTION_BASES = {"Exception", "BaseException", "ValueError", "LookupError", "RuntimeError"}


def exception_offenders(files: dict[str, str]) -> list[tuple[str, str]]:
    """Exception classes defined anywhere but errors.py."""
    bad = []
    for relative, source in files.items():
        if relative == "errors.py":
            continue
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.ClassDef):
                continue
            for base in node.bases:
                name = base.id if isinstance(base, ast.Name) else getattr(base, "attr", "")
                if name in _EXCEPTION_BASES or name.endswith(("Error", "Exception")):
                    bad.append((relative, node.name))
    return bad


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


OTHER_STATUS_TABLES = (
    "a2a_queue", "activity_logs", "approval_requests", "delegations", "pending_uploads",
)  # fmt: skip
_COMPARED = re.compile(r"\bstatus\s*(?:=|<>|!=)\s*'([a-z_]+)'")
_IN_LIST = re.compile(r"\bstatus\s+(?:NOT\s+)?IN\s*\(([^)]*)\)", re.I)


def status_literal_offenders(files: dict[str, str]) -> list[tuple[str, str]]:
    """Status literals in SQL about workspaces that are not workspace_status values."""
    allowed = {s.value for s in WorkspaceStatus}
    bad = []
    for relative, source in files.items():
        for sql in _strings(source):
            if "workspaces" not in sql or any(t in sql for t in OTHER_STATUS_TABLES):
                continue
            values = _COMPARED.findall(sql)
            for body in _IN_LIST.findall(sql):
                values += re.findall(r"'([a-z_]+)'", body)
            bad += [(relative, v) for v in values if v not in allowed]
    return bad


def _package_files() -> dict[str, str]:
    return {
        str(path.relative_to(PACKAGE)): path.read_text()
        for path in PACKAGE.rglob("*.py")
        if "__pycache__" not in path.parts
    }


FILES = _package_files()


# -- the gates, on the package ----------------------------------------------------------------


def test_layers_point_one_way() -> None:
    assert layer_offenders(FILES) == []


def test_sql_lives_only_in_the_store() -> None:
    assert sql_offenders(FILES) == []


def test_modules_stay_small() -> None:
    assert size_offenders(FILES) == []


def test_exceptions_live_in_one_tree() -> None:
    assert exception_offenders(FILES) == []


def test_status_enum_matches_migrations() -> None:
    assert _enum_from_migrations() == [s.value for s in WorkspaceStatus]
    assert len(WorkspaceStatus) == 10


def test_sql_status_literals_are_enum_values() -> None:
    assert status_literal_offenders(FILES) == []


# -- each gate fails on a violating snippet -----------------------------------------------------


def test_the_layer_gate_catches_an_upward_import() -> None:
    bad = {
        "store/bad.py": "from molecule.http.app import create_app\n",
        "runtime/bad.py": "import molecule.store.pool\n",
        "actors/bad.py": "from molecule.operations.removal import Removal\n",
        "nowhere/bad.py": "x = 1\n",
    }
    assert sorted(layer_offenders(bad)) == [
        ("actors/bad.py", "molecule.operations.removal"),
        ("nowhere/bad.py", "(package not in the layer map)"),
        ("runtime/bad.py", "molecule.store.pool"),
        ("store/bad.py", "molecule.http.app"),
    ]
    good = {"http/ok.py": "from molecule.operations.removal import Removal\n"}
    assert layer_offenders(good) == []


def test_the_sql_gate_catches_sql_outside_the_store() -> None:
    bad = {
        "http/a.py": 'Q = "SELECT id FROM workspaces WHERE id = $1"\n',
        "actors/b.py": 'Q = """\n    UPDATE workspaces SET status = $2\n"""\n',
        "events/c.py": 'Q = "DELETE FROM activity_logs"\n',
        "store/ok.py": 'Q = "SELECT 1 FROM workspaces"\n',
        "http/prose.py": 'HELP = "Select a workspace from the list"\n',
    }
    assert sql_offenders(bad) == ["actors/b.py", "events/c.py", "http/a.py"]


def test_the_size_gate_catches_a_long_module() -> None:
    assert size_offenders({"x.py": "a = 1\n" * 401, "y.py": "a = 1\n" * 400}) == [("x.py", 401)]


def test_the_exception_gate_catches_a_stray_class() -> None:
    bad = {
        "http/a.py": "class Refused(Exception):\n    pass\n",
        "store/b.py": "import asyncpg\nclass Gone(asyncpg.PostgresError):\n    pass\n",
        "errors.py": "class Fine(Exception):\n    pass\n",
        "http/c.py": "class NotAnError:\n    pass\n",
    }
    assert sorted(exception_offenders(bad)) == [("http/a.py", "Refused"), ("store/b.py", "Gone")]


def test_the_status_gate_catches_a_bad_literal() -> None:
    bad = {
        "store/a.py": "Q = \"UPDATE workspaces SET status = 'zombie' WHERE id = $1\"\n",
        "store/b.py": "Q = \"SELECT 1 FROM workspaces WHERE status IN ('online', 'asleep')\"\n",
        "store/c.py": "Q = \"SELECT 1 FROM workspaces WHERE status <> 'removed'\"\n",
    }
    assert sorted(status_literal_offenders(bad)) == [
        ("store/a.py", "zombie"),
        ("store/b.py", "asleep"),
    ]
