"""The org plugin allowlist: read and replace (admin only), what it does to installs and
downloads anywhere in the org's tree, and refusals that change nothing."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import Harness
from tests.http.plugins_support import echo_workspace, state


async def test_an_allowlist_limits_installs_in_the_whole_tree(platform: Harness) -> None:
    h = platform
    root = str((await h.create_external("org root"))["id"])
    mid = str((await h.create_external("team", parent_id=root))["id"])
    leaf, own = await echo_workspace(h, "leaf", parent_id=mid)
    route = f"/orgs/{root}/plugins/allowlist"

    r = await h.client.get(route, headers=h.admin)
    assert r.status_code == 200
    assert r.json() == {"org_id": root, "plugins": [], "allow_all": True}

    body = {"plugins": ["standup-report", "standup-report", "other"], "enabled_by": "ops"}
    r = await h.client.put(route, json=body, headers=h.admin)
    assert r.status_code == 200
    assert r.json() == {"org_id": root, "plugins": ["standup-report", "other"], "allow_all": False}
    r = await h.client.get(route, headers=h.admin)
    entries = r.json()["plugins"]
    assert [e["plugin_name"] for e in entries] == ["other", "standup-report"]
    assert entries[0]["enabled_by"] == "ops" and entries[0]["enabled_at"].endswith("Z")

    # Two levels down, the root's list applies (the original consulted the parent's).
    install = f"/workspaces/{leaf}/plugins"
    r = await h.client.post(install, json={"source": "local://team-etiquette"}, headers=own)
    assert r.status_code == 403
    assert r.json() == {"error": 'plugin "team-etiquette" is not in the org allowlist'}
    r = await h.client.get(f"{install}/team-etiquette/download", headers=own)
    assert r.status_code == 403
    r = await h.client.post(install, json={"source": "local://standup-report"}, headers=own)
    assert r.status_code == 200, r.text

    r = await h.client.put(route, json={"plugins": [], "enabled_by": "ops"}, headers=h.admin)
    assert r.json() == {"org_id": root, "plugins": [], "allow_all": True}
    r = await h.client.post(install, json={"source": "local://team-etiquette"}, headers=own)
    assert r.status_code == 200, r.text


async def test_allowlist_refusals_change_nothing(platform: Harness) -> None:
    h = platform
    root = str((await h.create_external("org"))["id"])
    child = h.create_external("child", parent_id=root)
    child_id = str((await child)["id"])
    ws = await h.create_external("member")
    token = {"Authorization": f"Bearer {ws['connection']['auth_token']}"}  # type: ignore[index]
    route = f"/orgs/{root}/plugins/allowlist"
    good = {"plugins": ["a"], "enabled_by": "ops"}
    cases: list[tuple[str, str, Any, dict[str, str], int, dict[str, Any] | str]] = [
        ("GET", route, None, {}, 401, {"error": "admin auth required"}),
        ("GET", route, None, token, 401, {"error": "invalid admin auth token"}),
        ("PUT", route, good, {}, 401, {"error": "admin auth required"}),
        ("PUT", route, good, token, 401, {"error": "invalid admin auth token"}),
        ("GET", "/orgs/nope/plugins/allowlist", None, h.admin, 400, {"error": "invalid org ID"}),
        ("GET", f"/orgs/{uuid.uuid4()}/plugins/allowlist", None, h.admin, 404, "org not found"),
        ("PUT", f"/orgs/{uuid.uuid4()}/plugins/allowlist", good, h.admin, 404, "org not found"),
        ("GET", f"/orgs/{child_id}/plugins/allowlist", None, h.admin, 400, "not an org"),
        ("PUT", f"/orgs/{child_id}/plugins/allowlist", good, h.admin, 400, "not an org"),
        ("PUT", route, "garbage", h.admin, 400, {"error": "invalid request body"}),
        ("PUT", route, {"plugins": "a", "enabled_by": "x"}, h.admin, 400, "invalid request body"),
        ("PUT", route, {"plugins": [1], "enabled_by": "x"}, h.admin, 400, "invalid request body"),
        ("PUT", route, {"plugins": ["a"]}, h.admin, 400, {"error": "enabled_by is required"}),
        ("PUT", route, {"plugins": ["a"], "enabled_by": 7}, h.admin, 400, "invalid request body"),
        ("PUT", route, {"plugins": ["../x"], "enabled_by": "x"}, h.admin, 400, "invalid plugin"),
        ("PUT", route, {"plugins": ["p"] * 501, "enabled_by": "x"}, h.admin, 400, "at most 500"),
        ("PUT", route, {"plugins": [], "enabled_by": "x" * 257}, h.admin, 400, "at most 256"),
    ]  # fmt: skip
    before = await state(h)
    for method, path, body, headers, code, expected in cases:
        kwargs: dict[str, Any] = {"headers": headers}
        if isinstance(body, str):
            kwargs["content"] = body
        elif body is not None:
            kwargs["json"] = body
        r = await h.client.request(method, path, **kwargs)
        described = f"{method} {path} {body!r}"[:200]
        assert r.status_code == code, f"{described}: {r.status_code} {r.text}"
        if isinstance(expected, dict):
            assert r.json() == expected, described
        else:
            assert expected in r.json()["error"], f"{described}: {r.text}"
        assert await state(h) == before, f"{described} changed something"
    r = await h.client.put(route, json={"plugins": ["../x"], "enabled_by": "x"}, headers=h.admin)
    assert r.json()["plugin_name"] == "../x"
