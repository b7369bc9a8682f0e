"""Chat files: upload to / download from a workspace, and poll-mode pending uploads.

Upstream-may §13. Push-mode workspaces get the bytes forwarded to their own
`/internal/chat/uploads/ingest` and `/internal/file/read` (runtime contract §2.4, §2.5), with
`Authorization: Bearer <platform_inbound_secret>`; both directions go through one
`resolve_forward_creds`. Poll-mode workspaces cannot be reached, so an upload is staged in the
platform's `pending_uploads` table and announced with an `a2a_receive` activity row; the agent
fetches it with `GET .../pending-uploads/:file_id/content` and acks it.

Memory stays flat whatever the file size: the upload route is a raw ASGI route
(`http.streaming`) that pulls `receive()` only as the workspace (or the database) consumes the
bytes; downloads and pending-upload content are streamed responses, which have backpressure.
"""

from __future__ import annotations

import logging
import posixpath
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import trio
from quart import Blueprint, Response, request

from molecule.errors import BadRequest, MoleculeError, NotFound
from molecule.http.auth import workspace_auth
from molecule.http.common import json_response, require_uuid, services
from molecule.http.raw_routes import RawRequest, Send, raw_route, send_json
from molecule.runtime.multipart import (
    MultiPartException,
    MultipartParser,
    PartData,
    PartEnd,
    PartStart,
    boundary_from,
)
from molecule.runtime.paths import sanitize_filename
from molecule.security.token_material import new_inbound_secret
from molecule.services import Services
from molecule.store.activity_rows import ActivityEntry
from molecule.store.pending_uploads import MAX_FILE_BYTES, READ_SLICE, PendingUploads, StagedFile
from molecule.store.pool import Connection

log = logging.getLogger("molecule.http.chat_files")

bp = Blueprint("chat_files", __name__)


FORWARD_TIMEOUT = 1200.0
MAX_FILES = 64
RAW_SLACK = 1024 * 1024  # multipart framing on top of the file bytes
STAGE_SLICE = 1024 * 1024
ALLOWED_ROOTS = ("/configs", "/workspace", "/home", "/plugins", "/agent-home")
UPLOAD_ROUTE = r"/workspaces/([^/]+)/chat/uploads"

NOT_FOUND_LIVE = "pending upload not found, expired, or already acked"


# -- resolve-and-forward (shared by upload and download) ------------------------------------


@dataclass(frozen=True)
class ForwardCreds:
    url: str  # without a trailing slash
    secret: str


async def resolve_forward_creds(svc: Services, workspace_id: str, action: str) -> ForwardCreds:
    """The workspace's URL and inbound secret, or the §13.1 refusal (`action`: upload|download)."""
    try:
        row = await svc.store.fetchrow(
            "SELECT COALESCE(url, '') AS url, delivery_mode,"
            " COALESCE(platform_inbound_secret, '') AS secret FROM workspaces WHERE id = $1",
            workspace_id,
        )
    except Exception:
        log.exception("workspace %s: forward credentials lookup failed", workspace_id)
        row = None
    if row is None:
        raise NotFound("workspace not found")
    url: str = row["url"]
    if not url:
        if row["delivery_mode"] != "push":
            raise MoleculeError(
                f"workspace has no callback URL — chat {action} requires push-mode + public URL",
                status=422,
                extra={
                    "detail": "This workspace registered without a publicly-reachable URL"
                    " (delivery_mode is not 'push'). The platform cannot reach it to transfer"
                    " files; re-register it in push mode with a URL the platform can reach."
                },
            )
        raise MoleculeError("workspace url not registered yet", status=503)
    secret: str = row["secret"]
    if not secret:
        try:
            healed = await svc.workspaces.heal_inbound_secret(workspace_id, new_inbound_secret())
        except Exception:
            log.exception("workspace %s: minting the inbound secret failed", workspace_id)
            healed = None
        if healed is None:
            raise MoleculeError(
                "workspace not yet enrolled in v2 upload (RFC #2312)",
                status=503,
                extra={
                    "detail": "Failed to mint inbound secret. Reprovision the workspace if"
                    " this persists."
                },
            )
        secret, minted = healed
        if minted:
            raise MoleculeError(
                "workspace re-registering — please retry in 30 seconds",
                status=503,
                extra={
                    "detail": "Inbound secret was just minted. Workspace will pick it up on its"
                    " next heartbeat.",
                    "retry_after_seconds": 30,
                },
            )
    return ForwardCreds(url.rstrip("/"), secret)


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=httpx.Timeout(FORWARD_TIMEOUT), trust_env=False)


