"""Chat uploads/downloads through a real echo workspace, the resolve-and-forward refusals, the
SSRF guard on forwarding (docs/compatibility.md#d25), and poll-mode pending uploads."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import AsyncIterator, Iterator
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from molecule.http import chat_files
from molecule.http.auth import SESSION_COOKIE, make_session
from molecule.operations import chat_staging
from molecule.operations.chat_forwarding import pinned_request
from molecule.provision.local import LocalProcessProvisioner
from molecule.store.pending_uploads import (
    PendingUploads,
    StagedFile,
    gc_pending_uploads,
    unlink_orphaned_staging,
)
from tests.conftest import ADMIN_TOKEN, Harness

MB = 1024 * 1024


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def wait_online(h: Harness, wid: str, timeout: float = 30) -> None:
    with trio.fail_after(timeout):
        while (await h.client.get(f"/workspaces/{wid}", headers=h.admin)).json()[
            "status"
        ] != "online":
            await trio.sleep(0.1)


async def echo_workspace(h: Harness) -> str:
    r = await h.client.post(
        "/workspaces", json={"name": "files", "runtime": "echo"}, headers=h.admin
    )
    assert r.status_code == 201, r.text
    wid: str = r.json()["id"]
    await wait_online(h, wid)
    return wid


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


async def upload(h: Harness, wid: str, files: Any, headers: dict[str, str] | None = None) -> Any:
    return await h.client.post(
        f"/workspaces/{wid}/chat/uploads", files=files, headers=headers or h.admin
    )


async def download(
    h: Harness, wid: str, path: str | None, headers: dict[str, str] | None = None
) -> Any:
    params = {} if path is None else {"path": path}
    return await h.client.get(
        f"/workspaces/{wid}/chat/download", params=params, headers=headers or h.admin
    )


# -- push mode, real runtime ------------------------------------------------------------------


async def test_upload_then_download_byte_identical_and_refusals(platform: Harness) -> None:
    h = platform
    wid = await echo_workspace(h)
    payload = os.urandom(3 * MB + 17)
    r = await upload(
        h, wid, {"files": ("../../My Report (final).bin", payload, "application/x-test")}
    )
    assert r.status_code == 200, r.text
    [meta] = r.json()["files"]
    assert meta["name"] == "My_Report__final_.bin"
    assert meta["mimeType"] == "application/x-test" and meta["size"] == len(payload)
    assert meta["uri"].startswith("workspace:/workspace/.molecule/chat-uploads/")
    path = meta["uri"][len("workspace:") :]
    prov = h.svc.pipeline.provisioner
    assert isinstance(prov, LocalProcessProvisioner)
    assert prov.host_path(wid, path).read_bytes() == payload

    r = await download(h, wid, path)
    assert r.status_code == 200
    assert r.content == payload
    assert r.headers["content-length"] == str(len(payload))
    assert r.headers["content-disposition"].startswith("attachment; filename=")
    assert "content-type" in r.headers

    # The workspace's 4xx pass through unchanged.
    r = await download(h, wid, "/workspace/nope.txt")
    assert r.status_code == 404 and r.json() == {"error": "file not found"}
    r = await download(h, wid, "/agent-home/x")  # allowed here, refused by the workspace
    assert r.status_code == 400
    assert r.json()["error"] == "path must be under /configs, /workspace, /home, or /plugins"
    r = await upload(h, wid, {"other": ("a.txt", b"x", "text/plain")})
    assert r.status_code == 400 and r.json() == {"error": "expected at least one 'files' field"}

    # The platform's own download checks, in order.
    cases = [
        (None, "path query required"),
        ("", "path query required"),
        ("workspace/a", "path must be absolute"),
        ("/etc/passwd", "path must be under /configs, /workspace, /home, or /plugins"),
        ("/homex/a", "path must be under /configs, /workspace, /home, or /plugins"),
        ("/workspace/../etc/passwd", "invalid path"),
        ("/workspace//a", "invalid path"),
        ("/workspace/./a", "invalid path"),
        ("/workspace/a/", "invalid path"),
        ("/workspace/a..b", "invalid path"),
    ]
    for bad, message in cases:
        r = await download(h, wid, bad)
        assert (r.status_code, r.json()) == (400, {"error": message}), bad
    r = await download(h, "not-a-uuid", path)
    assert (r.status_code, r.json()) == (400, {"error": "invalid workspace ID"})
    r = await upload(h, "not-a-uuid", {"files": ("a", b"x")})
    assert (r.status_code, r.json()) == (400, {"error": "invalid workspace ID"})

    # WorkspaceAuth on both routes (the upload route is raw ASGI with its own header parsing).
    other = await h.create_external("other")
    other_token = other["connection"]["auth_token"]  # type: ignore[index]
    for call in (
        lambda hd: download(h, wid, path, hd),
        lambda hd: upload(h, wid, {"files": ("a", b"x")}, hd),
    ):
        r = await call({"X-None": "1"})
        assert (r.status_code, r.json()) == (401, {"error": "missing workspace auth token"})
        r = await call(bearer("wrong"))
        assert (r.status_code, r.json()) == (401, {"error": "invalid workspace auth token"})
        r = await call(bearer(other_token))
        assert (r.status_code, r.json()) == (401, {"error": "invalid workspace auth token"})
        r = await call({"Cookie": f"{SESSION_COOKIE}={make_session(ADMIN_TOKEN)}"})
        assert r.status_code in (200, 400), r.text
    # ...and a workspace's own token works on its own routes.
    r = await download(h, other["id"], "/workspace/x", bearer(other_token))  # type: ignore[arg-type]
    assert r.status_code in (422, 503), r.text  # past auth: no URL registered


def _vm_hwm_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.fixture
def big_file(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    path = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with path.open("wb") as f:
        for _ in range(50):
            chunk = os.urandom(MB)
            digest.update(chunk)
            f.write(chunk)
    yield path, digest.hexdigest()


async def test_50mb_round_trip_keeps_platform_memory_flat(
    platform: Harness, big_file: tuple[Path, str]
) -> None:
    h = platform
    wid = await echo_workspace(h)
    path, digest = big_file
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _vm_hwm_kb()
    with path.open("rb") as f:
        r = await h.client.post(
            f"/workspaces/{wid}/chat/uploads",
            files={"files": ("big.bin", f, "application/octet-stream")},
            headers=h.admin,
            timeout=120,
        )
    assert r.status_code == 200, r.text
    remote = r.json()["files"][0]["uri"][len("workspace:") :]
    got = hashlib.sha256()
    size = 0
    async with h.client.stream(
        "GET",
        f"/workspaces/{wid}/chat/download",
        params={"path": remote},
        headers=h.admin,
        timeout=120,
    ) as resp:
        assert resp.status_code == 200
        async for chunk in resp.aiter_bytes():
            got.update(chunk)
            size += len(chunk)
    assert size == 50 * MB and got.hexdigest() == digest
    growth_mb = (_vm_hwm_kb() - before) / 1024
    # Platform and test client share this process; a buffering platform would add >= 50 MB.
    print(f"platform+client peak RSS growth for 50 MB round trip: {growth_mb:.1f} MB")
    assert growth_mb < 25, f"peak RSS grew by {growth_mb:.1f} MB"


# -- resolve-and-forward refusals ------------------------------------------------------------


async def set_columns(h: Harness, wid: str, **values: Any) -> None:
    sets = ", ".join(f"{k} = ${i + 2}" for i, k in enumerate(values))
    await h.svc.store.execute(f"UPDATE workspaces SET {sets} WHERE id = $1", wid, *values.values())


async def both(h: Harness, wid: str) -> list[Any]:
    return [
        await upload(h, wid, {"files": ("a.txt", b"hello", "text/plain")}),
        await download(h, wid, "/workspace/a.txt"),
    ]


async def test_resolve_refusals(platform: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    h = platform
    wid = str((await h.create_external("ext"))["id"])

    for r in await both(h, "00000000-0000-4000-8000-000000000001"):
        assert (r.status_code, r.json()) == (404, {"error": "workspace not found"})

    await set_columns(h, wid, url=None, delivery_mode="push")
    for r in await both(h, wid):
        assert (r.status_code, r.json()) == (503, {"error": "workspace url not registered yet"})

    await set_columns(h, wid, url=None, delivery_mode="poll")
    r = await download(h, wid, "/workspace/a.txt")
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == (
        "workspace has no callback URL — chat download requires push-mode + public URL"
    )
    assert body["detail"].startswith(
        "This workspace registered without a publicly-reachable URL (delivery_mode is not 'push')."
    )

    dead = f"http://127.0.0.1:{closed_port()}/"
    await set_columns(h, wid, url=dead, delivery_mode="push", platform_inbound_secret=None)
    calls = (
        lambda: upload(h, wid, {"files": ("a.txt", b"hello", "text/plain")}),
        lambda: download(h, wid, "/workspace/a.txt"),
    )
    for call in calls:
        r = await call()
        assert r.status_code == 503
        assert r.json() == {
            "error": "workspace re-registering — please retry in 30 seconds",
            "detail": "Inbound secret was just minted. Workspace will pick it up on its next"
            " heartbeat.",
            "retry_after_seconds": 30,
        }
        minted = await h.svc.store.fetchval(
            "SELECT platform_inbound_secret FROM workspaces WHERE id = $1", wid
        )
        assert minted
        await set_columns(h, wid, platform_inbound_secret=None)

    async def broken(*_: Any) -> Any:
        raise OSError("db down")

    monkeypatch.setattr(h.svc.workspaces, "heal_inbound_secret", broken)
    for r in await both(h, wid):
        assert r.status_code == 503
        assert r.json() == {
            "error": "workspace not yet enrolled in v2 upload (RFC #2312)",
            "detail": "Failed to mint inbound secret. Reprovision the workspace if this persists.",
        }
    monkeypatch.undo()

    # With a secret, the URL the agent registered meets the SSRF guard, which refuses loopback
    # outside development (the reachable cases: test_forwarding_dials_the_vetted_address).
    await set_columns(h, wid, platform_inbound_secret="s3cret")
    for r in await both(h, wid):
        assert (r.status_code, r.json()) == (502, {"error": NOT_ROUTABLE})


# -- SSRF guard on forwarding ------------------------------------------------------------------

NOT_ROUTABLE = "workspace URL is not publicly routable"
NAME = "agent.chat-files.test"
VETTED = "127.0.0.2"  # where the fake agent listens: what the guard approves
REBOUND = "127.0.0.3"  # where the name points after the first lookup: nothing listens


class FakeAgent:
    """The two endpoints chat files are forwarded to (`/internal/file/read` and
    `/internal/chat/uploads/ingest`), over real HTTP; it records what reached it."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []  # (method, path, Host header)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.seen.append((scope["method"], scope["path"], headers.get("host", "")))
        if scope["path"] == "/internal/chat/uploads/ingest":
            files = [{"uri": "workspace:/workspace/a.txt", "name": "a.txt", "size": len(body)}]
            status, ctype, out = 200, b"application/json", json.dumps({"files": files}).encode()
        else:
            status, ctype, out = 200, b"text/plain", b"agent file"
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", ctype)]}
        )
        await send({"type": "http.response.body", "body": out})


