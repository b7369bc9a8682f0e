"""`POST /templates/import`: a template from files, into the operator's templates directory
(never among the shipped ones), listed with the others; a refusal writes nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from molecule.provision.templates import BUILTIN_DIR
from tests.conftest import Harness
from tests.http.footprint import footprint


def shipped() -> dict[str, str]:
    return {
        str(p.relative_to(BUILTIN_DIR)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in BUILTIN_DIR.rglob("*")
        if p.is_file()
    }


def imports_dir(h: Harness) -> Path:
    return h.svc.settings.home / "templates"


async def test_import_lists_and_refuses_a_second_time(platform: Harness) -> None:
    h = platform
    builtin = shipped()
    files = {"system-prompt.md": "You research.", "skills/search/SKILL.md": "search well"}
    r = await h.client.post(
        "/templates/import", json={"name": "My Researcher!", "files": files}, headers=h.admin
    )
    assert r.status_code == 201
    assert r.json() == {"status": "imported", "id": "my-researcher", "name": "My Researcher!"}
    target = imports_dir(h) / "my-researcher"
    assert (target / "skills" / "search" / "SKILL.md").read_text() == "search well"
    config = yaml.safe_load((target / "config.yaml").read_text())
    assert config["name"] == "My Researcher!"
    assert config["prompt_files"] == ["system-prompt.md"] and config["skills"] == ["search"]
    assert [p.name for p in imports_dir(h).iterdir()] == ["my-researcher"]  # no staging left

    r = await h.client.get("/templates", headers=h.admin)
    ids = {t["id"] for t in r.json()}
    assert {"my-researcher", "echo-default", "llm-default", "echo-team"} <= ids

    before = await footprint(h)
    r = await h.client.post(
        "/templates/import", json={"name": "my researcher", "files": {}}, headers=h.admin
    )
    assert r.status_code == 409
    assert r.json() == {"error": "template already exists", "id": "my-researcher"}
    r = await h.client.post(
        "/templates/import", json={"name": "echo-default", "files": {"x.md": "x"}}, headers=h.admin
    )
    assert r.status_code == 409 and r.json()["id"] == "echo-default"  # a shipped one
    assert await footprint(h) == before
    assert shipped() == builtin


async def test_an_imported_config_counts_for_provision_timeouts(platform: Harness) -> None:
    h = platform
    config = "name: slow echo\nruntime: echo\nruntime_config:\n  provision_timeout_seconds: 90\n"
    r = await h.client.post(
        "/templates/import",
        json={"name": "slow echo", "files": {"config.yaml": config}},
        headers=h.admin,
    )
    assert r.status_code == 201 and r.json()["id"] == "slow-echo"
    assert (imports_dir(h) / "slow-echo" / "config.yaml").read_text() == config  # kept as given
    r = await h.client.get("/templates", headers=h.admin)
    by_id = {t["id"]: t for t in r.json()}
    assert by_id["slow-echo"]["provision_timeout_seconds"] == 90
    assert by_id["echo-default"]["provision_timeout_seconds"] == 60
    ws = await h.create_external("ext")
    await h.svc.store.execute("UPDATE workspaces SET runtime = 'echo' WHERE id = $1", ws["id"])
    r = await h.client.get(f"/workspaces/{ws['id']}", headers=h.admin)
    assert r.json()["provision_timeout_ms"] == 90_000


async def test_import_refusals_write_nothing(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("w")
    token = ws["connection"]["auth_token"]  # type: ignore[index]
    before = await footprint(h)
    builtin = shipped()
    ok = {"name": "fine", "files": {"a.md": "x"}}
    cases: list[tuple[object, str]] = [
        ({"files": {"a.md": "x"}}, "invalid request body"),
        ({"name": "", "files": {}}, "invalid request body"),
        ({"name": "x" * 256, "files": {}}, "invalid request body"),
        ({"name": 5, "files": {}}, "invalid request body"),
        ({"name": "n"}, "invalid request body"),
        ({"name": "n", "files": []}, "invalid request body"),
        ({"name": "n", "files": {"a.md": 1}}, "invalid request body"),
        ({"name": "n", "files": {"ok.md": "x", "../escape.md": "x"}}, "invalid request body"),
        ({"name": "n", "files": {"ok.md": "x", "/abs.md": "x"}}, "invalid request body"),
        ({"name": "n", "files": {"a": "file", "a/b": "under it"}}, "invalid request body"),
        (
            {"name": "n", "files": {f"f{i}": "x" for i in range(201)}},
            "too many files (201), max 200",
        ),
        ([1], "invalid request body"),
    ]
    for body, error in cases:
        r = await h.client.post("/templates/import", json=body, headers=h.admin)
        assert r.status_code == 400 and r.json() == {"error": error}, body
    r = await h.client.post("/templates/import", json=ok)
    assert r.status_code == 401 and r.json() == {"error": "admin auth required"}
    r = await h.client.post(
        "/templates/import", json=ok, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 401 and r.json() == {"error": "invalid admin auth token"}
    assert await footprint(h) == before
    assert shipped() == builtin
    assert not imports_dir(h).exists() or list(imports_dir(h).iterdir()) == []