def _unreachable() -> MoleculeError:
    return MoleculeError("workspace unreachable", status=502)


# -- POST /workspaces/:id/chat/uploads (raw ASGI) -------------------------------------------


@raw_route("POST", UPLOAD_ROUTE)
async def upload(req: RawRequest, send: Send) -> None:
    wid = require_uuid(req.match[1])
    await workspace_auth(req.svc, wid, req.credentials)
    svc = req.svc
    try:
        row = await svc.store.fetchrow("SELECT delivery_mode FROM workspaces WHERE id = $1", wid)
    except Exception as exc:
        log.exception("workspace %s: delivery_mode lookup failed", wid)
        raise MoleculeError("delivery_mode lookup failed", status=500) from exc
    if row is None:
        raise NotFound("workspace not found")
    if row["delivery_mode"] == "poll":
        await _stage_upload(req, send, svc, wid)
        return
    creds = await resolve_forward_creds(svc, wid, "upload")
    await _forward_upload(req, send, creds)


async def _forward_upload(req: RawRequest, send: Send, creds: ForwardCreds) -> None:
    headers = {"Authorization": f"Bearer {creds.secret}"}
    content_type = req.header("content-type")
    if content_type is not None:
        headers["Content-Type"] = content_type
    length = req.content_length
    if length:
        headers["Content-Length"] = str(length)
    async with _client() as client:
        outbound = client.build_request(
            "POST", f"{creds.url}/internal/chat/uploads/ingest", headers=headers,
            content=req.stream(),
        )  # fmt: skip
        try:
            upstream = await client.send(outbound, stream=True)
        except httpx.HTTPError as exc:
            log.warning("chat upload forward to %s failed: %r", creds.url, exc)
            raise _unreachable() from exc
        try:
            out = (
                [(b"content-type", upstream.headers["content-type"].encode("latin-1"))]
                if ("content-type" in upstream.headers)
                else []
            )
            await send(
                {"type": "http.response.start", "status": upstream.status_code, "headers": out}
            )
            try:
                async for chunk in upstream.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except httpx.HTTPError as exc:
                log.warning("chat upload answer from %s cut short: %r", creds.url, exc)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await upstream.aclose()


# -- poll mode: stage in pending_uploads -----------------------------------------------------


class _Refusal(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("error"))
        self.status = status
        self.body = body


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


