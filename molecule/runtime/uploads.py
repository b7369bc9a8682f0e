"""`POST /internal/chat/uploads/ingest`: where the platform forwards chat uploads.

Bearer = `.platform_inbound_secret` (401 otherwise). A declared `Content-Length` over 100 MiB
is refused with 413 before reading. The multipart body is parsed as it streams in and every
`files` part is written straight to
`/workspace/.molecule/chat-uploads/<32 hex>-<sanitised name>` (mapped onto the workspace root),
created exclusive + no-follow with mode 0600; per-file and total caps (100 MiB) give 413 as
soon as they are crossed. Any failure removes the files this request already wrote, so a
refused upload leaves nothing behind. The 200 answer lists `{uri, name, mimeType, size}` with
`workspace:/workspace/...` URIs, whatever the on-disk location.
"""

from __future__ import annotations

import mimetypes
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from molecule.asgi import Request, Send, send_error, send_json
from molecule.errors import (
    BadRequest,
    ClientGone,
    MalformedForm,
    MkdirFailed,
    MoleculeError,
    PayloadTooLarge,
)
from molecule.form_parts import FormParts, PartData, PartEnd, PartStart, boundary_from
from molecule.runtime.credentials import Credentials
from molecule.runtime.internal_files import authorized
from molecule.workspace_paths import UPLOADS_DIR, VirtualRoots, sanitize_filename

MAX_BYTES = 100 * 1024 * 1024
MAX_FILES = 64
MAX_FIELDS = 32
MAX_FIELD_BYTES = 1024 * 1024
RAW_SLACK = 1024 * 1024  # multipart framing allowed on top of the file bytes
FLUSH_BYTES = 1024 * 1024
FIELD_NAME = "files"
DRAIN_BYTES = MAX_BYTES + RAW_SLACK
DRAIN_SECONDS = 30.0
# The original ran Starlette's form parser and named its exception in the 400 body.
PARSER_EXCEPTION = "MultiPartException"


@dataclass
class _OpenFile:
    fd: int
    path: Path
    stored: str
    name: str
    mime: str
    size: int = 0
    pending: bytearray | None = None


