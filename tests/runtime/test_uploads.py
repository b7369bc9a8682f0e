"""`POST /internal/chat/uploads/ingest` and the streaming form parts."""

from __future__ import annotations

import re
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from molecule.errors import MalformedForm
from molecule.form_parts import FormParts, PartData, PartEnd, PartStart, boundary_from
from molecule.runtime import uploads
from molecule.runtime.main import Running
from molecule.workspace_paths import sanitize_filename
from tests.runtime.conftest import Harness

BOUNDARY = "xXxBoUnDaRyxXx"
MP = f"multipart/form-data; boundary={BOUNDARY}"
URI = re.compile(r"^workspace:/workspace/\.molecule/chat-uploads/([0-9a-f]{32})-(.+)$")


def part(name: str, data: bytes, filename: str | None = None, ctype: str | None = None) -> bytes:
    disp = f'form-data; name="{name}"'
    if filename is not None:
        disp += f'; filename="{filename}"'
    head = f"Content-Disposition: {disp}\r\n"
    if ctype:
        head += f"Content-Type: {ctype}\r\n"
    return f"--{BOUNDARY}\r\n{head}\r\n".encode() + data + b"\r\n"


def form(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


async def ingest(
    harness: Harness,
    running: Running,
    body: bytes | AsyncIterator[bytes],
    ctype: str = f"multipart/form-data; boundary={BOUNDARY}",
    auth: str | None = "ok",
):
    headers = {"content-type": ctype}
    if auth == "ok":
        headers["authorization"] = f"Bearer {harness.platform.secret}"
    elif auth is not None:
        headers["authorization"] = auth
    return await harness.http.post(
        running.url + "/internal/chat/uploads/ingest", content=body, headers=headers
    )


async def chunked(body: bytes) -> AsyncIterator[bytes]:
    """Send `body` without a Content-Length (chunked), so only the streaming caps apply."""
    for i in range(0, len(body), 256):
        yield body[i : i + 256]


def uploads_dir(harness: Harness) -> Path:
    return harness.root / "workspace" / ".molecule" / "chat-uploads"


def stored(harness: Harness) -> list[Path]:
    d = uploads_dir(harness)
    return sorted(d.iterdir()) if d.exists() else []


async def test_ingest_success(harness: Harness) -> None:
    body = form(
        part("files", b"%PDF-1.4 report", "../../My Report (final).pdf", "application/pdf"),
        part("note", b"a plain field"),
        part("files", b"col1,col2\n", "data.csv"),  # no part type: guessed
        part("files", b"\x00\x01", "mystery"),  # no type, no guess: ""
        part("other", b"ignored file", "x.txt", "text/plain"),  # file under another field
    )
    async with harness.runtime() as running:
        resp = await ingest(harness, running, body)
    assert resp.status_code == 200, resp.text
    files = resp.json()["files"]
    assert [(f["name"], f["mimeType"], f["size"]) for f in files] == [
        ("My_Report__final_.pdf", "application/pdf", 15),
        ("data.csv", "text/csv", 10),
        ("mystery", "", 2),
    ]
    on_disk = {p.name: p for p in stored(harness)}
    assert len(on_disk) == 3
    for f in files:
        m = URI.match(f["uri"])
        assert m and m.group(2) == f["name"]
        path = on_disk[f"{m.group(1)}-{m.group(2)}"]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.stat().st_size == f["size"]
    first = URI.match(files[0]["uri"])
    assert first is not None
    assert (uploads_dir(harness) / f"{first.group(1)}-{first.group(2)}").read_bytes() == (
        b"%PDF-1.4 report"
    )


async def test_ingest_with_httpx_multipart_via_platform_shape(harness: Harness) -> None:
    async with harness.runtime() as running:
        resp = await harness.http.post(
            running.url + "/internal/chat/uploads/ingest",
            files=[("files", ("hello world.txt", b"hi there", "text/plain"))],
            headers={"authorization": f"Bearer {harness.platform.secret}"},
        )
    assert resp.status_code == 200
    [f] = resp.json()["files"]
    assert f["name"] == "hello_world.txt" and f["size"] == 8 and f["mimeType"] == "text/plain"


async def test_ingest_auth(harness: Harness) -> None:
    body = form(part("files", b"x", "a.txt"))
    async with harness.runtime() as running:
        for auth in (None, "Bearer nope", f"bearer {harness.platform.secret}"):
            resp = await ingest(harness, running, body, auth=auth)
            assert resp.status_code == 401 and resp.json() == {"error": "unauthorized"}
        (harness.configs / ".platform_inbound_secret").unlink()
        assert (await ingest(harness, running, body)).status_code == 401
    assert stored(harness) == []


async def test_declared_length_over_cap_is_413_before_parsing(harness: Harness) -> None:
    async with harness.runtime() as running:
        stream = await trio.open_tcp_stream("127.0.0.1", running.port)
        async with stream:
            request = (
                "POST /internal/chat/uploads/ingest HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: Bearer {harness.platform.secret}\r\n"
                f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                f"Content-Length: {100 * 1024 * 1024 + 1}\r\n\r\n"
            )
            await stream.send_all(request.encode() + b"--" + BOUNDARY.encode())
            data = b""
            with trio.fail_after(5):
                while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
                    chunk = await stream.receive_some(65536)
                    if not chunk:
                        break
                    data += chunk
    assert data.startswith(b"HTTP/1.1 413")
    assert b'"error":"request body too large"' in data
    assert stored(harness) == []


async def test_parse_failures_are_400(harness: Harness) -> None:
    async with harness.runtime() as running:
        cases = [
            (form(part("files", b"x", "a.txt"))[:-25], MP),  # truncated
            (b"whatever", "multipart/form-data"),  # no boundary
            (form(*[part("files", b"x", f"{i}.txt") for i in range(65)]), MP),
            (form(*[part(f"f{i}", b"v") for i in range(33)]), MP),
            (form(part("big", b"v" * (1024 * 1024 + 1))), MP),
        ]
        details = []
        for body, ctype in cases:
            resp = await ingest(harness, running, body, ctype=ctype)
            assert resp.status_code == 400, resp.text
            payload = resp.json()
            assert payload["error"] == "failed to parse multipart form"
            assert payload["exception"] == "MultiPartException"
            details.append(payload["detail"])
    assert details[1] == "Missing boundary in multipart."
    assert details[2] == "Too many files. Maximum number of files is 64."
    assert details[3] == "Too many fields. Maximum number of fields is 32."
    assert details[4] == "Part exceeded maximum size of 1024KB."
    assert stored(harness) == []  # the 64 files written before the 65th were removed


async def test_no_files_field_is_400(harness: Harness) -> None:
    async with harness.runtime() as running:
        for body, ctype in [
            (form(part("note", b"only a field")), f"multipart/form-data; boundary={BOUNDARY}"),
            (form(part("attachment", b"x", "a.txt")), f"multipart/form-data; boundary={BOUNDARY}"),
            (b'{"files": []}', "application/json"),  # not multipart: an empty form
            (b"", f"multipart/form-data; boundary={BOUNDARY}"),
        ]:
            resp = await ingest(harness, running, body, ctype=ctype)
            assert resp.status_code in (400,), resp.text
            if resp.json()["error"] != "failed to parse multipart form":
                assert resp.json() == {"error": "expected at least one 'files' field"}
    assert stored(harness) == []


async def test_caps_are_413_and_leave_nothing(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uploads, "MAX_BYTES", 1000)
    async with harness.runtime() as running:
        big = form(part("files", b"x" * 1001, "big.bin"))
        resp = await ingest(harness, running, chunked(big))
        assert resp.status_code == 413
        assert resp.json() == {
            "error": "file exceeds per-file cap",
            "filename": "big.bin",
            "max": 1000,
        }
        body = form(part("files", b"x" * 600, "a.bin"), part("files", b"y" * 600, "b.bin"))
        resp = await ingest(harness, running, chunked(body))
        assert resp.status_code == 413
        assert resp.json() == {"error": "upload exceeds total cap", "max": 1000}
        padded = form(part("files", b"x" * 10, "ok.bin"), part("pad", b"p" * 1100))
        resp = await ingest(harness, running, padded)  # declared length over the patched cap
        assert resp.status_code == 413
        assert resp.json() == {"error": "request body too large", "max": 1000}
    assert stored(harness) == []


async def test_real_size_file_over_100_mib_streams_and_is_refused(harness: Harness) -> None:
    """101 MiB sent chunked (no Content-Length to refuse early) over a raw socket: nothing
    stays on disk, and the 413 arrives (the runtime reads the rest before answering)."""
    head = part("files", b"", "huge.bin")[:-2]
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    chunk = b"z" * (1024 * 1024)
    async with harness.runtime() as running:
        stream = await trio.open_tcp_stream("127.0.0.1", running.port)
        async with stream:
            await stream.send_all(
                (
                    "POST /internal/chat/uploads/ingest HTTP/1.1\r\nHost: x\r\n"
                    f"Authorization: Bearer {harness.platform.secret}\r\n"
                    f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n"
                ).encode()
            )
            response = b""

            async def reader() -> None:
                nonlocal response
                while b"}" not in response:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    response += data

            with trio.fail_after(60):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(reader)
                    try:
                        for piece in [head, *[chunk] * 101, tail]:
                            await stream.send_all(b"%x\r\n%s\r\n" % (len(piece), piece))
                        await stream.send_all(b"0\r\n\r\n")  # end of the chunked body
                    except trio.BrokenResourceError:
                        pass  # the server answered and closed while we were still sending
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b'"error":"file exceeds per-file cap"' in response
    assert stored(harness) == []


async def test_mkdir_failure_is_500(harness: Harness) -> None:
    (harness.root / "workspace" / ".molecule").write_text("not a directory")
    async with harness.runtime() as running:
        resp = await ingest(harness, running, form(part("files", b"x", "a.txt")))
    assert resp.status_code == 500
    body = resp.json()
    assert body["error"] == "failed to create upload directory"
    assert body["path"] == "/workspace/.molecule/chat-uploads"
    assert isinstance(body["errno"], int) and body["detail"]


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../My Report (final).pdf", "My_Report__final_.pdf"),
        ("a b.txt", "a_b.txt"),
        ("naïve.txt", "na_ve.txt"),
        ("", "file"),
        (".", "file"),
        ("..", "file"),
        ("dir/", "file"),
        ("x" * 150 + ".tar.gz", "x" * 97 + ".gz"),
        ("y" * 150 + "." + "e" * 20, ("y" * 150 + "." + "e" * 20)[:100]),
        ("C:\\Users\\me\\doc.txt", "C__Users_me_doc.txt"),
    ],
)
def test_sanitize_filename(raw: str, clean: str) -> None:
    assert sanitize_filename(raw) == clean