async def serve_agent(nursery: trio.Nursery, agent: FakeAgent, host: str) -> int:
    config = Config()
    config.bind = [f"{host}:0"]
    config.accesslog = None
    config.graceful_timeout = 0.1
    binds = await nursery.start(
        lambda task_status: serve(agent, config, task_status=task_status)  # type: ignore[arg-type]
    )
    return int(binds[0].rsplit(":", 1)[1])


class RebindingResolver(trio.abc.HostnameResolver):
    """`NAME` answers VETTED to its first lookup and REBOUND ever after (a zero-TTL record
    flipped under us); other names resolve as usual. Numeric hosts never reach it."""

    def __init__(self) -> None:
        self.lookups = 0

    async def getaddrinfo(
        self,
        host: bytes | None,
        port: bytes | str | int | None,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[Any]:
        if host != NAME.encode():
            return await trio.to_thread.run_sync(
                socket.getaddrinfo, host, port, family, type, proto, flags
            )
        self.lookups += 1
        answer = VETTED if self.lookups == 1 else REBOUND
        return [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (answer, int(port or 0)))
        ]

    async def getnameinfo(self, sockaddr: Any, flags: int) -> tuple[str, str]:
        raise OSError("not used")


async def test_forwarding_refuses_unsafe_agent_urls(platform: Harness) -> None:
    """Outside development an agent-registered URL to loopback, a name resolving there, or
    the metadata address is refused before anything is sent; a platform-assigned loopback
    URL of an agent it runs is not (the echo-workspace tests above go through it)."""
    h = platform
    agent = FakeAgent()
    async with trio.open_nursery() as nursery:
        port = await serve_agent(nursery, agent, "127.0.0.1")
        wid = str((await h.create_external("ext"))["id"])
        for url in (
            f"http://127.0.0.1:{port}",
            f"http://localhost:{port}/",
            "http://169.254.169.254/latest",
            f"http://[::ffff:127.0.0.1]:{port}",
        ):
            await set_columns(h, wid, url=url, delivery_mode="push", platform_inbound_secret="s")
            for r in await both(h, wid):
                assert (r.status_code, r.json()) == (502, {"error": NOT_ROUTABLE}), url
        nursery.cancel_scope.cancel()
    assert agent.seen == []


