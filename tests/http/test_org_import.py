"""POST /org/import and GET /org/templates over real HTTP: the answers, the rows, the events,
the 412 preflight, 207 partial failures, and every refusal with nothing created."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Harness

MOCK_TREE: dict[str, Any] = {
    "name": "Inline Org",
    "workspaces": [
        {
            "name": "Root",
            "runtime": "mock",
            "role": "runs it",
            "canvas": {"x": 50, "y": 60},
            "children": [
                {"name": "Kid", "runtime": "mock", "max_concurrent_tasks": 3},
                {"name": "Outside", "external": True},
            ],
        }
    ],
}


async def snapshot(h: Harness) -> tuple[int, int, int, int]:
    """Rows an import writes: workspaces, tokens, secrets, schedules + memories."""
    value = await h.svc.store.fetchrow(
        "SELECT (SELECT count(*) FROM workspaces) AS w,"
        " (SELECT count(*) FROM workspace_auth_tokens) AS t,"
        " (SELECT count(*) FROM workspace_secrets) AS s,"
        " (SELECT count(*) FROM workspace_schedules) + (SELECT count(*) FROM agent_memories) AS x"
    )
    assert value is not None
    return value["w"], value["t"], value["s"], value["x"]


async def import_org(h: Harness, body: Any, **kw: Any) -> Any:
    return await h.client.post("/org/import", json=body, headers=h.admin, **kw)


async def events(h: Harness, kind: str) -> list[dict[str, Any]]:
    rows = await h.svc.store.fetch(
        "SELECT workspace_id, payload FROM structure_events WHERE event_type = $1"
        " ORDER BY created_at",
        kind,
    )
    return [dict(r) for r in rows]


async def test_listing_the_templates(platform: Harness) -> None:
    h = platform
    r = await h.client.get("/org/templates", headers=h.admin)
    assert r.status_code == 200
    by_dir = {t["dir"]: t for t in r.json()}
    assert by_dir["echo-team"] == {
        "dir": "echo-team",
        "name": "Echo Team",
        "description": by_dir["echo-team"]["description"],
        "workspaces": 3,
        "required_env": [],
        "recommended_env": [],
    }
    assert by_dir["llm-team"]["required_env"] == ["OPENAI_API_KEY"]
    assert by_dir["llm-team"]["recommended_env"] == ["MODEL", "OPENAI_BASE_URL"]
    assert by_dir["echo-company"]["workspaces"] == 5
    ws = await h.create_external("someone")
    for headers, error in (
        ({}, "admin auth required"),
        ({"Authorization": f"Bearer {ws['connection']['auth_token']}"}, "invalid admin auth token"),
    ):
        r = await h.client.get("/org/templates", headers=headers)
        assert r.status_code == 401 and r.json() == {"error": error}


async def test_an_inline_tree_is_created_parents_first(platform: Harness) -> None:
    h = platform
    r = await import_org(h, {**{"template": MOCK_TREE}, "force": True, "mode": "merge"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["org"] == "Inline Org" and body["count"] == 3
    root, kid, outside = body["workspaces"]
    assert (root["name"], kid["name"], outside["name"]) == ("Root", "Kid", "Outside")
    assert root["parent_id"] is None and kid["parent_id"] == outside["parent_id"] == root["id"]
    assert (root["status"], kid["status"], outside["status"]) == (
        "online",
        "online",
        "awaiting_agent",
    )
    assert root["tier"] == 2 and root["runtime"] == "mock" and outside["runtime"] == "external"
    rows = {r["name"]: r for r in [await h.row(w["id"]) for w in body["workspaces"]] if r}
    assert rows["Root"]["role"] == "runs it" and rows["Root"]["parent_id"] is None
    assert rows["Kid"]["parent_id"] == root["id"] and rows["Kid"]["max_concurrent_tasks"] == 3
    assert (rows["Root"]["x"], rows["Root"]["y"]) == (50, 60)
    assert (rows["Kid"]["x"], rows["Kid"]["y"]) == (50 + 16, 60 + 130)  # the canvas's grid
    assert rows["Outside"]["x"] == 50 + 16 + 240 + 14
    # Every one has its token from creation, as POST /workspaces gives them.
    for w in body["workspaces"]:
        assert await h.svc.tokens.has_live(w["id"])
    started, completed = (
        await events(h, "org.import.started"),
        await events(h, "org.import.completed"),
    )
    assert started[0] == {
        "workspace_id": None,
        "payload": {"name": "Inline Org", "dir": "", "mode": "merge"},
    }
    done = completed[0]["payload"]
    assert (done["created_count"], done["skipped_count"], done["create_error"]) == (3, 0, "")

    # Importing again completes the org instead of duplicating it.
    before = await snapshot(h)
    r = await import_org(h, {"template": MOCK_TREE})
    assert r.status_code == 201
    assert [w["skipped"] for w in r.json()["workspaces"]] == [True, True, True]
    assert [w["id"] for w in r.json()["workspaces"]] == [w["id"] for w in body["workspaces"]]
    assert await snapshot(h) == before


async def test_412_until_the_secret_is_set(platform: Harness) -> None:
    h = platform
    before = await snapshot(h)
    for body in ({"dir": "llm-team"}, {"dir": "llm-team", "force": True}):
        r = await import_org(h, body)
        assert r.status_code == 412
        assert r.json() == {
            "error": "missing required environment variables",
            "missing_env": ["OPENAI_API_KEY"],
            "required_env": ["OPENAI_API_KEY"],
            "template": "llm-team",
            "suggestion": "set these as global secrets (POST /settings/secrets) before importing",
        }
    assert await snapshot(h) == before and await events(h, "org.import.started") == []
    # A workspace template's own required_env counts too, with or without the org saying so.
    inline = {"name": "Solo", "workspaces": [{"name": "Solo LLM", "runtime": "llm"}]}
    r = await import_org(h, {"template": inline})
    assert r.status_code == 412 and r.json()["missing_env"] == ["OPENAI_API_KEY"]

    r = await h.client.post(
        "/settings/secrets", json={"key": "OPENAI_API_KEY", "value": "sk-test"}, headers=h.admin
    )
    assert r.status_code == 200
    r = await import_org(h, {"dir": "llm-team"})
    assert r.status_code == 201, r.text
    lead, researcher, writer = r.json()["workspaces"]
    assert researcher["parent_id"] == writer["parent_id"] == lead["id"]
    assert lead["runtime"] == "llm" and lead["status"] == "provisioning"
    # The template's additions are in the lead's configs before its first start.
    p = h.svc.pipeline.provisioner
    assert p is not None
    prompt = await p.read_file(lead["id"], "/configs/system-prompt.md")
    assert prompt.startswith(b"You lead a small team")
    config = (await p.read_file(lead["id"], "/configs/config.yaml")).decode()
    assert "model: gpt-4o-mini" in config and "system-prompt.md" in config
    assert "name: LLM Lead" in config and "adapter: openai" in config
    assert (await events(h, "org.import.completed"))[0]["payload"]["dir"] == "llm-team"


async def trigger_failure(h: Harness, name: str) -> None:
    """A real database refusal for one name: the creation of that workspace fails."""
    await h.svc.store.execute(
        f"""
        CREATE FUNCTION refuse_name() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.name = '{name}' THEN RAISE EXCEPTION 'refused for the test'; END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER refuse_name BEFORE INSERT ON workspaces
            FOR EACH ROW EXECUTE FUNCTION refuse_name();
        """
    )


async def test_207_keeps_what_was_created(platform: Harness) -> None:
    h = platform
    await trigger_failure(h, "Broken")
    await h.svc.store.execute(
        """
        CREATE FUNCTION refuse_memory() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'memory refused for the test'; END $$;
        CREATE TRIGGER refuse_memory BEFORE INSERT ON agent_memories
            FOR EACH ROW WHEN (NEW.content = 'poison') EXECUTE FUNCTION refuse_memory();
        """
    )
    tree = {
        "name": "Partial",
        "workspaces": [
            {
                "name": "Top",
                "runtime": "mock",
                "children": [
                    {
                        "name": "Fine",
                        "runtime": "mock",
                        "initial_memories": [{"content": "poison"}],
                    },
                    {
                        "name": "Broken",
                        "runtime": "mock",
                        "children": [{"name": "Below", "runtime": "mock"}],
                    },
                    {"name": "Also Fine", "runtime": "mock"},
                ],
            }
        ],
    }
    r = await import_org(h, {"template": tree})
    assert r.status_code == 207, r.text
    body = r.json()
    assert [w["name"] for w in body["workspaces"]] == ["Top", "Fine", "Also Fine"]
    assert body["count"] == 3
    top, fine = body["workspaces"][0]["id"], body["workspaces"][1]["id"]
    assert body["failed"] == [
        {
            "name": "Fine",
            "parent_id": top,
            "id": fine,
            "error": "created, but its schedules, memories or key/value entries failed — see the"
            " log",
        },
        {
            "name": "Broken",
            "parent_id": top,
            "error": "failed to create the workspace — see the platform log",
        },
        {
            "name": "Below",
            "parent_id": None,
            "error": "not created: its parent could not be created",
        },
    ]
    assert "refused for the test" not in r.text  # internal detail stays in the log
    assert await h.svc.store.fetchval("SELECT count(*) FROM agent_memories") == 0
    names = {r["name"] for r in await h.svc.store.fetch("SELECT name FROM workspaces")}
    assert names == {"Top", "Fine", "Also Fine"}
    done = (await events(h, "org.import.completed"))[0]["payload"]
    assert done["created_count"] == 3 and done["create_error"].startswith("Fine: created")


def tree_with(**fields: Any) -> dict[str, Any]:
    child = {"name": "Child", "runtime": "mock", **fields}
    return {"name": "Bad", "workspaces": [{"name": "Root", "runtime": "mock", "children": [child]}]}


def deep(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"name": f"L{levels}", "runtime": "mock"}
    for i in range(levels - 1, -1, -1):
        node = {"name": f"L{i}", "runtime": "mock", "children": [node]}
    return {"name": "Deep", "workspaces": [node]}


REFUSED: list[tuple[Any, int, str, str]] = [
    ({}, 400, "provide 'dir' or 'template'", ""),
    ({"dir": "../etc"}, 400, "invalid org directory", ""),
    ({"dir": "echo-team/../llm-team"}, 400, "invalid org directory", ""),
    ({"dir": 7}, 400, "invalid org directory", ""),
    ({"dir": "no-such-team"}, 404, "org template not found", ""),
    ({"template": "text"}, 400, "invalid org template", "must be an object"),
    ({"template": {"workspaces": [{"name": "a"}]}}, 400, "invalid org template", "name: Field"),
    ({"template": {"name": "x", "workspaces": []}}, 400, "invalid org template", "workspaces"),
    ({"template": tree_with(name="a|b")}, 400, "invalid org template", "invalid workspace fields"),
    ({"template": tree_with(runtime="claude-code")}, 400, "invalid org template", "cannot run"),
    ({"template": tree_with(runtime="Bad Runtime")}, 400, "invalid org template", "fields"),
    ({"template": tree_with(template="nope")}, 400, "invalid org template", "no workspace"),
    ({"template": tree_with(template="../x")}, 400, "invalid org template", "invalid template"),
    ({"template": tree_with(tier=9)}, 400, "invalid org template", "tier"),
    ({"template": tree_with(workspace_dir="/etc")}, 400, "invalid org template", "system"),
    ({"template": tree_with(workspace_access="read_only")}, 400, "invalid org template",
     "requires"),
    (
        {"template": tree_with(external=True, url="http://169.254.169.254/")},
        400, "invalid org template", "unsafe workspace URL",
    ),
    ({"template": tree_with(initial_prompt_file="a.md")}, 400, "invalid org template", "directory"),
    ({"template": tree_with(files_dir="files")}, 400, "invalid org template", "directory"),
    (
        {"template": tree_with(schedules=[{"name": "s", "cron_expr": "* *", "prompt": "p"}])},
        400, "invalid org template", "cron",
    ),
    (
        {"template": tree_with(schedules=[{"name": "s", "cron_expr": "0 9 * * *"}])},
        400, "invalid org template", "prompt",
    ),
    (
        {"template": tree_with(initial_memories=[{"content": "c", "scope": "GLOBAL"}])},
        400, "invalid org template", "GLOBAL",
    ),
    ({"template": tree_with(required_env=["lower"])}, 400, "invalid org template", "pattern"),
    ({"template": tree_with(children=[{"name": "Twin", "runtime": "mock"}] * 2)}, 400,
     "invalid org template", "same parent"),
    ({"template": deep(11)}, 400, "invalid org template", "nested more than 10"),
    (
        {"template": {"name": "Many", "workspaces": [
            {"name": f"w{i}", "runtime": "mock", "children": [{"name": "c", "runtime": "mock"}]}
            for i in range(101)
        ]}},
        400, "invalid org template", "more than 200",
    ),
    ({"template": MOCK_TREE, "mode": "reconcile"}, 400, "mode must be", ""),
    ([1, 2], 400, "invalid request body", ""),
]  # fmt: skip


async def test_refusals_create_nothing(platform: Harness) -> None:
    h = platform
    before = await snapshot(h)
    for body, status, error, detail in REFUSED:
        r = await import_org(h, body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"].startswith(error), (body, r.text)
        assert detail in r.json().get("detail", ""), (body, r.text)
        assert await snapshot(h) == before, body
    assert await events(h, "org.import.started") == []


async def test_auth_and_garbage_create_nothing(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("someone")
    before = await snapshot(h)
    body = {"template": MOCK_TREE}
    r = await h.client.post("/org/import", json=body)
    assert r.status_code == 401 and r.json() == {"error": "admin auth required"}
    token = {"Authorization": f"Bearer {ws['connection']['auth_token']}"}
    r = await h.client.post("/org/import", json=body, headers=token)
    assert r.status_code == 401 and r.json() == {"error": "invalid admin auth token"}
    for raw in (b"{", b'{"dir": "a\\u0000"}', b"\xff"):
        r = await h.client.post("/org/import", content=raw, headers=h.admin)
        assert r.status_code == 400, raw
    assert await snapshot(h) == before


async def test_operator_templates_with_includes_files_and_env(
    platform: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = platform
    own = tmp_path / "org-templates"
    team = own / "my-team"
    (team / "members" / "files").mkdir(parents=True)
    (team / "org.yaml").write_text(
        "name: My Team\n"
        "global_memories: [{content: the org's rule}]\n"
        "workspaces:\n"
        "  - name: Boss\n"
        "    runtime: mock\n"
        "    schedules:\n"
        "      - {name: standup, cron_expr: '0 9 * * 1-5', timezone: Europe/Berlin,"
        " prompt_file: standup.md}\n"
        "    initial_memories: [{content: remember this}]\n"
        "    children:\n"
        "      - !include members/helper.yaml\n"
    )
    (team / "standup.md").write_text("What happened yesterday?\n")
    (team / ".env").write_text("SHARED_KEY=from-root\n")
    (team / "members" / "helper.yaml").write_text(
        "name: Helper\nruntime: mock\nfiles_dir: members/files\n"
    )
    (team / "members" / "files" / ".env").write_text("OWN_KEY=mine\n")
    (own / "looping").mkdir()
    (own / "looping" / "org.yaml").write_text("name: L\nworkspaces: [!include org.yaml]\n")
    monkeypatch.setenv("MOLECULE_ORG_TEMPLATES_DIR", str(own))

    r = await h.client.get("/org/templates", headers=h.admin)
    listed = {t["dir"] for t in r.json()}
    assert "my-team" in listed and "looping" not in listed and "echo-team" in listed

    before = await snapshot(h)
    r = await import_org(h, {"dir": "looping"})
    assert r.status_code == 400 and r.json()["error"] == "org template expansion failed"
    assert "cycle" in r.json()["detail"] and await snapshot(h) == before

    r = await import_org(h, {"dir": "my-team"})
    assert r.status_code == 201, r.text
    boss, helper = r.json()["workspaces"]
    assert helper["parent_id"] == boss["id"]
    keys = {
        (r["workspace_id"], r["key"])
        for r in await h.svc.store.fetch("SELECT workspace_id, key FROM workspace_secrets")
    }
    assert keys == {
        (boss["id"], "SHARED_KEY"),
        (helper["id"], "SHARED_KEY"),
        (helper["id"], "OWN_KEY"),
    }
    schedule = await h.svc.store.fetchrow(
        "SELECT name, cron_expr, timezone, prompt, source, next_run_at FROM workspace_schedules"
        " WHERE workspace_id = $1",
        boss["id"],
    )
    assert schedule is not None and schedule["source"] == "template"
    assert schedule["prompt"] == "What happened yesterday?\n"
    assert schedule["timezone"] == "Europe/Berlin" and schedule["next_run_at"] is not None
    memories = await h.svc.store.fetch(
        "SELECT content, scope FROM agent_memories WHERE workspace_id = $1 ORDER BY created_at",
        boss["id"],
    )
    assert [(m["content"], m["scope"]) for m in memories] == [
        ("remember this", "LOCAL"),
        ("the org's rule", "GLOBAL"),
    ]