def test_parser_handles_any_chunking() -> None:
    body = form(
        part("files", b"line1\r\nline2\r\n--not-the-boundary\r\n", "a.txt", "text/plain"),
        part("field", b"value"),
    )
    for size in (1, 2, 3, 7, 64, len(body)):
        parser = FormParts(BOUNDARY.encode())
        events = []
        for i in range(0, len(body), size):
            events += parser.feed(body[i : i + size])
        parser.finish()
        starts = [e for e in events if isinstance(e, PartStart)]
        assert [(s.name, s.filename, s.content_type) for s in starts] == [
            ("files", "a.txt", "text/plain"),
            ("field", None, None),
        ]
        data, current = [], b""
        for e in events:
            if isinstance(e, PartData):
                current += e.data
            elif isinstance(e, PartEnd):
                data.append(current)
                current = b""
        assert data == [b"line1\r\nline2\r\n--not-the-boundary\r\n", b"value"]


def test_parser_epilogue_and_errors() -> None:
    parser = FormParts(BOUNDARY.encode())
    events = parser.feed(form(part("files", b"x", "a")) + b"epilogue")
    parser.finish()
    assert parser.done and sum(isinstance(e, PartEnd) for e in events) == 1
    truncated = FormParts(BOUNDARY.encode())
    truncated.feed(form(part("files", b"x", "a"))[:-10])
    with pytest.raises(MalformedForm, match="Unexpected end of multipart body"):
        truncated.finish()
    with pytest.raises(MalformedForm):
        FormParts(BOUNDARY.encode()).feed(f"--{BOUNDARY}\r\nNoColonHere\r\n\r\n".encode())
    with pytest.raises(MalformedForm, match="Missing Content-Disposition header"):
        FormParts(BOUNDARY.encode()).feed(f"--{BOUNDARY}\r\nX-A: b\r\n\r\n".encode())
    with pytest.raises(MalformedForm, match="Missing 'name'"):
        FormParts(BOUNDARY.encode()).feed(
            f"--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\n".encode()
        )
    with pytest.raises(MalformedForm):
        FormParts(b"b" * 300)  # longer than any client sends (RFC 2046: 70)


def test_content_disposition_and_boundary() -> None:
    parser = FormParts(BOUNDARY.encode())
    [start, *_] = parser.feed(part("files", b"x", 'a \\"q\\".txt'))
    assert start == PartStart("files", 'a "q".txt', None)
    # UTF-8 names as browsers send them; RFC 7578 forbids `filename*`, so the plain name wins
    # (Starlette's parser does the same).
    raw = (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=files; filename=na\xc3\xafve.txt;"
        " filename*=UTF-8''other.txt\r\n\r\n"
    ).encode("latin-1")
    [start] = FormParts(BOUNDARY.encode()).feed(raw)
    assert start == PartStart("files", "naïve.txt", None)
    assert boundary_from('multipart/form-data; boundary="a;b"') == b"a;b"
    assert boundary_from("application/json") is None
    assert boundary_from(None) is None
    with pytest.raises(MalformedForm, match="Missing boundary in multipart."):
        boundary_from("multipart/form-data")
