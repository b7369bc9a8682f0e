"""The plugin routes during a database outage: 503 with Retry-After, never a 500 and never an
allowance (the original let installs through its allowlist when the database failed); the
registry, which needs no database, still answers."""

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


async def test_plugin_routes_answer_503_in_an_outage(
    client: httpx.AsyncClient,  # noqa: F811
    own_server: EmbeddedPostgres,  # noqa: F811
) -> None:
    r = await client.post("/workspaces", json={"name": "p", "runtime": "external"}, headers=ADMIN)
    wid = r.json()["id"]
    base = f"/workspaces/{wid}/plugins"
    allowlist = f"/orgs/{wid}/plugins/allowlist"
    r = await client.put(allowlist, json={"plugins": ["a"], "enabled_by": "t"}, headers=ADMIN)
    assert r.status_code == 200, r.text

    own_server.stop()
    for method, path, body in (
        ("GET", base, None),
        ("POST", base, {"source": "local://team-etiquette"}),
        ("DELETE", f"{base}/team-etiquette", None),
        ("GET", f"{base}/available", None),
        ("GET", f"{base}/compatibility?runtime=x", None),
        ("GET", f"{base}/team-etiquette/download", None),
        ("GET", allowlist, None),
        ("PUT", allowlist, {"plugins": [], "enabled_by": "t"}),
    ):
        r = await client.request(method, path, json=body, headers=ADMIN)
        assert_unavailable(r)
    r = await client.get("/plugins")
    assert r.status_code == 200 and "team-etiquette" in {p["name"] for p in r.json()}

    back = restart(own_server)
    try:
        with trio.fail_after(20):
            while (await client.get(allowlist, headers=ADMIN)).status_code != 200:
                await trio.sleep(0.1)
        r = await client.get(allowlist, headers=ADMIN)
        assert [e["plugin_name"] for e in r.json()["plugins"]] == ["a"]  # the PUT changed nothing
    finally:
        back.stop()
