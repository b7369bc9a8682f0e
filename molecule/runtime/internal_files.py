"""`GET /internal/file/read?path=<abs>`: where the platform forwards chat downloads.

Bearer = `.platform_inbound_secret` (constant time, case-sensitive `Bearer`, fail closed when
the file is missing or empty). The path is validated as a *virtual* path in the original's
order, then mapped onto the workspace root. `lstat` decides: a symlink — even to an allowed
file — a directory or a device is refused; the file is then opened with `O_NOFOLLOW` and
re-checked with `fstat`, so swapping in a symlink between the check and the open fails too.
The body is streamed in chunks.
"""

from __future__ import annotations

import errno
import hashlib
import mimetypes
import os
import stat
from email.utils import formatdate
from urllib.parse import quote

import trio

from molecule.asgi import Request, Send, send_error, start_response
from molecule.errors import BadRequest, MoleculeError, NotFound
from molecule.runtime.credentials import Credentials
from molecule.security.token_material import bearer_from_header, constant_time_equal
from molecule.workspace_paths import VirtualRoots, validate_virtual

CHUNK = 64 * 1024
_ATTR_CHARS = "!#$&+-.^_`|~"  # RFC 5987 attr-char punctuation kept as is


async def authorized(request: Request, credentials: Credentials) -> bool:
    """Bearer == the inbound secret on disk; any doubt (no header, no file) is a refusal."""
    presented = bearer_from_header(request.header("authorization"))
    secret = await credentials.inbound_secret()
    if not presented or not secret:
        return False
    return constant_time_equal(presented, secret)


def content_disposition(name: str) -> str:
    """`attachment; filename="<escaped>"; filename*=UTF-8''<pct>` (the original's helper):
    `"` and `\\` escaped, CR/LF/control characters dropped, non-ASCII kept as is."""
    cleaned = "".join(c for c in name if ord(c) >= 0x20 and ord(c) != 0x7F)
    escaped = cleaned.replace("\\", "\\\\").replace('"', '\\"')
    encoded = quote(cleaned, safe=_ATTR_CHARS)
    return f"attachment; filename=\"{escaped}\"; filename*=UTF-8''{encoded}"


def content_type(name: str) -> str:
    guessed = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return guessed + "; charset=utf-8" if guessed.startswith("text/") else guessed


NOT_FOUND = "file not found"
NOT_REGULAR = "path is not a regular file"
STAT_FAILED = "stat failed"


def open_regular(host_path: str) -> tuple[int, os.stat_result]:
    """lstat, refuse anything but a regular file, open no-follow, confirm with fstat.

    Refusals are `MoleculeError`s with the original runtime's status and message (404, 400,
    500).
    """
    try:
        st = os.lstat(host_path)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise NotFound(NOT_FOUND) from exc
    except OSError as exc:
        raise MoleculeError(STAT_FAILED) from exc
    if not stat.S_ISREG(st.st_mode):
        raise BadRequest(NOT_REGULAR)
    try:
        fd = os.open(host_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError as exc:
        raise NotFound(NOT_FOUND) from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # swapped for a symlink since the lstat
            raise BadRequest(NOT_REGULAR) from exc
        raise MoleculeError(STAT_FAILED) from exc
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise BadRequest(NOT_REGULAR)
    return fd, st


async def file_read(
    request: Request, send: Send, credentials: Credentials, roots: VirtualRoots
) -> None:
    if not await authorized(request, credentials):
        await send_error(send, 401, "unauthorized")
        return
    try:
        virtual = validate_virtual(request.query.get("path"))
        fd, st = await trio.to_thread.run_sync(open_regular, str(roots.to_host(virtual)))
    except MoleculeError as exc:  # PathRefused (400) or open_regular's refusals
        await send_error(send, exc.status, exc.message)
        return
    try:
        name = os.path.basename(virtual)
        etag = hashlib.md5(f"{st.st_mtime}-{st.st_size}".encode(), usedforsecurity=False)
        headers = [
            ("content-type", content_type(name)),
            ("content-length", str(st.st_size)),
            ("content-disposition", content_disposition(name)),
            ("etag", f'"{etag.hexdigest()}"'),
            ("last-modified", formatdate(st.st_mtime, usegmt=True)),
        ]
        await start_response(send, 200, headers)
        remaining = st.st_size
        while remaining > 0:
            chunk = await trio.to_thread.run_sync(os.read, fd, min(CHUNK, remaining))
            if not chunk:
                break  # the file shrank under us: end the body (its length will mismatch)
            remaining -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        os.close(fd)
