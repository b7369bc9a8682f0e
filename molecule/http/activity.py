"""Routes for this resource are being written (issue 6); the blueprint is registered now."""

from __future__ import annotations

from quart import Blueprint

bp = Blueprint("activity", __name__)
