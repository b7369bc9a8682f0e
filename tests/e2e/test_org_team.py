"""End to end with real agent processes: a team from one call, and its bundle round trip.

One POST /org/import of the shipped echo team brings a lead and two members online, each an
agent that answers through the proxy. The team's bundle, imported under a new parent, comes
online the same way, and exporting it again gives the same document but for the ids.
"""

from __future__ import annotations

from typing import Any

import trio

from molecule.jsontext import dumps
from tests.conftest import Harness

SECRET_VALUE = "do-not-export-me-0123456789"


async def wait_online(h: Harness, ids: list[str], timeout: float = 60) -> None:
    with trio.fail_after(timeout):
        for wid in ids:
            while True:
                r = await h.client.get(f"/workspaces/{wid}", headers=h.admin)
                if r.json()["status"] == "online":
                    break
                assert r.json()["status"] in ("provisioning", "online"), r.text
                await trio.sleep(0.1)


async def ask(h: Harness, wid: str, text: str) -> str:
    body = {"method": "message/send", "params": {"message": {"role": "user", "content": text}}}
    r = await h.client.post(f"/workspaces/{wid}/a2a", json=body, headers=h.admin)
    assert r.status_code == 200, r.text
    return str(r.json()["result"]["parts"][0]["text"])


def without_ids(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: without_ids(v) for k, v in node.items() if k != "id"}
    if isinstance(node, list):
        return [without_ids(v) for v in node]
    return node


async def test_a_team_from_one_call_and_its_bundle_round_trip(platform: Harness) -> None:
    h = platform
    r = await h.client.post("/org/import", json={"dir": "echo-team"}, headers=h.admin)
    assert r.status_code == 201, r.text
    team = r.json()
    assert team["org"] == "Echo Team" and team["count"] == 3
    lead, researcher, writer = team["workspaces"]
    assert [w["name"] for w in team["workspaces"]] == [
        "Echo Lead",
        "Echo Researcher",
        "Echo Writer",
    ]
    assert researcher["parent_id"] == writer["parent_id"] == lead["id"]
    ids = [w["id"] for w in team["workspaces"]]
    await wait_online(h, ids)
    for w in team["workspaces"]:
        assert await ask(h, w["id"], f"hello {w['name']}") == f"echo: hello {w['name']}"

    # The lead's own secret travels by name only.
    r = await h.client.post(
        f"/workspaces/{lead['id']}/secrets",
        json={"key": "LEAD_TOKEN", "value": SECRET_VALUE},
        headers=h.admin,
    )
    assert r.status_code == 200
    await wait_online(h, [lead["id"]])  # the secret change restarted it
    r = await h.client.get(f"/bundles/export/{lead['id']}", headers=h.admin)
    assert r.status_code == 200, r.text
    assert SECRET_VALUE not in r.text
    bundle = r.json()
    assert bundle["schema"] == "1.0" and bundle["id"] == lead["id"]
    assert bundle["secrets"] == ["LEAD_TOKEN"]
    assert [c["name"] for c in bundle["sub_workspaces"]] == ["Echo Researcher", "Echo Writer"]
    assert "runtime: echo" in bundle["files"]["config.yaml"]
    assert not any(p.startswith(".") for p in bundle["files"])  # no credentials, no dotfiles

    r = await h.client.post(
        "/workspaces", json={"name": "Elsewhere", "runtime": "mock"}, headers=h.admin
    )
    home = r.json()["id"]
    r = await h.client.post(f"/bundles/import?parent_id={home}", content=dumps(bundle),
                            headers={**h.admin, "Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 201, r.text
    copy = r.json()
    assert copy["secrets_to_set"] == ["LEAD_TOKEN"] and copy["count"] == 3
    new_ids = [copy["workspace_id"], *(c["workspace_id"] for c in copy["children"])]
    assert not set(new_ids) & set(ids)
    row = await h.row(copy["workspace_id"])
    assert row is not None and row["parent_id"] == home
    await wait_online(h, new_ids)
    assert await ask(h, new_ids[1], "still me?") == "echo: still me?"

    r = await h.client.get(f"/bundles/export/{copy['workspace_id']}", headers=h.admin)
    again = r.json()
    # The secret's value did not travel, so the copy has no such secret yet.
    assert again.pop("secrets") == [] and bundle.pop("secrets") == ["LEAD_TOKEN"]
    assert without_ids(again) == without_ids(bundle)
