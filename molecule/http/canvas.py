"""The canvas's built files (canvas/, a Vite build): served by the platform itself.

`make run` builds `canvas/dist/` (`MOLECULE_CANVAS_DIR` points elsewhere). Vite names every
asset after a hash of its content, so `/assets/*` is cached for a year as immutable, while
`index.html` (served at `/` by molecule.http.session once the browser is signed in) is never
cached: a rebuild reaches every browser at its next load. Only `/assets/<file>` and `/` serve
canvas files: there is no catch-all, so no API route can be shadowed. Assets are gzipped once
per build when the client accepts it (React Flow and React are most of the ~450 KB).
"""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import trio
from quart import Blueprint, Response, request

from molecule.errors import NotFound
from molecule.http.api import Auth, endpoint

bp = Blueprint("canvas", __name__)

REPO_DIST = Path(__file__).resolve().parents[2] / "canvas" / "dist"
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
# Vite's names: index-<hash>.js, style-<hash>.css, fonts and images; no directories.
_ASSET_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}")
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".woff2": "font/woff2",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".map": "application/json",
}
_COMPRESSIBLE = {".js", ".css", ".svg", ".json", ".map"}
# (path, mtime_ns) -> gzipped bytes; a rebuild changes the names, so this stays small.
_gzipped: dict[tuple[str, int], bytes] = {}
_GZIP_CACHE_MAX = 64


def canvas_dir() -> Path:
    configured = os.environ.get("MOLECULE_CANVAS_DIR", "").strip()
    return Path(configured) if configured else REPO_DIST


async def index_html() -> bytes | None:
    """The built index.html, or None when the canvas has not been built."""
    path = trio.Path(canvas_dir() / "index.html")
    try:
        return await path.read_bytes()
    except OSError:
        return None


def index_response(html: bytes) -> Response:
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = NO_CACHE
    return response


def _accepts_gzip() -> bool:
    accepted = request.headers.get("Accept-Encoding", "")
    return any(part.split(";")[0].strip() == "gzip" for part in accepted.split(","))


async def _gzip(path: Path, raw: bytes, mtime_ns: int) -> bytes:
    key = (str(path), mtime_ns)
    hit = _gzipped.get(key)
    if hit is None:
        hit = await trio.to_thread.run_sync(gzip.compress, raw, 9)
        if len(_gzipped) >= _GZIP_CACHE_MAX:
            _gzipped.clear()
        _gzipped[key] = hit
    return hit


@bp.get("/assets/<name>")
@endpoint(
    Auth.OPEN,
    "A file of the canvas's build (content-hashed name: cached as immutable)",
    responses={200: "the file", 404: "no such file"},
    tags=("canvas",),
)
async def asset(name: str) -> Response:
    if not _ASSET_NAME.fullmatch(name) or ".." in name:
        raise NotFound("not found")
    path = canvas_dir() / "assets" / name
    try:
        stat = await trio.Path(path).stat()
        raw = await trio.Path(path).read_bytes()
    except OSError:
        raise NotFound("not found") from None
    suffix = path.suffix.lower()
    headers = {"Cache-Control": IMMUTABLE, "Vary": "Accept-Encoding"}
    body = raw
    if suffix in _COMPRESSIBLE and len(raw) > 1024 and _accepts_gzip():
        body = await _gzip(path, raw, stat.st_mtime_ns)
        headers["Content-Encoding"] = "gzip"
    content_type = _TYPES.get(suffix, "application/octet-stream")
    return Response(body, headers=headers, content_type=content_type)
