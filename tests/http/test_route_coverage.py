"""Route coverage against the original, and a sweep of the routing table's refusals.

- The original's routes (tests/http/original_routes.py) are served, or not, exactly as the
  "Route coverage" section of docs/compatibility.md says, whose counts come from that list.
- Every workspace-scoped route, taken from the routing table itself, refuses a caller that may
  not touch the workspace in its path: another workspace's token and no credential are 401 on
  every WorkspaceAuth and admin route under `/workspaces/:id/` (a route added later included),
  never data, and the database (every table) and the platform's files stay exactly as they
  were. The per-route modules test their own refusals in detail.
"""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from molecule.http.api import Auth, declaration
from molecule.http.app import create_app
from molecule.http.openapi import served_routes
from tests.conftest import Harness
from tests.http.footprint import files
from tests.http.original_routes import original_routes, shape

ROOT = Path(__file__).resolve().parents[2]

PREFIX = "/workspaces/{workspace_id}"
BODIES: dict[str, Any] = {"POST": {}, "PUT": {}, "PATCH": {}}


async def database(h: Harness) -> dict[str, list[str]]:
    """Every row of every table, as text, once the background writers are idle."""
    await h.svc.heartbeats.flush()
    await h.svc.activity.flush()
    await h.svc.tokens.flush_last_used()
    tables = await h.svc.store.fetch(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1"
    )
    found: dict[str, list[str]] = {}
    for record in tables:
        name = record["table_name"]
        rows = await h.svc.store.fetch(f'SELECT t::text AS row FROM "{name}" t')  # noqa: S608
        found[name] = sorted(r["row"] for r in rows)
    return found


def workspace_routes(h: Harness, rules: tuple[Auth, ...]) -> list[tuple[str, str]]:
    """(method, path template) of the routes under /workspaces/:id/ with one of `rules`."""
    found = []
    for method, path, view, websocket in served_routes(create_app(h.svc)):
        declared = declaration(view)
        if websocket or declared is None or declared.auth not in rules:
            continue
        if path == PREFIX or path.startswith(PREFIX + "/"):
            found.append((method, path))
    return sorted(found)


def concrete(path: str, workspace_id: str) -> str:
    """The template with its parameters filled: the workspace, then harmless values."""
    out = path.replace("{workspace_id}", workspace_id)
    for name, value in (("{path}", "notes.md"), ("{key}", "k")):
        out = out.replace(name, value)
    while "{" in out:
        start, end = out.index("{"), out.index("}")
        out = out[:start] + str(uuid.uuid4()) + out[end + 1 :]
    return out


async def test_no_workspace_route_serves_another_workspace(platform: Harness) -> None:
    h = platform
    a = await h.create_external("sweep-a")
    b = await h.create_external("sweep-b")
    wid = str(a["id"])
    own = {"Authorization": f"Bearer {a['connection']['auth_token']}"}  # type: ignore[index]
    other = {"Authorization": f"Bearer {b['connection']['auth_token']}"}  # type: ignore[index]
    # Something to steal: a memory, a key, a config, a file.
    base = f"/workspaces/{wid}"
    for method, path, body in (
        ("POST", "/memories", {"content": "the secret plan", "scope": "LOCAL"}),
        ("POST", "/memory", {"key": "k", "value": "v"}),
        ("PATCH", "/config", {"plan": "secret"}),
        ("PUT", "/files/notes.md", {"content": "secret"}),
    ):
        r = await h.client.request(method, base + path, json=body, headers=own)
        assert r.status_code < 300, (path, r.text)

    routes = workspace_routes(h, (Auth.WORKSPACE, Auth.ADMIN))
    assert len(routes) > 60  # the sweep sees the whole table, not a handful
    before = (await database(h), files(h.svc.settings.home))
    wrong: list[str] = []
    for method, template in routes:
        path = concrete(template, wid)
        for who, headers in (("another workspace's token", other), ("no credential", {})):
            r = await h.client.request(method, path, json=BODIES.get(method), headers=headers)
            if r.status_code != 401 or "secret" in r.text:
                wrong.append(f"{method} {template} with {who}: {r.status_code} {r.text[:120]}")
    assert wrong == []
    after = (await database(h), files(h.svc.settings.home))
    changed = [t for t in after[0] if after[0][t] != before[0].get(t)]
    changed += [f for f in set(after[1]) ^ set(before[1])]
    changed += [f for f in after[1] if f in before[1] and after[1][f] != before[1][f]]
    assert changed == []


GARBAGE = (
    b"[]",
    b'"x"',
    b"1e999",
    b'{"a":' * 300 + b"1" + b"}" * 300,
    b'{"content":"\\u0000","scope":"LOCAL","key":"k","value":"\\u0000","name":"\\u0000"}',
    b'{"content":"\\ud800","scope":"LOCAL","key":"\\ud800","value":1,"message":"\\ud800"}',
    b"\xff\xfe garbage",
)


async def test_garbage_bodies_are_never_a_server_error(platform: Harness) -> None:
    """Wrong types, NUL, lone surrogates, deep nesting and bytes that are not UTF-8, as the
    workspace itself (the fuzz test sends its garbage as the admin)."""
    h = platform
    ws = await h.create_external("garbage")
    own = {
        "Authorization": f"Bearer {ws['connection']['auth_token']}",  # type: ignore[index]
        "Content-Type": "application/json",
    }
    wrong = []
    for method, template in workspace_routes(h, (Auth.WORKSPACE, Auth.OWN)):
        if method not in BODIES or template.endswith("/chat/uploads"):
            continue  # multipart (tests/http/test_chat_files.py)
        path = concrete(template, str(ws["id"]))
        for body in GARBAGE:
            r = await h.client.request(method, path, content=body, headers=own)
            if r.status_code >= 500 and r.status_code != 503:
                wrong.append(f"{method} {template} {body[:30]!r}: {r.status_code} {r.text[:80]}")
    assert wrong == []


async def test_the_original_routes_are_served_as_documented(platform: Harness) -> None:
    served = {(m, shape(p)) for m, p, _view, _ws in served_routes(create_app(platform.svc))}
    wrong = [
        f"{method} {path}: listed {status}, but {'' if here else 'not '}served"
        for method, path, status, _section in original_routes()
        if (here := (method, shape(path)) in served) != (status == "served")
    ]
    assert wrong == []
    counts = Counter(status for _m, _p, status, _s in original_routes())
    summary = (
        f"{sum(counts.values())} routes: {counts['served']} served, {counts['missing']} missing, "
        f"{counts['not-served']} not served"
    )
    assert summary in (ROOT / "docs" / "compatibility.md").read_text()
