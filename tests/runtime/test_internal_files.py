"""`GET /internal/file/read`: every refusal and the served file, on a mapped root."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import quote

import pytest

from molecule.errors import PathRefused
from molecule.runtime.internal_files import content_disposition
from molecule.runtime.main import Running
from molecule.workspace_paths import VirtualRoots, validate_virtual
from tests.runtime.conftest import Harness

UNDER = "path must be under /configs, /workspace, /home, or /plugins"


async def read(harness: Harness, running: Running, path: str | None, auth: str | None = "ok"):
    headers = {}
    if auth == "ok":
        headers["Authorization"] = f"Bearer {harness.platform.secret}"
    elif auth is not None:
        headers["Authorization"] = auth
    params = {"path": path} if path is not None else {}
    return await harness.http.get(
        running.url + "/internal/file/read", params=params, headers=headers
    )


async def test_auth_failures_are_401(harness: Harness) -> None:
    (harness.root / "workspace" / "a.txt").write_text("x")
    async with harness.runtime() as running:
        for auth in (
            None,
            "Bearer wrong",
            f"bearer {harness.platform.secret}",
            f"Basic {harness.platform.secret}",
        ):
            resp = await read(harness, running, "/workspace/a.txt", auth)
            assert resp.status_code == 401 and resp.json() == {"error": "unauthorized"}
        # secret file missing or empty: fail closed, even for the right value
        secret_file = harness.configs / ".platform_inbound_secret"
        secret_file.unlink()
        assert (await read(harness, running, "/workspace/a.txt")).status_code == 401
        secret_file.write_text("")
        assert (await read(harness, running, "/workspace/a.txt")).status_code == 401
        secret_file.write_text(harness.platform.secret)
        assert (await read(harness, running, "/workspace/a.txt")).status_code == 200


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (None, "path query required"),
        ("", "path query required"),
        ("workspace/a.txt", "path must be absolute"),
        ("/etc/passwd", UNDER),
        ("/homex/a", UNDER),
        ("/", UNDER),
        ("/workspace//a.txt", "invalid path"),
        ("/workspace/./a.txt", "invalid path"),
        ("/workspace/../configs/.auth_token", "invalid path"),
        ("/workspace/a..txt", "invalid path"),
        ("/workspace/", "invalid path"),
    ],
)
async def test_path_validation_400(harness: Harness, path: str | None, message: str) -> None:
    async with harness.runtime() as running:
        resp = await read(harness, running, path)
        assert resp.status_code == 400 and resp.json() == {"error": message}


async def test_not_found_and_non_regular(harness: Harness) -> None:
    ws = harness.root / "workspace"
    (ws / "target.txt").write_text("secret-ish")
    (ws / "link.txt").symlink_to(ws / "target.txt")  # symlink to an allowed file: refused
    (ws / "dangling").symlink_to(ws / "nowhere")
    (ws / "sub").mkdir()
    sock_path = ws / "sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    fifo = ws / "fifo"
    os.mkfifo(fifo)
    try:
        async with harness.runtime() as running:
            for path in ("/workspace/missing.txt", "/plugins/none/x", "/workspace/target.txt/x"):
                resp = await read(harness, running, path)
                assert resp.status_code == 404 and resp.json() == {"error": "file not found"}
            for path in (
                "/workspace/link.txt",
                "/workspace/dangling",
                "/workspace/sub",
                "/workspace",
                "/workspace/sock",
                "/workspace/fifo",
            ):
                resp = await read(harness, running, path)
                assert resp.status_code == 400, path
                assert resp.json() == {"error": "path is not a regular file"}
    finally:
        sock.close()


async def test_stat_failure_is_500(harness: Harness) -> None:
    async with harness.runtime() as running:
        # a component longer than NAME_MAX: lstat fails with ENAMETOOLONG, not ENOENT
        resp = await read(harness, running, "/workspace/" + "a" * 300)
        assert resp.status_code == 500 and resp.json() == {"error": "stat failed"}


async def test_regular_file_200_with_headers(harness: Harness) -> None:
    data = os.urandom(300_000)
    (harness.root / "workspace" / "blob.bin").write_bytes(data)
    (harness.root / "configs" / "notes.txt").write_text("héllo\n")
    uploads = harness.root / "workspace" / ".molecule" / "chat-uploads"
    uploads.mkdir(parents=True)
    (uploads / "abc-report.pdf").write_bytes(b"%PDF-1.4")
    (harness.root / "plugins" / "empty.json").write_bytes(b"")
    async with harness.runtime() as running:
        resp = await read(harness, running, "/workspace/blob.bin")
        assert resp.status_code == 200 and resp.content == data
        assert resp.headers["content-type"] == "application/octet-stream"
        assert resp.headers["content-length"] == str(len(data))
        assert resp.headers["content-disposition"] == (
            "attachment; filename=\"blob.bin\"; filename*=UTF-8''blob.bin"
        )
        assert resp.headers["etag"].startswith('"') and resp.headers["last-modified"]

        text = await read(harness, running, "/configs/notes.txt")
        assert text.headers["content-type"] == "text/plain; charset=utf-8"
        assert text.content == "héllo\n".encode()

        pdf = await read(harness, running, "/workspace/.molecule/chat-uploads/abc-report.pdf")
        assert pdf.headers["content-type"] == "application/pdf" and pdf.content == b"%PDF-1.4"

        empty = await read(harness, running, "/plugins/empty.json")
        assert empty.status_code == 200 and empty.content == b""
        assert empty.headers["content-type"] == "application/json"


async def test_content_disposition_escaping(harness: Harness) -> None:
    name = 'we"ird\\ naïve.txt'
    (harness.root / "home" / name).write_text("x")
    async with harness.runtime() as running:
        resp = await read(harness, running, "/home/" + name)
        assert resp.status_code == 200
        raw = dict(resp.headers.raw)[b"content-disposition"].decode("utf-8")
        assert raw == content_disposition(name)
    assert content_disposition(name) == (
        'attachment; filename="we\\"ird\\\\ naïve.txt"; '
        "filename*=UTF-8''" + quote(name, safe="!#$&+-.^_`|~")
    )
    assert content_disposition("a\r\nb\x01c.txt") == (
        "attachment; filename=\"abc.txt\"; filename*=UTF-8''abc.txt"
    )


def test_validate_virtual_accepts_roots_and_children() -> None:
    for ok in ("/configs", "/workspace/a", "/home/x/y.txt", "/plugins/p/q"):
        assert validate_virtual(ok) == ok
    with pytest.raises(PathRefused):
        validate_virtual("/workspacex")


def test_roots_map_onto_host(tmp_path: Path) -> None:
    roots = VirtualRoots(tmp_path)
    assert roots.to_host("/workspace/a/b") == tmp_path / "workspace" / "a" / "b"
    assert roots.uploads_dir == tmp_path / "workspace" / ".molecule" / "chat-uploads"
    assert VirtualRoots().to_host("/configs/x") == Path("/configs/x")
