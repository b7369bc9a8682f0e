"""`github://` plugins against a local git server (`git daemon` on loopback): pinned tags and
commits, PLUGIN_ALLOW_UNPINNED, fetch failures answered without any of git's detail, and the
same tree checks as any archive; every refusal leaves rows and files as they were."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from molecule.errors import BadGateway
from molecule.provision.plugins_github import UNPINNED, GithubResolver, GithubSpec
from molecule.provision.plugins_staging import Limits
from tests.conftest import Harness
from tests.http.plugins_support import echo_workspace, plugins_dir, state, tree, untar

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
}  # fmt: skip
FETCH_FAILED = "failed to fetch plugin from github"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def publish(root: Path, name: str, files: dict[str, bytes | str], tag: str | None = None) -> str:
    """A bare repository `<root>/owner/<name>.git` with `files` committed; its commit."""
    work = root / "work" / name
    work.mkdir(parents=True, exist_ok=True)
    if not (work / ".git").exists():
        git(work, "init", "-q", "-b", "main")
    for rel, content in files.items():
        path = work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str) and content.startswith("->"):
            path.symlink_to(content[2:])
        else:
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "c")
    if tag:
        git(work, "tag", tag)
    bare = root / "srv" / "owner" / f"{name}.git"
    if bare.exists():
        git(work, "push", "-q", "--tags", str(bare), "main")
    else:
        bare.parent.mkdir(parents=True, exist_ok=True)
        git(root, "clone", "-q", "--bare", str(work), str(bare))
    return git(work, "rev-parse", "HEAD")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    root = tmp_path_factory.mktemp("git")
    commits = {"v1": publish(root, "good", {"plugin.yaml": "version: 1.0.0\n"}, tag="v1.0.0")}
    commits["head"] = publish(root, "good", {"plugin.yaml": "version: 2.0.0\n", "b.md": "B"})
    publish(root, "linked", {"plugin.yaml": "x: 1\n", "passwd": "->/etc/passwd"}, tag="v1")
    publish(root, "bomb", {"plugin.yaml": "x: 1\n", "zeros": bytes(24 << 20)}, tag="v1")
    port = free_port()
    daemon = subprocess.Popen(
        ["git", "daemon", "--export-all", f"--base-path={root / 'srv'}", "--reuseaddr",
         "--listen=127.0.0.1", f"--port={port}", str(root / "srv")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "git daemon did not start"
                time.sleep(0.05)
        yield f"git://127.0.0.1:{port}", commits
    finally:
        daemon.terminate()
        daemon.wait(10)


async def installed_sha(h: Harness, wid: str, name: str) -> str | None:
    value: str | None = await h.svc.store.fetchval(
        "SELECT installed_sha FROM workspace_plugins WHERE workspace_id = $1 AND plugin_name = $2",
        wid,
        name,
    )
    return value


async def test_pinned_refs_install_and_download(
    platform: Harness, git_server: tuple[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    h = platform
    url, commits = git_server
    h.svc.plugins.github.base_url = url
    monkeypatch.delenv("PLUGIN_ALLOW_UNPINNED", raising=False)
    wid, own = await echo_workspace(h, "gh")
    route = f"/workspaces/{wid}/plugins"

    r = await h.client.post(route, json={"source": "github://owner/good#v1.0.0"}, headers=own)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "status": "installed", "plugin": "good", "source": "github://owner/good#v1.0.0",
    }  # fmt: skip
    assert tree(plugins_dir(h, wid) / "good") == {"plugin.yaml": b"version: 1.0.0\n"}
    assert await installed_sha(h, wid, "good") == commits["v1"]

    # A commit SHA pins too (the original's `clone --branch` could not fetch one).
    r = await h.client.post(route, json={"source": f"github://owner/good#{commits['v1']}"})
    assert r.status_code == 401
    r = await h.client.post(
        route, json={"source": f"github://owner/good#{commits['v1']}"}, headers=own
    )
    assert r.status_code == 200, r.text

    r = await h.client.get(
        f"{route}/good/download", params={"source": "github://owner/good#v1.0.0"}, headers=own
    )
    assert r.status_code == 200, r.text
    assert untar(r.content) == {"plugin.yaml": b"version: 1.0.0\n"}
    assert r.headers["x-plugin-source"] == "github://owner/good#v1.0.0"

    monkeypatch.setenv("PLUGIN_ALLOW_UNPINNED", "true")
    r = await h.client.post(route, json={"source": "github://owner/good"}, headers=own)
    assert r.status_code == 200, r.text
    assert tree(plugins_dir(h, wid) / "good") == {"plugin.yaml": b"version: 2.0.0\n", "b.md": b"B"}
    assert await installed_sha(h, wid, "good") == commits["head"]


async def silent_server() -> tuple[trio.SocketListener, int]:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    listener = listeners[0]
    assert isinstance(listener, trio.SocketListener)
    return listener, int(listener.socket.getsockname()[1])


async def test_fetch_refusals_say_nothing_more_and_change_nothing(
    platform: Harness, git_server: tuple[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    h = platform
    url, _ = git_server
    monkeypatch.delenv("PLUGIN_ALLOW_UNPINNED", raising=False)
    monkeypatch.setenv("PLUGIN_INSTALL_MAX_DIR_BYTES", str(256 * 1024))
    wid, own = await echo_workspace(h, "gh-refusals")
    route = f"/workspaces/{wid}/plugins"
    listener, silent_port = await silent_server()  # accepts, never answers: a timeout
    closed_port = free_port()  # nobody listens: a connection refused

    def fetch_failed(source: str) -> dict[str, str]:
        return {"error": FETCH_FAILED, "source": source}

    cases: list[tuple[str, str, int, dict[str, Any] | str]] = [
        (url, "github://owner/good", 422, {"error": UNPINNED, "source": "github://owner/good"}),
        (url, "github://owner/missing#v1", 404, fetch_failed("github://owner/missing#v1")),
        (url, "github://owner/good#no-such-tag", 404, fetch_failed("github://owner/good#no-such-tag")),
        (url, "github://owner/linked#v1", 422, "passwd: symbolic link"),
        (url, "github://owner/bomb#v1", 413, "staged plugin exceeds size limit"),
        (url, "github://-owner/x#v1", 400, {"error": "invalid plugin source"}),
        (url, "github://owner/x#-upload-pack=evil", 400, {"error": "invalid plugin source"}),
        (f"git://127.0.0.1:{closed_port}", "github://owner/good#v1.0.0", 502,
         fetch_failed("github://owner/good#v1.0.0")),
        (f"git://127.0.0.1:{silent_port}", "github://owner/good#v1.0.0", 504,
         fetch_failed("github://owner/good#v1.0.0")),
    ]  # fmt: skip
    before = await state(h)
    try:
        for base, source, code, expected in cases:
            h.svc.plugins.github.base_url = base
            silent = base.endswith(f":{silent_port}")
            monkeypatch.setenv("PLUGIN_INSTALL_FETCH_TIMEOUT", "1s" if silent else "60s")
            r = await h.client.post(route, json={"source": source}, headers=own)
            assert r.status_code == code, f"{source}: {r.status_code} {r.text}"
            if isinstance(expected, dict):
                assert r.json() == expected, source
            else:
                assert expected in r.json()["error"], f"{source}: {r.text}"
            for leak in ("127.0.0.1", "git daemon", "fatal", "/srv/", "repository"):
                assert leak not in r.text, f"{source}: {r.text}"
            assert await state(h) == before, f"{source} changed something"
    finally:
        await listener.aclose()


async def test_without_git_a_fetch_is_a_redacted_502() -> None:
    resolver = GithubResolver("git://127.0.0.1:9", git="/nonexistent/git")
    with pytest.raises(BadGateway) as caught:
        await resolver.fetch(GithubSpec("owner", "good", "v1.0.0"), Limits())
    assert caught.value.status == 502 and caught.value.body() == {"error": FETCH_FAILED}
