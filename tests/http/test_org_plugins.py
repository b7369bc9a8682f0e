"""An org template's `plugins` over real HTTP: the defaults' and a workspace's own, opt-outs,
files in place before the first start, the install rows, what is skipped and why (not in the
registry, an agent that runs elsewhere, the org allowlist), a seed that fails, and every
refusal with nothing created."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from molecule.operations.creation import SEED_FAILED
from molecule.operations.plugin_seeds import NOT_IN_REGISTRY, RUNS_ELSEWHERE, not_allowed
from tests.conftest import Harness
from tests.http.plugins_support import plugin_rows, plugins_dir, shipped, tree
from tests.http.test_org_import import import_org, snapshot

ETIQUETTE, STANDUP = "team-etiquette", "standup-report"
STARTS = 60  # seconds a real echo agent is given to come up on a loaded machine


def org(*workspaces: dict[str, Any], defaults: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "Plugged Org", "workspaces": list(workspaces)}
    if defaults is not None:
        body["defaults"] = {"plugins": defaults}
    return {"template": body}


async def installed(h: Harness, wid: str) -> list[tuple[str, str]]:
    r = await h.client.get(f"/workspaces/{wid}/plugins", headers=h.admin)
    assert r.status_code == 200, r.text
    return [(p["name"], p["source"]) for p in r.json()]


async def event_types(h: Harness, wid: str) -> list[str]:
    rows = await h.svc.store.fetch(
        "SELECT event_type FROM structure_events WHERE workspace_id = $1 ORDER BY created_at", wid
    )
    return [r["event_type"] for r in rows]


async def test_defaults_own_plugins_and_opt_outs_are_in_place_before_the_start(
    platform: Harness,
) -> None:
    h = platform
    body = org(
        {
            "name": "Plugged Lead",
            "runtime": "echo",
            "children": [
                {
                    "name": "Plugged Member",
                    "runtime": "echo",
                    "plugins": [f"!{ETIQUETTE}", STANDUP, "from-elsewhere"],
                },
                {"name": "Plugged Outside", "external": True, "plugins": [STANDUP]},
            ],
        },
        defaults=[ETIQUETTE],
    )
    r = await import_org(h, body)
    assert r.status_code == 201, r.text
    lead, member, outside = r.json()["workspaces"]
    assert "plugins_skipped" not in lead

    assert await installed(h, lead["id"]) == [(ETIQUETTE, f"local://{ETIQUETTE}")]
    assert await installed(h, member["id"]) == [(STANDUP, f"local://{STANDUP}")]
    assert await installed(h, outside["id"]) == []  # its agent runs elsewhere: no files here
    assert outside["plugins_skipped"] == [
        {"workspace": "Plugged Outside", "plugin": name, "reason": RUNS_ELSEWHERE}
        for name in (ETIQUETTE, STANDUP)  # the defaults' apply to it too
    ]
    # A template written for another platform's plugins still imports.
    assert member["plugins_skipped"] == [
        {"workspace": "Plugged Member", "plugin": "from-elsewhere", "reason": NOT_IN_REGISTRY}
    ]
    for wid, name in ((lead["id"], ETIQUETTE), (member["id"], STANDUP)):
        assert {p.name for p in plugins_dir(h, wid).iterdir()} == {name}
        assert tree(plugins_dir(h, wid) / name) == shipped(name)
    # Seeded before the first start: the agents come up once, with no restart for a plugin.
    for wid in (lead["id"], member["id"]):
        with trio.fail_after(STARTS):
            while "WORKSPACE_ONLINE" not in (kinds := await event_types(h, wid)):  # noqa: ASYNC110
                await trio.sleep(0.05)
        # what any created workspace records: a restart would add an offline and a start
        assert kinds == [
            "WORKSPACE_PROVISIONING",  # created
            "WORKSPACE_PROVISIONING",  # its start
            "WORKSPACE_ONLINE",
        ]


async def test_an_org_allowlist_leaves_a_plugin_out_of_a_new_member(platform: Harness) -> None:
    h = platform
    r = await import_org(h, org({"name": "Allow Root", "runtime": "mock"}))
    assert r.status_code == 201, r.text
    [root] = r.json()["workspaces"]
    route = f"/orgs/{root['id']}/plugins/allowlist"
    r = await h.client.put(route, json={"plugins": [STANDUP], "enabled_by": "ops"}, headers=h.admin)
    assert r.status_code == 200, r.text

    newcomer = {"name": "Allow Newcomer", "runtime": "echo", "plugins": [ETIQUETTE, STANDUP]}
    r = await import_org(h, org({"name": "Allow Root", "runtime": "mock", "children": [newcomer]}))
    assert r.status_code == 201, r.text
    kept, added = r.json()["workspaces"]
    assert kept["skipped"] is True and "plugins_skipped" not in kept
    assert added["plugins_skipped"] == [
        {"workspace": "Allow Newcomer", "plugin": ETIQUETTE, "reason": not_allowed(ETIQUETTE)}
    ]
    assert await installed(h, added["id"]) == [(STANDUP, f"local://{STANDUP}")]
    assert {p.name for p in plugins_dir(h, added["id"]).iterdir()} == {STANDUP}


@pytest.mark.parametrize(
    ("plugins", "detail"),
    [
        (["../etc"], "workspaces[0].plugins: invalid plugin name '../etc'"),
        (["Has Space"], "workspaces[0].plugins: invalid plugin name 'Has Space'"),
    ],
)
async def test_a_name_that_cannot_be_a_plugin_creates_nothing(
    platform: Harness, plugins: list[str], detail: str
) -> None:
    h = platform
    before = (await snapshot(h), await plugin_rows(h))
    r = await import_org(h, org({"name": "Refused", "runtime": "echo", "plugins": plugins}))
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid org template"
    assert r.json()["detail"].startswith(detail)
    assert (await snapshot(h), await plugin_rows(h)) == before


async def test_the_plugins_an_import_holds_are_bounded(
    platform: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each plugin fits an install's bound; the two together do not, so the import refuses
    before it creates anything instead of holding every tree in memory."""
    h = platform
    sizes = [sum(len(b) for b in shipped(name).values()) for name in (ETIQUETTE, STANDUP)]
    monkeypatch.setenv("PLUGIN_INSTALL_MAX_DIR_BYTES", str(max(sizes)))
    before = (await snapshot(h), await plugin_rows(h))
    body = org(
        {"name": "Heavy A", "runtime": "echo", "plugins": [ETIQUETTE]},
        {"name": "Heavy B", "runtime": "echo", "plugins": [STANDUP]},
    )
    r = await import_org(h, body)
    assert r.status_code == 400, r.text
    assert r.json()["detail"] == (
        f"workspaces[1].plugins: {STANDUP}: the plugins of one import exceed {max(sizes)} bytes"
    )
    assert (await snapshot(h), await plugin_rows(h)) == before


async def test_a_seed_that_fails_lists_no_plugin_and_leaves_no_files(
    platform: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = platform
    provisioner = h.svc.pipeline.provisioner
    assert provisioner is not None
    write = provisioner.write_file
    seen: list[str] = []

    async def failing_write(workspace_id: str, path: str, data: bytes) -> None:
        seen.append(path)
        if len([p for p in seen if p.startswith(f"/plugins/{STANDUP}/")]) == 2:
            raise OSError("disk full")  # the second file of the second plugin
        await write(workspace_id, path, data)

    monkeypatch.setattr(provisioner, "write_file", failing_write)
    body = org({"name": "Seed Fails", "runtime": "echo", "plugins": [ETIQUETTE, STANDUP]})
    r = await import_org(h, body)
    assert r.status_code == 207, r.text
    [ws] = r.json()["workspaces"]
    assert r.json()["failed"] == [
        {"name": "Seed Fails", "parent_id": None, "id": ws["id"], "error": SEED_FAILED}
    ]
    assert ws["status"] == "failed" and await installed(h, ws["id"]) == []
    assert list(plugins_dir(h, ws["id"]).iterdir()) == []
