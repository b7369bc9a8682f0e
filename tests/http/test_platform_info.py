"""`GET /buildinfo`, `GET /uploads/limits` and the canvas viewport."""

from __future__ import annotations

import platform as pyplatform
from pathlib import Path
from typing import Any

from molecule.http.auth import SESSION_COOKIE, make_session
from molecule.http.platform_info import git_sha
from molecule.operations.chat_staging import MAX_FILES
from molecule.store.pending_uploads import MAX_FILE_BYTES
from tests.conftest import ADMIN_TOKEN, Harness
from tests.http.test_registry import auth

SHA = "0123456789abcdef0123456789abcdef01234567"


def test_git_sha_reads_the_checkout(tmp_path: Path) -> None:
    git = tmp_path / ".git"
    assert git_sha(tmp_path) is None  # not a checkout
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    assert git_sha(tmp_path) is None  # a branch with no commit yet
    (git / "packed-refs").write_text(f"# pack-refs with: peeled\n{SHA} refs/heads/main\n")
    assert git_sha(tmp_path) == SHA
    other = SHA[::-1]
    (git / "refs" / "heads" / "main").write_text(other + "\n")  # a loose ref wins
    assert git_sha(tmp_path) == other
    (git / "HEAD").write_text(SHA + "\n")  # detached
    assert git_sha(tmp_path) == SHA
    (git / "HEAD").write_text("garbage\n")
    assert git_sha(tmp_path) is None


async def test_buildinfo_is_open(platform: Harness) -> None:
    h = platform
    r = await h.client.get("/buildinfo")
    assert r.status_code == 200
    info = r.json()
    assert set(info) == {"git_sha", "version", "python", "provisioner"}
    assert info["python"] == pyplatform.python_version()
    assert info["provisioner"] == h.svc.pipeline.provisioner.kind  # type: ignore[union-attr]
    assert info["git_sha"] == git_sha()
    assert info["version"]


async def test_upload_limits_are_the_enforced_ones(platform: Harness) -> None:
    r = await platform.client.get("/uploads/limits")
    assert r.status_code == 200
    assert r.json() == {
        "per_file_bytes": MAX_FILE_BYTES,
        "per_request_bytes": MAX_FILE_BYTES,
        "max_attachments_per_message": MAX_FILES,
    }


async def viewport_row(h: Harness) -> Any:
    row = await h.svc.store.fetchrow("SELECT x, y, zoom FROM canvas_viewport")
    return None if row is None else tuple(row)


async def test_viewport_round_trip(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("w")
    session = {"Cookie": f"{SESSION_COOKIE}={make_session(ADMIN_TOKEN)}"}
    r = await h.client.get("/canvas/viewport", headers=auth(ws["connection"]["auth_token"]))
    assert r.status_code == 200 and r.json() == {"x": 0, "y": 0, "zoom": 1}
    r = await h.client.put(
        "/canvas/viewport", json={"x": 12.5, "y": -3, "zoom": 0.75}, headers=session
    )
    assert r.status_code == 200 and r.json() == {"status": "saved"}
    r = await h.client.get("/canvas/viewport", headers=session)
    assert r.json() == {"x": 12.5, "y": -3, "zoom": 0.75}
    r = await h.client.put("/canvas/viewport", json={"x": 1}, headers=h.admin)
    assert r.status_code == 200
    assert await viewport_row(h) == (1.0, 0.0, 1.0)  # absent y is 0, absent zoom 1
    assert await h.svc.store.fetchval("SELECT count(*) FROM canvas_viewport") == 1


async def test_viewport_refusals_change_nothing(platform: Harness) -> None:
    h = platform
    ws = await h.create_external("w")
    await h.client.put("/canvas/viewport", json={"x": 5, "y": 6, "zoom": 2}, headers=h.admin)
    r = await h.client.get("/canvas/viewport")
    assert r.status_code == 401 and r.json()["error"] == "auth required"
    r = await h.client.get("/canvas/viewport", headers=auth("nope"))
    assert r.status_code == 401
    cases: list[tuple[Any, dict[str, str], int]] = [
        ({"x": 1}, {}, 401),
        ({"x": 1}, auth(ws["connection"]["auth_token"]), 401),
        ({"x": "1"}, h.admin, 400),
        ({"x": True}, h.admin, 400),
        ({"zoom": 0}, h.admin, 400),
        ({"zoom": -1}, h.admin, 400),
        ({"zoom": 1001}, h.admin, 400),
        ({"y": 1e10}, h.admin, 400),
        ({"x": 10**400}, h.admin, 400),
        ([1, 2], h.admin, 400),
    ]
    for body, headers, status in cases:
        r = await h.client.put("/canvas/viewport", json=body, headers=headers)
        assert r.status_code == status, (body, r.text)
    r = await h.client.put(
        "/canvas/viewport",
        content=b'{"x": NaN}',
        headers={**h.admin, "Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert await viewport_row(h) == (5.0, 6.0, 2.0)