async def test_forwarding_dials_the_vetted_address(dev_platform: Harness) -> None:
    """Development mode allows loopback agents, so the guard approves NAME at 127.0.0.2; the
    request goes there with the name as Host, and the name is never looked up again (a second
    lookup would answer 127.0.0.3, where nothing listens)."""
    h = dev_platform
    agent = FakeAgent()
    resolver = RebindingResolver()
    previous = trio.socket.set_custom_hostname_resolver(resolver)
    try:
        async with trio.open_nursery() as nursery:
            port = await serve_agent(nursery, agent, VETTED)
            wid = str((await h.create_external("pinned"))["id"])
            url = f"http://{NAME}:{port}"
            await set_columns(h, wid, url=url, delivery_mode="push", platform_inbound_secret="s")
            r = await upload(h, wid, {"files": ("a.txt", b"hello", "text/plain")})
            assert r.status_code == 200, r.text
            assert r.json()["files"][0]["name"] == "a.txt"
            assert resolver.lookups == 1
            resolver.lookups = 0  # the next check sees VETTED again, any later lookup REBOUND
            r = await download(h, wid, "/workspace/a.txt")
            assert (r.status_code, r.content) == (200, b"agent file")
            assert resolver.lookups == 1  # the guard's own; the client dialled its answer

            # The guard lets a dead loopback agent through in development: it is unreachable.
            dead = f"http://127.0.0.1:{closed_port()}"
            await set_columns(h, wid, url=dead)
            for r in await both(h, wid):
                assert (r.status_code, r.json()) == (502, {"error": "workspace unreachable"})
            nursery.cancel_scope.cancel()
    finally:
        trio.socket.set_custom_hostname_resolver(previous)
    host = f"{NAME}:{port}"
    assert agent.seen == [
        ("POST", "/internal/chat/uploads/ingest", host),
        ("GET", "/internal/file/read", host),
    ]