def _create(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class UploadSink:
    def __init__(self, roots: VirtualRoots) -> None:
        self.dir = roots.uploads_dir
        self.written: list[Path] = []
        self.results: list[dict[str, Any]] = []
        self._dir_ready = False
        self.total = 0
        self.files = 0
        self.fields = 0

    async def _ensure_dir(self) -> None:
        if self._dir_ready:
            return
        try:
            await trio.to_thread.run_sync(
                lambda: self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            )
        except OSError as exc:
            raise MkdirFailed(exc) from exc
        self._dir_ready = True

    async def _open(self, part: PartStart) -> _OpenFile:
        await self._ensure_dir()
        name = sanitize_filename(part.filename or "")
        stored = f"{uuid.uuid4().hex}-{name}"
        path = self.dir / stored
        fd = await trio.to_thread.run_sync(_create, path)
        self.written.append(path)
        mime = part.content_type or mimetypes.guess_type(name)[0] or ""
        return _OpenFile(fd, path, stored, name, mime, pending=bytearray())

    async def _flush(self, f: _OpenFile) -> None:
        if f.pending:
            data, f.pending = bytes(f.pending), bytearray()
            await trio.to_thread.run_sync(_write_all, f.fd, data)

    async def consume(self, chunks: AsyncIterator[bytes], boundary: bytes) -> None:
        """Parse and store the form; a refusal raises (MalformedForm, PayloadTooLarge,
        MkdirFailed). The next chunk is read only once the previous one is written."""
        parser = FormParts(boundary)
        current: _OpenFile | None = None
        field_size: int | None = None  # bytes of the current non-file field; None if none
        raw = 0
        try:
            async for chunk in chunks:
                raw += len(chunk)
                if raw > MAX_BYTES + RAW_SLACK:
                    raise PayloadTooLarge("request body too large", extra={"max": MAX_BYTES})
                for event in parser.feed(chunk):
                    if isinstance(event, PartStart):
                        current, field_size = await self._start(event)
                    elif isinstance(event, PartData):
                        if current is not None:
                            await self._data(current, event.data)
                        elif field_size is not None:
                            field_size += len(event.data)
                            if field_size > MAX_FIELD_BYTES:
                                raise MalformedForm("Part exceeded maximum size of 1024KB.")
                    elif isinstance(event, PartEnd) and current is not None:
                        await self._flush(current)
                        await trio.to_thread.run_sync(os.close, current.fd)
                        self.results.append(self._result(current))
                        current = None
                if parser.done:
                    break
            parser.finish()
        finally:
            if current is not None:
                os.close(current.fd)

    async def _start(self, part: PartStart) -> tuple[_OpenFile | None, int | None]:
        if part.filename is None:
            self.fields += 1
            if self.fields > MAX_FIELDS:
                raise MalformedForm(f"Too many fields. Maximum number of fields is {MAX_FIELDS}.")
            return None, 0
        self.files += 1
        if self.files > MAX_FILES:
            raise MalformedForm(f"Too many files. Maximum number of files is {MAX_FILES}.")
        if part.name != FIELD_NAME:
            return None, None  # a file under another field name: read past it
        return await self._open(part), None

    async def _data(self, f: _OpenFile, data: bytes) -> None:
        f.size += len(data)
        self.total += len(data)
        if f.size > MAX_BYTES:
            raise PayloadTooLarge(
                "file exceeds per-file cap", extra={"filename": f.name, "max": MAX_BYTES}
            )
        if self.total > MAX_BYTES:
            raise PayloadTooLarge("upload exceeds total cap", extra={"max": MAX_BYTES})
        assert f.pending is not None
        f.pending += data
        if len(f.pending) >= FLUSH_BYTES:
            await self._flush(f)

    @staticmethod
    def _result(f: _OpenFile) -> dict[str, Any]:
        return {
            "uri": f"workspace:{UPLOADS_DIR}/{f.stored}",
            "name": f.name,
            "mimeType": f.mime,
            "size": f.size,
        }

    def discard(self) -> None:
        for path in self.written:
            try:
                path.unlink()
            except OSError:
                pass
        self.written.clear()


async def drain(request: Request) -> None:
    """Read and discard what the client is still sending, within bounds, before answering.

    Closing a socket that has unread input makes the kernel send a reset, which can destroy
    an answer still in flight: the client (the platform's forwarder) would see "connection
    reset" instead of our 413/400. The original parsed the whole form before answering, so
    its clients always got the answer; we stop writing at the cap but keep reading a while.
    """
    drained = 0
    with trio.move_on_after(DRAIN_SECONDS):
        try:
            async with aclosing(request.stream()) as chunks:
                async for chunk in chunks:
                    drained += len(chunk)
                    if drained > DRAIN_BYTES:
                        return
        except ClientGone:
            return


async def _receive_files(request: Request, sink: UploadSink) -> list[dict[str, Any]]:
    """Parse the upload into `sink`; the stored files, or a refusal in the original's words."""
    try:
        boundary = boundary_from(request.header("content-type"))
        if boundary is not None:
            async with aclosing(request.stream()) as chunks:
                await sink.consume(chunks, boundary)
    except MalformedForm as exc:
        detail = {"exception": PARSER_EXCEPTION, "detail": exc.message}
        raise BadRequest("failed to parse multipart form", extra=detail) from exc
    except MkdirFailed as exc:
        raise MoleculeError(
            "failed to create upload directory",
            extra={"path": UPLOADS_DIR, "errno": exc.errno, "detail": exc.detail},
        ) from exc
    if not sink.results:
        raise BadRequest("expected at least one 'files' field")
    return sink.results


async def ingest(
    request: Request, send: Send, credentials: Credentials, roots: VirtualRoots
) -> None:
    if not await authorized(request, credentials):
        await send_error(send, 401, "unauthorized")
        return
    length = request.content_length
    if length is not None and length > MAX_BYTES:
        await send_error(send, 413, "request body too large", max=MAX_BYTES)
        return
    sink = UploadSink(roots)
    try:
        try:
            status, body = 200, {"files": await _receive_files(request, sink)}
        except ClientGone:
            raise
        except MoleculeError as refusal:
            status, body = refusal.status, refusal.body()
            await trio.to_thread.run_sync(sink.discard)
        await drain(request)  # usually nothing left; after an early refusal, the rest
    except ClientGone:
        await trio.to_thread.run_sync(sink.discard)
        return
    except BaseException:
        sink.discard()
        raise
    await send_json(send, status, body)
