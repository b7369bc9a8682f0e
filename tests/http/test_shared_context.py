"""GET /workspaces/:id/shared-context: the files config.yaml lists, read through the
provisioner, with everything the agent controls bounded or refused."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from molecule.operations import shared_context
from tests.conftest import Harness


def bearer(ws: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {ws['connection']['auth_token']}"}


def configs_of(h: Harness, workspace_id: str) -> Path:
    provisioner: Any = h.svc.pipeline.provisioner
    configs = Path(provisioner.workspace_dir(workspace_id)) / "configs"
    configs.mkdir(parents=True, exist_ok=True)
    return configs


async def shared(h: Harness, ws: dict[str, Any]) -> Any:
    r = await h.client.get(f"/workspaces/{ws['id']}/shared-context", headers=bearer(ws))
    assert r.status_code == 200, r.text
    return r.json()


async def test_listed_files_are_returned(platform: Harness, tmp_path: Path) -> None:
    h = platform
    ws = await h.create_external("ctx")
    configs = configs_of(h, ws["id"])
    (configs / "guide.md").write_text("# Guide\nbe nice\n")
    (configs / "team").mkdir()
    (configs / "team" / "roster.md").write_text("alice, bob")
    (configs / "binary.bin").write_bytes(b"ok \xff end")
    (configs / ".auth_token").write_text("the-token")
    (configs / "big.md").write_bytes(b"x" * (shared_context.MAX_FILE_BYTES + 1))
    outside = tmp_path / "outside.md"
    outside.write_text("not yours")
    (configs / "link.md").symlink_to(outside)
    os.mkfifo(configs / "fifo")
    (configs / "config.yaml").write_text(
        "name: ctx\nshared_context:\n"
        "  - guide.md\n  - team/roster.md\n  - binary.bin\n  - missing.md\n"
        "  - ../configs/guide.md\n  - /etc/passwd\n  - .auth_token\n  - big.md\n"
        "  - link.md\n  - fifo\n  - team\n  - 42\n  - ./guide.md\n"
    )
    assert await shared(h, ws) == [
        {"path": "guide.md", "content": "# Guide\nbe nice\n"},
        {"path": "team/roster.md", "content": "alice, bob"},
        {"path": "binary.bin", "content": "ok \ufffd end"},
    ]


async def test_nothing_to_share_is_an_empty_list(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("empty")
    assert await shared(h, ws) == []  # no config directory at all
    configs = configs_of(h, ws["id"])
    for text in ("name: x\n", "shared_context: notalist\n", ": : :\n  - [", "- a\n- b\n"):
        (configs / "config.yaml").write_text(text)
        assert await shared(h, ws) == [], text
    (configs / "config.yaml").write_bytes(b"#" * (shared_context.MAX_CONFIG_BYTES + 1))
    assert await shared(h, ws) == []


async def test_bounds_on_entries_and_total(platform: Harness, monkeypatch: Any) -> None:
    h = platform
    monkeypatch.setattr(shared_context, "MAX_TOTAL_BYTES", 10)
    ws = await h.create_external("bounded")
    configs = configs_of(h, ws["id"])
    for name in ("a", "b", "c"):
        (configs / name).write_text("12345")
    listed = "".join(f"  - {n}\n" for n in ["a", "b", "c"])
    (configs / "config.yaml").write_text(f"shared_context:\n{listed}")
    assert [f["path"] for f in await shared(h, ws)] == ["a", "b"]  # the budget is spent

    monkeypatch.setattr(shared_context, "MAX_TOTAL_BYTES", 10**6)
    many = "".join(f"  - f{i}\n" for i in range(shared_context.MAX_ENTRIES + 5))
    for i in range(shared_context.MAX_ENTRIES + 5):
        (configs / f"f{i}").write_text("x")
    (configs / "config.yaml").write_text(f"shared_context:\n{many}")
    assert len(await shared(h, ws)) == shared_context.MAX_ENTRIES


async def test_refusals(platform: Harness) -> None:
    h = platform
    a = await h.create_external("a")
    b = await h.create_external("b")
    url = f"/workspaces/{a['id']}/shared-context"
    assert (await h.client.get(url)).status_code == 401
    r = await h.client.get(url, headers=bearer(b))
    assert r.status_code == 401 and r.json()["error"] == "invalid workspace auth token"
    unknown = "00000000-0000-4000-8000-000000000000"
    r = await h.client.get(f"/workspaces/{unknown}/shared-context", headers=h.admin)
    assert r.status_code == 404
    r = await h.client.get("/workspaces/nope/shared-context", headers=h.admin)
    assert r.status_code == 400
    assert (await h.client.get(url, headers=h.admin)).json() == []