def test_pinned_request_keeps_the_name_for_host_and_tls() -> None:
    client = httpx.AsyncClient()
    url = "https://Agent.Example:8443/internal/file/read"
    address = IPv4Address("93.184.216.34")
    headers = {"Authorization": "Bearer s"}
    req = pinned_request(client, "GET", url, address, headers=headers, params={"path": "/a"})
    assert str(req.url) == "https://93.184.216.34:8443/internal/file/read?path=%2Fa"
    assert req.headers["authorization"] == "Bearer s"
    assert req.headers["host"] == "agent.example:8443"
    assert req.extensions["sni_hostname"] == "agent.example"
    req = pinned_request(
        client, "POST", "http://agent.example/x", IPv6Address("2001:db8::1"), headers={}
    )
    assert (str(req.url), req.headers["host"]) == ("http://[2001:db8::1]/x", "agent.example")
    assert "sni_hostname" not in req.extensions  # plain HTTP: no TLS name
    req = pinned_request(client, "GET", "http://127.0.0.1:9/x", None, headers={})
    assert (str(req.url), req.headers["host"]) == ("http://127.0.0.1:9/x", "127.0.0.1:9")


# -- poll mode -------------------------------------------------------------------------------


@pytest.fixture
async def poll_ws(platform: Harness) -> AsyncIterator[tuple[str, str]]:
    made = await platform.create_external("poller")
    wid = str(made["id"])
    await set_columns(platform, wid, url=None, delivery_mode="poll")
    yield wid, made["connection"]["auth_token"]  # type: ignore[index]


async def large_objects(h: Harness) -> int:
    return int(await h.svc.store.fetchval("SELECT count(*) FROM pg_largeobject_metadata"))


