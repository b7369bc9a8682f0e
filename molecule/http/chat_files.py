"""Chat files: upload to / download from a workspace, and poll-mode pending uploads.

The routes authenticate, parse the request and relay; what happens to the bytes is decided
in `molecule.operations`, as in the original: a push-mode workspace gets them forwarded to its
own agent (`chat_forwarding`), a poll-mode one cannot be reached, so an upload is staged on
the platform until the agent fetches and acks it (`chat_staging`).

Memory stays flat whatever the file size: the upload route is a raw ASGI route
(`http.raw_routes`) that pulls `receive()` only as the agent (or the database) consumes the
bytes; downloads and pending-upload content are streamed responses, which have backpressure.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from quart import Blueprint, Response, request

from molecule.asgi import Send, send_json
from molecule.errors import ClientGone, MoleculeError
from molecule.http import schemas
from molecule.http.api import AnyObject, Auth, endpoint
from molecule.http.auth import workspace_auth
from molecule.http.common import json_response, require_uuid, services
from molecule.http.raw_routes import RawRequest
from molecule.operations.chat_forwarding import ChatForwarding, Upstream, check_download_path
from molecule.operations.chat_staging import RAW_SLACK, ChatStaging
from molecule.services import Services
from molecule.store.pending_uploads import MAX_FILE_BYTES

bp = Blueprint("chat_files", __name__)

FORWARDED_DOWNLOAD_HEADERS = ("content-type", "content-length", "content-disposition")


def _forwarding(svc: Services) -> ChatForwarding:
    return ChatForwarding(svc.store, svc.workspaces, svc.pipeline, svc.url_policy)


# -- POST /workspaces/:id/chat/uploads (raw ASGI) -------------------------------------------


@endpoint(
    Auth.WORKSPACE,
    "Upload chat files to the workspace (multipart, field files)",
    body=schemas.MULTIPART_FILES,
    body_type="multipart/form-data",
    responses={
        200: schemas.ChatFiles,
        413: "a file is too large",
        422: "no URL to reach the agent",
    },
    tags=("chat",),
)
async def upload(req: RawRequest, send: Send) -> None:
    wid = require_uuid(req.match["workspace_id"])
    svc = req.svc
    await workspace_auth(svc, wid, req.credentials)
    forwarding = _forwarding(svc)
    route = await forwarding.route(wid, "upload")
    if route.delivery_mode == "poll":
        await _stage(req, send, ChatStaging(svc.store, svc.activity), wid)
        return
    target = await forwarding.target(wid, route, "upload")
    upstream = await forwarding.open_upload(
        target, req.header("content-type"), req.content_length, req.stream()
    )
    try:
        await _relay(upstream, send)
    finally:
        await upstream.aclose()


async def _stage(req: RawRequest, send: Send, staging: ChatStaging, wid: str) -> None:
    try:
        files = await staging.stage(wid, req.header("content-type"), req.stream())
    except ClientGone:
        raise
    except MoleculeError:
        # Read what the client still sends before answering: closing a socket with unread
        # input resets it, and the client would see that instead of our refusal.
        await req.drain(MAX_FILE_BYTES + RAW_SLACK)
        raise
    await send_json(send, 200, {"files": files})


async def _relay(upstream: Upstream, send: Send) -> None:
    """The agent's answer as it comes: its status, its content type, its body."""
    content_type = upstream.response.headers.get("content-type")
    headers = [] if content_type is None else [(b"content-type", content_type.encode("latin-1"))]
    await send(
        {"type": "http.response.start", "status": upstream.response.status_code, "headers": headers}
    )
    async for chunk in upstream.chunks():
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


# -- GET /workspaces/:id/chat/download?path= ------------------------------------------------


@bp.get("/workspaces/<workspace_id>/chat/download")
@endpoint(
    Auth.WORKSPACE,
    "Download a file from the workspace (streamed)",
    query=schemas.DownloadQuery,
    responses={200: "the file", 404: "no such file"},
    tags=("chat",),
)
async def download(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    path = check_download_path(request.args.get("path"))
    forwarding = _forwarding(svc)
    route = await forwarding.route(wid, "download")
    target = await forwarding.target(wid, route, "download")
    upstream = await forwarding.open_download(target, path)
    answer = upstream.response
    headers = {
        name: answer.headers[name] for name in FORWARDED_DOWNLOAD_HEADERS if name in answer.headers
    }

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in upstream.chunks():
                yield chunk
        finally:
            await upstream.aclose()

    response = Response(body(), status=answer.status_code, headers=headers)
    if "content-type" not in answer.headers:
        del response.headers["Content-Type"]  # not Quart's default: the agent sent none
    return response


# -- pending uploads: the agent's side -------------------------------------------------------


def content_disposition(filename: str) -> str:
    """RFC 6266 with an RFC 5987 `filename*` for the exact name."""
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


async def _pending(workspace_id: str, file_id: str) -> tuple[ChatStaging, str, dict[str, Any]]:
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    fid = require_uuid(file_id, "invalid file_id")
    staging = ChatStaging(svc.store, svc.activity)
    return staging, fid, await staging.live_upload(wid, fid)


@bp.get("/workspaces/<workspace_id>/pending-uploads/<file_id>/content")
@endpoint(
    Auth.WORKSPACE,
    "A poll-mode agent fetches a staged upload",
    responses={200: "the file", 404: "not found or expired"},
    tags=("chat",),
)
async def pending_content(workspace_id: str, file_id: str) -> Response:
    staging, fid, row = await _pending(workspace_id, file_id)
    size: int = row["size_bytes"]
    headers = {
        "Content-Disposition": content_disposition(row["filename"]),
        "Content-Length": str(size),
    }
    response = Response(staging.content(fid, size), status=200, headers=headers)
    response.headers["Content-Type"] = row["mimetype"] or "application/octet-stream"
    return response


@bp.post("/workspaces/<workspace_id>/pending-uploads/<file_id>/ack")
@endpoint(
    Auth.WORKSPACE,
    "A poll-mode agent acknowledges a staged upload",
    responses={200: AnyObject, 404: "not found"},
    tags=("chat",),
)
async def pending_ack(workspace_id: str, file_id: str) -> Response:
    staging, fid, _ = await _pending(workspace_id, file_id)
    won = await staging.ack(fid)
    return json_response({"acked": True} if won else {"acked": True, "raced": True})
