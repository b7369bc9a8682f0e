"""What the platform is and what the canvas keeps: build info, upload limits, the viewport.

- `GET /buildinfo` (open, as in the original, upstream-may §0): `{git_sha}` as the original
  answered, plus `version`, `python` and `provisioner` (which backend runs agents: "local",
  "docker", or "none"). `git_sha` is the checkout's commit when the platform runs from a git
  tree, else null. It names no secret and no workspace.
- `GET /uploads/limits` (open): the chat-upload limits this platform enforces, read from the
  constants the upload code checks (the original's keys; our values).
- `GET /canvas/viewport` (any credential) and `PUT /canvas/viewport` (admin or the canvas
  session): the one saved `{x, y, zoom}`. The original served GET to anyone and took PUT from
  any bearer or a same-origin browser; here no route fails open (docs/compatibility.md#d44).
"""

from __future__ import annotations

import functools
import math
import platform
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from quart import Blueprint, Response

from molecule.errors import BadRequest
from molecule.http.api import Auth, StatusBody, endpoint
from molecule.http.auth import admin_auth, any_auth
from molecule.http.common import json_response, read_object, services
from molecule.operations.chat_staging import MAX_FILES
from molecule.store.pending_uploads import MAX_FILE_BYTES
from molecule.store.viewport import DEFAULT_VIEWPORT, Viewport
from molecule.version import platform_version

bp = Blueprint("platform_info", __name__)

SOURCE_ROOT = Path(__file__).resolve().parents[2]
_SHA = re.compile(r"[0-9a-f]{40}")
MAX_COORDINATE = 1e9
MAX_ZOOM = 1000.0
INVALID_VIEWPORT = "invalid viewport: x, y and zoom must be numbers"


class BuildInfo(BaseModel):
    git_sha: str | None
    version: str
    python: str
    provisioner: str


class UploadLimits(BaseModel):
    per_file_bytes: int
    per_request_bytes: int
    max_attachments_per_message: int


class ViewportBody(BaseModel):
    """The canvas's pan and zoom; a missing coordinate is 0, a missing zoom 1."""

    x: float | None = Field(None, ge=-MAX_COORDINATE, le=MAX_COORDINATE)
    y: float | None = Field(None, ge=-MAX_COORDINATE, le=MAX_COORDINATE)
    zoom: float | None = Field(None, gt=0, le=MAX_ZOOM)


def git_sha(root: Path = SOURCE_ROOT) -> str | None:
    """The commit checked out at `root` (HEAD, a loose ref or a packed one), else None."""
    git = root / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head if _SHA.fullmatch(head) else None
        ref = head.removeprefix("ref: ")
        loose = git / ref
        if loose.is_file():
            sha = loose.read_text().strip()
            return sha if _SHA.fullmatch(sha) else None
        for line in (git / "packed-refs").read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1] == ref and _SHA.fullmatch(parts[0]):
                return parts[0]
    except OSError:
        return None
    return None


@functools.cache
def _static_build_info() -> dict[str, Any]:
    return {
        "git_sha": git_sha(),
        "version": platform_version(),
        "python": platform.python_version(),
    }


@bp.get("/buildinfo")
@endpoint(
    Auth.OPEN,
    "Which build is serving: git commit, version, Python, live provisioning backend",
    responses={200: BuildInfo},
    tags=("platform",),
)
async def buildinfo() -> Response:
    provisioner = services().pipeline.provisioner
    kind = "none" if provisioner is None else getattr(provisioner, "kind", "unknown")
    return json_response({**_static_build_info(), "provisioner": kind})


@bp.get("/uploads/limits")
@endpoint(
    Auth.OPEN,
    "The chat-upload limits the platform enforces",
    responses={200: UploadLimits},
    tags=("platform",),
)
async def upload_limits() -> Response:
    return json_response(
        {
            "per_file_bytes": MAX_FILE_BYTES,
            "per_request_bytes": MAX_FILE_BYTES,
            "max_attachments_per_message": MAX_FILES,
        }
    )


@bp.get("/canvas/viewport")
@endpoint(
    Auth.ANY,
    "The canvas's saved viewport (0, 0, zoom 1 before the first save)",
    responses={200: ViewportBody},
    tags=("canvas",),
)
async def get_viewport() -> Response:
    svc = services()
    await any_auth(svc)
    return json_response(await Viewport(svc.store).get())


def _number(body: dict[str, Any], key: str, default: float) -> float:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(INVALID_VIEWPORT)
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        raise BadRequest(INVALID_VIEWPORT) from None
    if not math.isfinite(number):
        raise BadRequest(INVALID_VIEWPORT)
    return number


@bp.put("/canvas/viewport")
@endpoint(
    Auth.ADMIN,
    "Save the canvas's viewport",
    body=ViewportBody,
    responses={200: StatusBody},
    tags=("canvas",),
)
async def save_viewport() -> Response:
    svc = services()
    await admin_auth(svc)
    body = await read_object(INVALID_VIEWPORT)
    x = _number(body, "x", DEFAULT_VIEWPORT["x"])
    y = _number(body, "y", DEFAULT_VIEWPORT["y"])
    zoom = _number(body, "zoom", DEFAULT_VIEWPORT["zoom"])
    if abs(x) > MAX_COORDINATE or abs(y) > MAX_COORDINATE:
        raise BadRequest(f"x and y must be within ±{MAX_COORDINATE:g}")
    if not 0 < zoom <= MAX_ZOOM:
        raise BadRequest(f"zoom must be greater than 0 and at most {MAX_ZOOM:g}")
    await Viewport(svc.store).save(x, y, zoom)
    return json_response({"status": "saved"})