async def test_poll_mode_pending_upload_lifecycle(
    platform: Harness, poll_ws: tuple[str, str]
) -> None:
    h = platform
    wid, token = poll_ws
    big = os.urandom(2 * MB + 3)  # several staging slices
    with h.svc.bus.subscribe(wid) as sub:
        r = await upload(
            h,
            wid,
            [
                ("files", ("../../My Report (final).pdf", b"%PDF-1", "application/pdf; x=y")),
                ("files", ("big.bin", big, "not a type")),
                ("note", (None, b"plain field")),
            ],
            bearer(token),
        )
        assert r.status_code == 200, r.text
        files = r.json()["files"]
        events = []
        with trio.move_on_after(2):
            async for ev in sub:
                events.append(ev)
                if len(events) == 2:
                    break
    assert [f["name"] for f in files] == ["My_Report__final_.pdf", "big.bin"]
    assert [f["mimeType"] for f in files] == ["application/pdf", "application/octet-stream"]
    assert [f["size"] for f in files] == [6, len(big)]
    ids = []
    for f in files:
        prefix = f"platform-pending:{wid}/"
        assert f["uri"].startswith(prefix)
        ids.append(f["uri"][len(prefix) :])
    assert await large_objects(h) == 0
    assert [e.type for e in events] == ["ACTIVITY_LOGGED", "ACTIVITY_LOGGED"]

    rows = await h.svc.store.fetch(
        "SELECT activity_type, target_id, method, summary, request_body, status"
        " FROM activity_logs WHERE workspace_id = $1 AND method = 'chat_upload_receive'"
        " ORDER BY created_at",
        wid,
    )
    assert len(rows) == 2
    row = dict(rows[0])
    assert row["activity_type"] == "a2a_receive" and row["target_id"] == wid
    assert row["summary"] == "chat_upload_receive: My_Report__final_.pdf"
    assert row["status"] == "ok"
    assert row["request_body"] == {
        "file_id": ids[0],
        "name": "My_Report__final_.pdf",
        "mimeType": "application/pdf",
        "size": 6,
        "uri": f"platform-pending:{wid}/{ids[0]}",
    }

    base = f"/workspaces/{wid}/pending-uploads"
    r = await h.client.get(f"{base}/{ids[1]}/content", headers=bearer(token))
    assert r.status_code == 200 and r.content == big
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-length"] == str(len(big))
    assert r.headers["content-disposition"] == (
        "attachment; filename=\"big.bin\"; filename*=UTF-8''big.bin"
    )
    r = await h.client.get(f"{base}/{ids[0]}/content", headers=bearer(token))
    assert r.content == b"%PDF-1" and r.headers["content-type"] == "application/pdf"
    fetched = await h.svc.store.fetchval(
        "SELECT fetched_at FROM pending_uploads WHERE file_id = $1", ids[0]
    )
    assert fetched is not None

    # Another workspace's route, bad ids, auth.
    other = str((await h.create_external("other"))["id"])
    r = await h.client.get(f"/workspaces/{other}/pending-uploads/{ids[0]}/content", headers=h.admin)
    assert (r.status_code, r.json()) == (404, {"error": "pending upload not found"})
    r = await h.client.post(f"/workspaces/{other}/pending-uploads/{ids[0]}/ack", headers=h.admin)
    assert (r.status_code, r.json()) == (404, {"error": "pending upload not found"})
    r = await h.client.get(f"{base}/nope/content", headers=h.admin)
    assert (r.status_code, r.json()) == (400, {"error": "invalid file_id"})
    r = await h.client.post("/workspaces/nope/pending-uploads/x/ack", headers=h.admin)
    assert (r.status_code, r.json()) == (400, {"error": "invalid workspace ID"})
    r = await h.client.get(f"{base}/{ids[0]}/content")
    assert r.status_code == 401

    # Ack, then everything about that file is gone.
    gone = {"error": "pending upload not found, expired, or already acked"}
    r = await h.client.post(f"{base}/{ids[0]}/ack", headers=bearer(token))
    assert (r.status_code, r.json()) == (200, {"acked": True})
    r = await h.client.post(f"{base}/{ids[0]}/ack", headers=bearer(token))
    assert (r.status_code, r.json()) == (404, gone)
    r = await h.client.get(f"{base}/{ids[0]}/content", headers=bearer(token))
    assert (r.status_code, r.json()) == (404, gone)
    r = await h.client.get(f"{base}/00000000-0000-4000-8000-000000000009/content", headers=h.admin)
    assert (r.status_code, r.json()) == (404, gone)

    # A concurrent ack loses the race (store level: the route reports raced:true).
    pending = PendingUploads(h.svc.store)
    assert await pending.ack(ids[1]) is True
    assert await pending.ack(ids[1]) is False

    # GC: acked > 1 h ago, and unacked past expiry; a fresh unacked row and a fresh ack stay.
    r = await upload(h, wid, {"files": ("keep.txt", b"keep")}, bearer(token))
    keep = r.json()["files"][0]["uri"].rsplit("/", 1)[1]
    r = await upload(h, wid, {"files": ("old.txt", b"old")}, bearer(token))
    expired = r.json()["files"][0]["uri"].rsplit("/", 1)[1]
    await h.svc.store.execute(
        "UPDATE pending_uploads SET acked_at = now() - interval '2 hours' WHERE file_id = $1",
        ids[0],
    )
    await h.svc.store.execute(
        "UPDATE pending_uploads SET expires_at = now() - interval '1 second' WHERE file_id = $1",
        expired,
    )
    r = await h.client.get(f"{base}/{expired}/content", headers=h.admin)
    assert (r.status_code, r.json()) == (404, gone)
    assert await gc_pending_uploads(h.svc.store) == 2
    left = {r["file_id"] for r in await h.svc.store.fetch("SELECT file_id FROM pending_uploads")}
    assert left == {ids[1], keep}


