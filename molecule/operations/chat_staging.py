"""Poll-mode chat files: staged on the platform until the agent fetches and acks them.

A poll-mode workspace cannot be reached, so an upload to it is staged, as in the original. It
is parsed as it streams in and each `files` part written in slices into a large object
(`molecule.store.pending_uploads`); one transaction then turns them into `pending_uploads`
rows and announces each with an `a2a_receive` activity row (`chat_upload_receive`), broadcast
once committed. The agent reads a file back in slices and acks it.

Nothing of a refused or failed upload is kept: its large objects are unlinked whatever went
wrong, and no row is written unless all of them are.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import trio

from molecule.errors import (
    BadRequest,
    DatastoreUnavailable,
    MalformedForm,
    MoleculeError,
    NotFound,
    PayloadTooLarge,
)
from molecule.events.activity_log import ActivityLog
from molecule.form_parts import FormParts, PartData, PartEnd, PartStart, boundary_from
from molecule.store.activity_rows import ActivityEntry
from molecule.store.pending_uploads import MAX_FILE_BYTES, READ_SLICE, PendingUploads, StagedFile
from molecule.store.pool import Connection, Store
from molecule.workspace_paths import sanitize_filename

log = logging.getLogger("molecule.operations.chat_staging")

MAX_FILES = 64
RAW_SLACK = 1024 * 1024  # multipart framing on top of the file bytes
STAGE_SLICE = 1024 * 1024  # bytes gathered before one large-object write
NOT_FOUND_LIVE = "pending upload not found, expired, or already acked"
COULD_NOT_STAGE = "could not stage files"
COULD_NOT_LOG = "could not log upload activity"


def malformed() -> BadRequest:
    return BadRequest("malformed multipart body")


def clean_mimetype(value: str | None) -> str:
    """Parameters stripped; empty -> ""; junk (control/space chars, not type/subtype) ->
    application/octet-stream."""
    base = (value or "").split(";", 1)[0].strip()
    if not base:
        return ""
    kind, sep, sub = base.partition("/")
    if not sep or not kind or not sub or "/" in sub or any(c <= " " or c == "\x7f" for c in base):
        return "application/octet-stream"
    return base


class ChatStaging:
    def __init__(self, store: Store, activity: ActivityLog) -> None:
        self.store = store
        self.activity = activity
        self.pending = PendingUploads(store)

    # -- an upload to a poll-mode workspace ------------------------------------------------

    async def stage(
        self, workspace_id: str, content_type: str | None, body: AsyncIterator[bytes]
    ) -> list[dict[str, Any]]:
        """Stage every `files` part of the multipart `body`; the `{uri, name, mimeType, size}`
        of each. Refusals raise (400, 413, 500) and leave nothing behind."""
        staged: list[StagedFile] = []
        try:
            await self._parse_into(content_type, body, staged)
            return await self._commit(workspace_id, staged)
        except BaseException:
            with trio.CancelScope(shield=True):
                try:
                    await self.pending.discard(staged)
                except Exception:
                    log.exception("workspace %s: discarding staged uploads failed", workspace_id)
            raise

    async def _parse_into(
        self, content_type: str | None, body: AsyncIterator[bytes], staged: list[StagedFile]
    ) -> None:
        """Stream the multipart body into large objects, one `StagedFile` per `files` part."""
        try:
            boundary = boundary_from(content_type)
        except MalformedForm:
            raise malformed() from None
        if boundary is None:
            raise malformed()
        parser = FormParts(boundary)
        current: StagedFile | None = None
        buf = bytearray()
        raw = 0
        try:
            async for chunk in body:
                raw += len(chunk)
                if raw > MAX_FILE_BYTES + RAW_SLACK:
                    raise malformed()  # the original's 100 MiB MaxBytesReader
                for event in parser.feed(chunk):
                    if isinstance(event, PartStart):
                        current = self._start(event, staged)
                    elif isinstance(event, PartData) and current is not None:
                        size = current.size + len(buf) + len(event.data)
                        if size > MAX_FILE_BYTES:
                            raise PayloadTooLarge(
                                "file exceeds per-file cap",
                                extra={
                                    "filename": current.name,
                                    "size": size,
                                    "max": MAX_FILE_BYTES,
                                },
                            )
                        buf += event.data
                        if len(buf) >= STAGE_SLICE:
                            await self.pending.append(current, bytes(buf))
                            buf.clear()
                    elif isinstance(event, PartEnd) and current is not None:
                        await self.pending.append(current, bytes(buf))
                        buf.clear()
                        if current.size == 0:
                            # The original let the table's size check fail: a 500 for bad input.
                            raise BadRequest("file is empty", extra={"filename": current.name})
                        current = None
                if parser.done:
                    break
            parser.finish()
        except MalformedForm:
            raise malformed() from None
        if not staged:
            raise BadRequest("no files field in request")

    @staticmethod
    def _start(part: PartStart, staged: list[StagedFile]) -> StagedFile | None:
        """A new file to stage, or None for a part that is not one of the `files`."""
        if part.name != "files" or not part.filename:
            return None  # a plain value (Go: no filename = not a file)
        if len(staged) >= MAX_FILES:
            raise BadRequest(f"too many files (limit {MAX_FILES})")
        current = StagedFile(sanitize_filename(part.filename), clean_mimetype(part.content_type))
        staged.append(current)
        return current

    async def _commit(self, workspace_id: str, staged: list[StagedFile]) -> list[dict[str, Any]]:
        """One transaction: the rows, then one activity row per file; broadcasts after commit."""
        entries: list[ActivityEntry] = []
        files: list[dict[str, Any]] = []
        step = COULD_NOT_STAGE  # what failed, should the transaction fail

        async def work(conn: Connection) -> None:
            nonlocal step
            ids = await self.pending.insert_in(conn, workspace_id, staged)
            step = COULD_NOT_LOG
            for file_id, f in zip(ids, staged, strict=True):
                uri = f"platform-pending:{workspace_id}/{file_id}"
                entry = ActivityEntry(
                    workspace_id=workspace_id,
                    activity_type="a2a_receive",
                    target_id=workspace_id,
                    method="chat_upload_receive",
                    summary=f"chat_upload_receive: {f.name}",
                    request_body={
                        "file_id": file_id, "name": f.name, "mimeType": f.mimetype,
                        "size": f.size, "uri": uri,
                    },
                    status="ok",
                )  # fmt: skip
                await self.activity.log_in(conn, entry)
                entries.append(entry)
                files.append({"uri": uri, "name": f.name, "mimeType": f.mimetype, "size": f.size})
            step = COULD_NOT_STAGE  # the commit itself

        try:
            await self.store.unit(work)
        except DatastoreUnavailable:
            raise  # an outage is a 503 with Retry-After, like everywhere else
        except Exception as exc:
            log.warning("workspace %s: %s: %r", workspace_id, step, exc)
            raise MoleculeError(step) from exc
        for f in staged:
            f.oid = None  # unlinked by the committed transaction
        for entry in entries:
            self.activity.broadcast(entry)
        return files

    # -- the agent's side ----------------------------------------------------------------

    async def live_upload(self, workspace_id: str, file_id: str) -> dict[str, Any]:
        """The unacked, unexpired row of this workspace's file (without its content)."""
        try:
            row = await self.pending.get(file_id)
        except DatastoreUnavailable:
            raise
        except Exception as exc:
            log.exception("pending upload %s: lookup failed", file_id)
            raise MoleculeError("storage error") from exc
        if row is None:
            raise NotFound(NOT_FOUND_LIVE)
        if row["workspace_id"] != workspace_id:
            raise NotFound("pending upload not found")
        return row

    async def content(self, file_id: str, size: int) -> AsyncIterator[bytes]:
        """The file in slices (a streamed response's body).

        The fetch is recorded before the last slice goes out, not after it: code after the
        final yield runs only once the server asks for more, which can be after the client
        already has the whole body and has moved on (to its ack, say)."""
        offset = 0
        while offset < size:
            data = await self.pending.read_slice(file_id, offset, READ_SLICE)
            if not data:
                break
            offset += len(data)
            if offset >= size:
                await self._mark_fetched(file_id)
            yield data
        if offset < size:  # the stored content ended early; still a fetch
            await self._mark_fetched(file_id)

    async def _mark_fetched(self, file_id: str) -> None:
        try:
            await self.pending.mark_fetched(file_id)
        except Exception:
            log.exception("pending upload %s: recording fetched_at failed", file_id)

    async def ack(self, file_id: str) -> bool:
        """True when this call acked the file, False when a concurrent ack got there first."""
        try:
            return await self.pending.ack(file_id)
        except DatastoreUnavailable:
            raise
        except Exception as exc:
            log.exception("pending upload %s: ack failed", file_id)
            raise MoleculeError("storage error") from exc