async def _parse_into(req: RawRequest, pending: PendingUploads, staged: list[StagedFile]) -> None:
    """Stream the multipart body into large objects, one `StagedFile` per `files` part."""
    malformed = _Refusal(400, {"error": "malformed multipart body"})
    try:
        boundary = boundary_from(req.header("content-type"))
    except MultiPartException:
        raise malformed from None
    if boundary is None:
        raise malformed
    parser = MultipartParser(boundary)
    current: StagedFile | None = None
    buf = bytearray()
    raw = 0
    try:
        async for chunk in req.stream():
            raw += len(chunk)
            if raw > MAX_FILE_BYTES + RAW_SLACK:
                raise malformed  # the original's 100 MiB MaxBytesReader
            for event in parser.feed(chunk):
                if isinstance(event, PartStart):
                    current = None
                    if event.name != "files" or not event.filename:
                        continue  # a plain value (Go: no filename = not a file)
                    if len(staged) >= MAX_FILES:
                        raise _Refusal(400, {"error": f"too many files (limit {MAX_FILES})"})
                    current = StagedFile(
                        sanitize_filename(event.filename), clean_mimetype(event.content_type)
                    )
                    staged.append(current)
                elif isinstance(event, PartData) and current is not None:
                    if current.size + len(buf) + len(event.data) > MAX_FILE_BYTES:
                        raise _Refusal(
                            413,
                            {
                                "error": "file exceeds per-file cap",
                                "filename": current.name,
                                "size": current.size + len(buf) + len(event.data),
                                "max": MAX_FILE_BYTES,
                            },
                        )
                    buf += event.data
                    if len(buf) >= STAGE_SLICE:
                        await pending.append(current, bytes(buf))
                        buf.clear()
                elif isinstance(event, PartEnd) and current is not None:
                    await pending.append(current, bytes(buf))
                    buf.clear()
                    if current.size == 0:
                        # The original let the table's size check fail: a 500 for bad input.
                        raise _Refusal(400, {"error": "file is empty", "filename": current.name})
                    current = None
            if parser.done:
                break
        parser.finish()
    except MultiPartException:
        raise malformed from None
    if not staged:
        raise _Refusal(400, {"error": "no files field in request"})


async def _stage_upload(req: RawRequest, send: Send, svc: Services, wid: str) -> None:
    pending = PendingUploads(svc.store)
    staged: list[StagedFile] = []
    try:
        await _parse_into(req, pending, staged)
        result = await _commit(svc, pending, wid, staged)
    except _Refusal as refusal:
        with trio.CancelScope(shield=True):
            await pending.discard(staged)
        await req.drain(MAX_FILE_BYTES + RAW_SLACK)
        await send_json(send, refusal.status, refusal.body)
        return
    except BaseException:
        with trio.CancelScope(shield=True):
            try:
                await pending.discard(staged)
            except Exception:
                log.exception("workspace %s: discarding staged uploads failed", wid)
        raise
    await send_json(send, 200, {"files": result})


async def _commit(
    svc: Services, pending: PendingUploads, wid: str, staged: list[StagedFile]
) -> list[dict[str, Any]]:
    """One transaction: the rows, then one activity row per file; broadcasts after commit."""
    entries: list[ActivityEntry] = []
    files: list[dict[str, Any]] = []

    async def work(conn: Connection) -> None:
        try:
            ids = await pending.insert_in(conn, wid, staged)
        except Exception as exc:
            log.warning("workspace %s: staging uploads failed: %r", wid, exc)
            raise _Refusal(500, {"error": "could not stage files"}) from exc
        for file_id, f in zip(ids, staged, strict=True):
            uri = f"platform-pending:{wid}/{file_id}"
            entry = ActivityEntry(
                workspace_id=wid,
                activity_type="a2a_receive",
                target_id=wid,
                method="chat_upload_receive",
                summary=f"chat_upload_receive: {f.name}",
                request_body={
                    "file_id": file_id, "name": f.name, "mimeType": f.mimetype,
                    "size": f.size, "uri": uri,
                },
                status="ok",
            )  # fmt: skip
            try:
                await svc.activity.log_in(conn, entry)
            except Exception as exc:
                log.warning("workspace %s: logging upload activity failed: %r", wid, exc)
                raise _Refusal(500, {"error": "could not log upload activity"}) from exc
            entries.append(entry)
            files.append({"uri": uri, "name": f.name, "mimeType": f.mimetype, "size": f.size})

    try:
        await svc.store.unit(work)
    except _Refusal:
        raise
    except Exception as exc:
        log.exception("workspace %s: committing staged uploads failed", wid)
        raise _Refusal(500, {"error": "could not stage files"}) from exc
    for f in staged:
        f.oid = None  # unlinked by the committed transaction
    for entry in entries:
        svc.activity.broadcast(entry)
    return files


# -- GET /workspaces/:id/chat/download?path= ------------------------------------------------


