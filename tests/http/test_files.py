"""The files API: list, read, write, delete and bulk replace a workspace's files, with the
agent's path rules; no link is followed, and every refusal leaves the disk and the database
as they were."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from molecule.provision.local import LocalProcessProvisioner
from tests.conftest import Harness
from tests.http.footprint import footprint

ROOT_MESSAGE = "root must be one of: /configs, /workspace, /home, /plugins"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def workdir(h: Harness, wid: str) -> Path:
    provisioner = h.svc.pipeline.provisioner
    assert isinstance(provisioner, LocalProcessProvisioner)
    return provisioner.workspace_dir(wid)


async def external(h: Harness, name: str) -> tuple[str, dict[str, str]]:
    ws = await h.create_external(name)
    connection = ws["connection"]
    assert isinstance(connection, dict)
    return str(ws["id"]), auth(str(connection["auth_token"]))


async def test_write_read_list_and_delete(platform: Harness) -> None:
    h = platform
    wid, as_ws = await external(h, "files")
    base = f"/workspaces/{wid}/files"

    r = await h.client.get(base, headers=as_ws)
    assert r.status_code == 200 and r.json() == []  # nothing written yet

    r = await h.client.put(f"{base}/notes/plan.md", json={"content": "héllo\n"}, headers=as_ws)
    assert r.status_code == 200
    assert r.json() == {"status": "saved", "path": "notes/plan.md"}
    on_disk = workdir(h, wid) / "configs" / "notes" / "plan.md"
    assert on_disk.read_bytes() == "héllo\n".encode()

    r = await h.client.get(f"{base}/notes/plan.md", headers=as_ws)
    assert r.json() == {"path": "notes/plan.md", "content": "héllo\n", "size": 7}

    r = await h.client.get(base, headers=as_ws)
    assert r.json() == [{"path": "notes", "size": 0, "dir": True}]
    r = await h.client.get(base, params={"depth": "2"}, headers=as_ws)
    assert r.json() == [
        {"path": "notes", "size": 0, "dir": True},
        {"path": "notes/plan.md", "size": 7, "dir": False},
    ]
    r = await h.client.get(base, params={"path": "notes"}, headers=as_ws)
    assert r.json() == [{"path": "plan.md", "size": 7, "dir": False}]

    # Another root, by the admin.
    r = await h.client.put(
        f"{base}/src/main.py", params={"root": "/workspace"}, json={"content": "x = 1\n"},
        headers=h.admin,
    )  # fmt: skip
    assert r.status_code == 200
    assert (workdir(h, wid) / "workspace" / "src" / "main.py").read_text() == "x = 1\n"
    r = await h.client.get(f"{base}/src/main.py", params={"root": "/workspace"}, headers=as_ws)
    assert r.json()["content"] == "x = 1\n"
    r = await h.client.get(f"{base}/src/main.py", headers=as_ws)  # default root: /configs
    assert r.status_code == 404 and r.json() == {"error": "file not found"}

    # An empty body writes an empty file (the original bound a missing content to "").
    r = await h.client.put(f"{base}/empty.txt", json={}, headers=as_ws)
    assert r.status_code == 200 and (workdir(h, wid) / "configs" / "empty.txt").read_bytes() == b""

    r = await h.client.delete(f"{base}/notes/plan.md", headers=as_ws)
    assert r.json() == {"status": "deleted", "path": "notes/plan.md"}
    assert not on_disk.exists()
    r = await h.client.delete(f"{base}/notes/plan.md", headers=as_ws)
    assert r.status_code == 404
    r = await h.client.delete(f"{base}/src", params={"root": "/workspace"}, headers=as_ws)
    assert r.status_code == 200 and not (workdir(h, wid) / "workspace" / "src").exists()


async def test_bulk_replace_writes_over_configs_and_generates_a_config(platform: Harness) -> None:
    h = platform
    wid, as_ws = await external(h, "bulk team")
    base = f"/workspaces/{wid}/files"
    await h.client.put(f"{base}/keep.md", json={"content": "kept"}, headers=as_ws)
    files = {"system-prompt.md": "be brief", "skills/search/SKILL.md": "how to search"}
    r = await h.client.put(base, json={"files": files}, headers=as_ws)
    assert r.status_code == 200
    assert r.json() == {"status": "replaced", "workspace": wid, "files": 2, "source": "volume"}
    configs = workdir(h, wid) / "configs"
    assert (configs / "skills" / "search" / "SKILL.md").read_text() == "how to search"
    assert (configs / "keep.md").read_text() == "kept"  # files not named are left alone
    generated = yaml.safe_load((configs / "config.yaml").read_text())
    assert generated["name"] == "bulk team"
    assert generated["prompt_files"] == ["system-prompt.md"]
    assert generated["skills"] == ["search"]

    own = {"config.yaml": "name: mine\n"}
    r = await h.client.put(base, json={"files": own}, headers=as_ws)
    assert r.json()["files"] == 1
    assert (configs / "config.yaml").read_text() == "name: mine\n"
    r = await h.client.put(base, json={"files": {"other.md": "x"}}, headers=as_ws)
    assert (configs / "config.yaml").read_text() == "name: mine\n"  # one exists: not generated


async def test_credential_files_are_not_served(platform: Harness) -> None:
    h = platform
    wid, as_ws = await external(h, "creds")
    configs = workdir(h, wid) / "configs"
    configs.mkdir(parents=True)
    (configs / ".auth_token").write_text("the-token")
    (configs / ".platform_inbound_secret").write_text("the-secret")
    (configs / "config.yaml").write_text("name: x\n")
    before = await footprint(h)
    r = await h.client.get(f"/workspaces/{wid}/files", headers=h.admin)
    assert [e["path"] for e in r.json()] == ["config.yaml"]
    for name in (".auth_token", ".platform_inbound_secret"):
        url = f"/workspaces/{wid}/files/{name}"
        r = await h.client.get(url, headers=h.admin)
        assert r.status_code == 403 and r.json() == {"error": f"{name} is managed by the platform"}
        assert (await h.client.put(url, json={"content": "x"}, headers=as_ws)).status_code == 403
        assert (await h.client.delete(url, headers=as_ws)).status_code == 403
    r = await h.client.put(
        f"/workspaces/{wid}/files", json={"files": {".auth_token": "x"}}, headers=as_ws
    )
    assert r.status_code == 403
    assert await footprint(h) == before


async def test_refusals_change_nothing(platform: Harness) -> None:
    h = platform
    wid, as_ws = await external(h, "a")
    _, as_other = await external(h, "b")
    base = f"/workspaces/{wid}/files"
    await h.client.put(f"{base}/ok.txt", json={"content": "ok"}, headers=as_ws)
    before = await footprint(h)

    async def refused(method: str, url: str, status: int, error: str | None, **kw: Any) -> None:
        r = await h.client.request(method, url, **kw)
        assert r.status_code == status, (method, url, r.text)
        if error is not None:
            assert r.json()["error"] == error, (method, url)

    body = {"json": {"content": "x"}}
    for method, extra in (("GET", {}), ("PUT", body), ("DELETE", {})):
        url = f"{base}/ok.txt"
        await refused(method, url, 401, "missing workspace auth token", **extra)
        await refused(method, url, 401, "invalid workspace auth token", headers=as_other, **extra)
        await refused(
            method, "/workspaces/not-a-uuid/files/ok.txt", 400, "invalid workspace ID",
            headers=h.admin, **extra,
        )  # fmt: skip
        await refused(
            method, "/workspaces/00000000-0000-0000-0000-000000000001/files/ok.txt", 404,
            "workspace not found", headers=h.admin, **extra,
        )  # fmt: skip
        await refused(
            method, url, 400, ROOT_MESSAGE, params={"root": "/etc"}, headers=as_ws, **extra
        )
        await refused(method, url, 400, ROOT_MESSAGE, params={"root": ""}, headers=as_ws, **extra)
        for bad in (
            "..%2F..%2Fetc%2Fpasswd",
            "a%2F..%2F..%2Fx",
            "%2E%2E",
            "a/%2E/b",
            "a%00b",
            "n" * 300,
        ):
            await refused(method, f"{base}/{bad}", 400, None, headers=as_ws, **extra)
    await refused("GET", base, 401, "missing workspace auth token")
    await refused("GET", base, 401, "invalid workspace auth token", headers=as_other)
    for depth in ("0", "6", "x", "-1", "²", " 1"):
        await refused("GET", base, 400, "depth must be 1-5", params={"depth": depth}, headers=as_ws)
    for path in ("../etc", "/etc", "a/../../b", "a//b"):
        await refused("GET", base, 400, "invalid path", params={"path": path}, headers=as_ws)
    await refused("GET", base, 404, "directory not found", params={"path": "nope"}, headers=as_ws)
    await refused("GET", base, 400, None, params={"path": "ok.txt"}, headers=as_ws)
    for bad_body in ({"content": 5}, {"content": None}, [1]):
        await refused("PUT", f"{base}/new.txt", 400, "invalid request body", json=bad_body,
                      headers=as_ws)  # fmt: skip
    await refused("PUT", f"{base}/new.txt", 400, None, content=b"not json", headers=as_ws)
    await refused("PUT", f"{base}/ok.txt/under", 400, "a directory on the path is a file",
                  json={"content": "x"}, headers=as_ws)  # fmt: skip
    await refused("PUT", f"{base}/new.txt", 400, None, json={"content": "a\u0000b"}, headers=as_ws)

    # Bulk replace: validated whole before anything is written.
    many = {f"f{i}.md": "x" for i in range(201)}
    await refused("PUT", base, 400, "too many files (201), max 200", json={"files": many},
                  headers=as_ws)  # fmt: skip
    for files in ({"good.md": "x", "../evil.md": "x"}, {"good.md": "x", "/abs.md": "x"},
                  {"good.md": 1}, {"d": "file", "d/e.md": "under it"}):  # fmt: skip
        await refused("PUT", base, 400, "invalid request body", json={"files": files},
                      headers=as_ws)  # fmt: skip
    await refused("PUT", base, 400, "invalid request body", json={"files": []}, headers=as_ws)
    await refused("PUT", base, 401, "invalid workspace auth token", json={"files": {}},
                  headers=as_other)  # fmt: skip
    assert await footprint(h) == before


async def test_links_are_never_followed(platform: Harness, tmp_path: Path) -> None:
    h = platform
    wid, as_ws = await external(h, "links")
    base = f"/workspaces/{wid}/files"
    await h.client.put(f"{base}/ok.txt", json={"content": "ok"}, headers=as_ws)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret")
    configs = workdir(h, wid) / "configs"
    (configs / "dirlink").symlink_to(outside)
    (configs / "filelink").symlink_to(outside / "secret.txt")
    before = await footprint(h), sorted(p.name for p in outside.iterdir())

    link_error = "path goes through a symbolic link; links are not followed"
    for path in ("dirlink/secret.txt", "filelink"):
        r = await h.client.get(f"{base}/{path}", headers=as_ws)
        assert r.status_code == 400 and r.json() == {"error": link_error}
        r = await h.client.put(f"{base}/{path}", json={"content": "pwned"}, headers=as_ws)
        assert r.status_code == 400
    r = await h.client.put(f"{base}/dirlink/new/file.txt", json={"content": "x"}, headers=as_ws)
    assert r.status_code == 400
    for path in ("dirlink", "filelink"):
        assert (await h.client.delete(f"{base}/{path}", headers=as_ws)).status_code == 400
    r = await h.client.get(base, params={"path": "dirlink"}, headers=as_ws)
    assert r.status_code == 400
    r = await h.client.put(base, json={"files": {"dirlink/x.md": "x"}}, headers=as_ws)
    assert r.status_code == 400
    r = await h.client.get(base, params={"depth": "5"}, headers=as_ws)
    assert [e["path"] for e in r.json()] == ["ok.txt"]  # links are not listed
    assert (await footprint(h), sorted(p.name for p in outside.iterdir())) == before
    assert (outside / "secret.txt").read_text() == "top secret"


async def test_binary_and_oversized_files_are_refused(platform: Harness) -> None:
    h = platform
    wid, as_ws = await external(h, "bin")
    configs = workdir(h, wid) / "configs"
    configs.mkdir(parents=True)
    (configs / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    (configs / "big.log").write_bytes(b"x" * (5 * 1024 * 1024 + 1))
    r = await h.client.get(f"/workspaces/{wid}/files/image.png", headers=as_ws)
    assert r.status_code == 422
    assert r.json() == {
        "error": "file is not UTF-8 text; only text files can be read through this API"
    }
    r = await h.client.get(f"/workspaces/{wid}/files/big.log", headers=as_ws)
    assert r.status_code == 413
    r = await h.client.get(f"/workspaces/{wid}/files", headers=as_ws)
    assert {e["path"]: e["size"] for e in r.json()} == {
        "big.log": 5 * 1024 * 1024 + 1,
        "image.png": 10,
    }


async def test_a_removed_workspace_has_no_files(platform: Harness) -> None:
    h = platform
    wid, as_ws = await external(h, "gone")
    await h.client.put(f"/workspaces/{wid}/files/a.md", json={"content": "x"}, headers=as_ws)
    r = await h.client.delete(f"/workspaces/{wid}", headers=h.admin)
    assert r.status_code == 200
    assert not workdir(h, wid).exists()  # removal takes the files along
    r = await h.client.get(f"/workspaces/{wid}/files/a.md", headers=h.admin)
    assert r.status_code == 404 and r.json() == {"error": "workspace not found"}
    r = await h.client.put(f"/workspaces/{wid}/files/a.md", json={"content": "x"}, headers=h.admin)
    assert r.status_code == 404 and not workdir(h, wid).exists()
