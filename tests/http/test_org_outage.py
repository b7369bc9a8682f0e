"""Org import and bundles during a database outage: a 503 with Retry-After, never a 500, and
once the server is back a retried import completes the org (what exists is kept)."""

from __future__ import annotations

import httpx
import trio

from molecule.store.embedded import EmbeddedPostgres
from tests.store.test_outage import (  # noqa: F401 - fixtures
    ADMIN,
    assert_unavailable,
    client,
    own_server,
    restart,
)

TEAM = {
    "name": "Outage Org",
    "required_env": [],
    "workspaces": [
        {"name": "Top", "runtime": "mock", "children": [{"name": "Under", "runtime": "mock"}]}
    ],
}


async def test_org_and_bundle_routes_answer_503_in_an_outage(
    client: httpx.AsyncClient,  # noqa: F811
    own_server: EmbeddedPostgres,  # noqa: F811
) -> None:
    r = await client.post("/workspaces", json={"name": "w", "runtime": "mock"}, headers=ADMIN)
    wid = r.json()["id"]

    own_server.stop()
    for method, path, body in (
        ("POST", "/org/import", {"template": TEAM}),
        ("POST", "/org/import", {"dir": "llm-team"}),  # the preflight reads global secrets
        ("GET", f"/bundles/export/{wid}", None),
        ("POST", "/bundles/import", {"name": "b", "runtime": "mock"}),
        ("POST", f"/bundles/import?parent_id={wid}", {"name": "b", "runtime": "mock"}),
    ):
        r = await client.request(method, path, json=body, headers=ADMIN)
        assert_unavailable(r)

    back = restart(own_server)
    try:
        with trio.fail_after(20):
            while True:
                r = await client.post("/org/import", json={"template": TEAM}, headers=ADMIN)
                if r.status_code != 503:
                    break
                await trio.sleep(0.1)
        assert r.status_code == 201, r.text
        assert [w["name"] for w in r.json()["workspaces"]] == ["Top", "Under"]
        r = await client.post("/org/import", json={"template": TEAM}, headers=ADMIN)
        assert [w.get("skipped") for w in r.json()["workspaces"]] == [True, True]
    finally:
        back.stop()
