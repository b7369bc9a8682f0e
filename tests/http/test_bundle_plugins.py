"""A bundle's plugins over real HTTP: export lists what a workspace has installed; import
seeds the registry's copy of a `local://` plugin before the first start when it is the same
version, and reports every other one in `plugins_skipped` with the reason."""

from __future__ import annotations

from typing import Any

from molecule.operations.bundles import OTHER_SOURCE, OTHER_VERSION
from molecule.operations.plugin_seeds import NOT_IN_REGISTRY, RUNS_ELSEWHERE, not_allowed
from molecule.store.plugins import Installed, PluginRows
from tests.conftest import Harness
from tests.http.plugins_support import (
    echo_workspace,
    plugin_rows,
    plugins_dir,
    shipped,
    tree,
)
from tests.http.test_bundles import export, import_bundle
from tests.http.test_org_import import snapshot

ETIQUETTE, STANDUP = "team-etiquette", "standup-report"
GITHUB = "github://example/tools#v1"


async def listed(h: Harness, wid: str) -> dict[str, dict[str, Any]]:
    r = await h.client.get(f"/workspaces/{wid}/plugins", headers=h.admin)
    assert r.status_code == 200, r.text
    return {p["name"]: p for p in r.json()}


def echo_node(name: str, plugins: list[dict[str, str]]) -> dict[str, Any]:
    return {"name": name, "runtime": "echo", "plugins": plugins}


async def test_export_lists_the_plugins_and_import_seeds_the_registry_ones(
    platform: Harness,
) -> None:
    h = platform
    wid, own = await echo_workspace(h, "bundled plugins")
    r = await h.client.post(
        f"/workspaces/{wid}/plugins", json={"source": f"local://{ETIQUETTE}"}, headers=own
    )
    assert r.status_code == 200, r.text
    # A plugin from GitHub, as an install from a git server would have recorded it.
    await PluginRows(h.svc.store).record(
        Installed(wid, "tools", GITHUB, "c0ffee", None, "0" * 64, {"version": "1.0.0"})
    )
    sha = (await listed(h, wid))[ETIQUETTE]["sha256"]

    bundle = await export(h, wid)
    assert bundle["plugins"] == [
        {"name": ETIQUETTE, "source": f"local://{ETIQUETTE}", "sha256": sha},
        {"name": "tools", "source": GITHUB},
    ]

    r = await import_bundle(h, {**bundle, "name": "bundled copy"})
    assert r.status_code == 201, r.text
    copy = r.json()
    assert copy["plugins_skipped"] == [
        {"plugin": "tools", "source": GITHUB, "reason": OTHER_SOURCE}
    ]
    got = await listed(h, copy["workspace_id"])
    assert list(got) == [ETIQUETTE]
    assert got[ETIQUETTE]["sha256"] == sha and got[ETIQUETTE]["source"] == f"local://{ETIQUETTE}"
    assert tree(plugins_dir(h, copy["workspace_id"]) / ETIQUETTE) == shipped(ETIQUETTE)


async def test_what_cannot_be_seeded_is_reported_and_the_rest_is_created(
    platform: Harness,
) -> None:
    h = platform
    parent, _ = await echo_workspace(h, "bundle parent")
    r = await h.client.put(
        f"/orgs/{parent}/plugins/allowlist",
        json={"plugins": [STANDUP], "enabled_by": "ops"},
        headers=h.admin,
    )
    assert r.status_code == 200, r.text
    bundle = echo_node(
        "bundle child",
        [
            {"name": STANDUP, "source": f"local://{STANDUP}"},
            {"name": ETIQUETTE, "source": f"local://{ETIQUETTE}"},
            {"name": "gone", "source": "local://gone"},
            {"name": "renamed", "source": f"local://{STANDUP}"},
        ],
    )
    bundle["plugins"].append({"name": STANDUP, "source": f"local://{STANDUP}", "sha256": "ab" * 32})
    standup = {"name": STANDUP, "source": f"local://{STANDUP}"}
    bundle["sub_workspaces"] = [{"name": "bundle remote", "external": True, "plugins": [standup]}]
    r = await import_bundle(h, bundle, parent=parent)
    assert r.status_code == 201, r.text
    child = r.json()
    [remote] = child["children"]
    assert remote["plugins_skipped"] == [
        {"plugin": STANDUP, "source": f"local://{STANDUP}", "reason": RUNS_ELSEWHERE}
    ]
    assert child["plugins_skipped"] == [
        {"plugin": "gone", "source": "local://gone", "reason": NOT_IN_REGISTRY},
        {"plugin": "renamed", "source": f"local://{STANDUP}", "reason": OTHER_SOURCE},
        {"plugin": STANDUP, "source": f"local://{STANDUP}", "reason": OTHER_VERSION},
        {"plugin": ETIQUETTE, "source": f"local://{ETIQUETTE}", "reason": not_allowed(ETIQUETTE)},
    ]
    assert list(await listed(h, child["workspace_id"])) == [STANDUP]
    assert {p.name for p in plugins_dir(h, child["workspace_id"]).iterdir()} == {STANDUP}


async def test_a_bad_plugin_name_creates_nothing(platform: Harness) -> None:
    h = platform
    before = (await snapshot(h), await plugin_rows(h))
    for name in ("../etc", "", "Has Space"):
        bundle = echo_node("bad plugin", [{"name": name, "source": f"local://{name}"}])
        r = await import_bundle(h, bundle)
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "invalid bundle" and "plugins.0.name" in r.json()["detail"]
    bundle = echo_node("bad pin", [{"name": STANDUP, "sha256": "not-hex"}])
    r = await import_bundle(h, bundle)
    assert r.status_code == 400 and "plugins.0.sha256" in r.json()["detail"]
    assert (await snapshot(h), await plugin_rows(h)) == before