def check_download_path(path: str | None) -> str:
    if not path:
        raise BadRequest("path query required")
    if not path.startswith("/"):
        raise BadRequest("path must be absolute")
    if not any(path == root or path.startswith(root + "/") for root in ALLOWED_ROOTS):
        raise BadRequest("path must be under /configs, /workspace, /home, or /plugins")
    if posixpath.normpath(path) != path or path.startswith("//") or ".." in path:
        raise BadRequest("invalid path")
    return path


FORWARDED_DOWNLOAD_HEADERS = ("content-type", "content-length", "content-disposition")


@bp.get("/workspaces/<workspace_id>/chat/download")
async def download(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    path = check_download_path(request.args.get("path"))
    creds = await resolve_forward_creds(svc, wid, "download")
    client = _client()
    try:
        upstream = await client.send(
            client.build_request(
                "GET",
                f"{creds.url}/internal/file/read",
                params={"path": path},
                headers={"Authorization": f"Bearer {creds.secret}"},
            ),
            stream=True,
        )
    except httpx.HTTPError as exc:
        await client.aclose()
        log.warning("chat download from %s failed: %r", creds.url, exc)
        raise _unreachable() from exc
    except BaseException:
        await client.aclose()
        raise
    headers = {
        name: upstream.headers[name]
        for name in FORWARDED_DOWNLOAD_HEADERS
        if name in upstream.headers
    }

    async def body() -> Any:
        try:
            async for chunk in upstream.aiter_raw():
                yield chunk
        except httpx.HTTPError as exc:
            log.warning("chat download from %s cut short: %r", creds.url, exc)
        finally:
            with trio.CancelScope(shield=True):
                await upstream.aclose()
                await client.aclose()

    response = Response(body(), status=upstream.status_code, headers=headers)
    if "content-type" not in upstream.headers:
        del response.headers["Content-Type"]
    return response


# -- pending uploads: the agent's side -------------------------------------------------------


def content_disposition(filename: str) -> str:
    """RFC 6266 with an RFC 5987 `filename*` for the exact name."""
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


async def _live_upload(
    svc: Services, workspace_id: str, file_id: str
) -> tuple[str, str, dict[str, Any]]:
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    fid = require_uuid(file_id, "invalid file_id")
    try:
        row = await PendingUploads(svc.store).get(fid)
    except Exception as exc:
        log.exception("pending upload %s: lookup failed", fid)
        raise MoleculeError("storage error", status=500) from exc
    if row is None:
        raise NotFound(NOT_FOUND_LIVE)
    if row["workspace_id"] != wid:
        raise NotFound("pending upload not found")
    return wid, fid, row


@bp.get("/workspaces/<workspace_id>/pending-uploads/<file_id>/content")
async def pending_content(workspace_id: str, file_id: str) -> Response:
    svc = services()
    _, fid, row = await _live_upload(svc, workspace_id, file_id)
    pending = PendingUploads(svc.store)
    size: int = row["size_bytes"]

    async def body() -> Any:
        offset = 0
        while offset < size:
            data = await pending.read_slice(fid, offset, READ_SLICE)
            if not data:
                break
            offset += len(data)
            yield data
        try:
            await pending.mark_fetched(fid)
        except Exception:
            log.exception("pending upload %s: recording fetched_at failed", fid)

    headers = {
        "Content-Disposition": content_disposition(row["filename"]),
        "Content-Length": str(size),
    }
    response = Response(body(), status=200, headers=headers)
    response.headers["Content-Type"] = row["mimetype"] or "application/octet-stream"
    return response


@bp.post("/workspaces/<workspace_id>/pending-uploads/<file_id>/ack")
async def pending_ack(workspace_id: str, file_id: str) -> Response:
    svc = services()
    _, fid, _ = await _live_upload(svc, workspace_id, file_id)
    try:
        won = await PendingUploads(svc.store).ack(fid)
    except Exception as exc:
        log.exception("pending upload %s: ack failed", fid)
        raise MoleculeError("storage error", status=500) from exc
    return json_response({"acked": True} if won else {"acked": True, "raced": True})