async def test_poll_mode_refusals(
    platform: Harness, poll_ws: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    h = platform
    wid, token = poll_ws
    url = f"/workspaces/{wid}/chat/uploads"
    r = await h.client.post(
        url, content=b"{}", headers={**h.admin, "Content-Type": "application/json"}
    )
    assert (r.status_code, r.json()) == (400, {"error": "malformed multipart body"})
    r = await h.client.post(
        url,
        content=b'--xx\r\nContent-Disposition: form-data; name="files"; filename="a"\r\n\r\nab',
        headers={**h.admin, "Content-Type": "multipart/form-data; boundary=xx"},
    )
    assert (r.status_code, r.json()) == (400, {"error": "malformed multipart body"})
    r = await upload(h, wid, {"other": ("a.txt", b"x")})
    assert (r.status_code, r.json()) == (400, {"error": "no files field in request"})
    r = await upload(h, wid, [("files", (f"f{i}.txt", b"x")) for i in range(65)])
    assert (r.status_code, r.json()) == (400, {"error": "too many files (limit 64)"})
    # Better than the original (its table's size check made this a 500): a clear 400, and
    # nothing of the upload's other files is kept.
    r = await upload(h, wid, [("files", ("ok.txt", b"x")), ("files", ("empty.txt", b""))])
    assert (r.status_code, r.json()) == (400, {"error": "file is empty", "filename": "empty.txt"})

    monkeypatch.setattr(chat_staging, "MAX_FILE_BYTES", 3 * MB)
    r = await upload(
        h, wid, [("files", ("ok.txt", b"x")), ("files", ("huge.bin", os.urandom(4 * MB)))]
    )
    assert r.status_code == 413
    body = r.json()
    assert body["error"] == "file exceeds per-file cap" and body["filename"] == "huge.bin"
    assert body["max"] == 3 * MB and body["size"] > 3 * MB

    assert await h.svc.store.fetchval("SELECT count(*) FROM pending_uploads") == 0
    assert await large_objects(h) == 0
    assert (
        await h.svc.store.fetchval(
            "SELECT count(*) FROM activity_logs WHERE method = 'chat_upload_receive'"
        )
        == 0
    )


async def test_boot_unlinks_staging_objects_of_an_interrupted_upload(
    platform: Harness, poll_ws: tuple[str, str]
) -> None:
    """A process killed mid-upload leaves its staged slices as large objects; the next boot
    (which runs this sweep before serving) removes them and keeps committed rows."""
    h = platform
    wid, _ = poll_ws
    r = await upload(h, wid, {"files": ("kept.txt", b"committed bytes")})
    assert r.status_code == 200, r.text
    kept = r.json()["files"][0]["uri"].rsplit("/", 1)[1]
    pending = PendingUploads(h.svc.store)
    for name in ("a.bin", "b.bin"):
        await pending.append(StagedFile(name, ""), os.urandom(1000))
    assert await large_objects(h) == 2
    assert await unlink_orphaned_staging(h.svc.store) == 2
    assert await large_objects(h) == 0
    assert await unlink_orphaned_staging(h.svc.store) == 0
    assert await pending.read_slice(kept, 0, 100) == b"committed bytes"


def test_mimetype_and_disposition_rules() -> None:
    clean = chat_staging.clean_mimetype
    assert clean(None) == "" and clean("") == "" and clean(" ; a=b") == ""
    assert clean("text/plain; charset=utf-8") == "text/plain"
    assert clean("text") == "application/octet-stream"
    assert clean("text/pl ain") == "application/octet-stream"
    assert clean("a/b/c") == "application/octet-stream"
    assert clean("text/\x01x") == "application/octet-stream"
    assert chat_files.content_disposition('ré"s.txt') == (
        "attachment; filename=\"r__s.txt\"; filename*=UTF-8''r%C3%A9%22s.txt"
    )
