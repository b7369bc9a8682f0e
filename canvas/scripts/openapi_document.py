"""Print GET /openapi.json as the platform would serve it, without starting one.

canvas/scripts/gen-api.mjs generates the canvas's API types from this output, and
tests/canvas/test_api_schema.py compares its SHA-256 with the one the types record. The app
is built with default settings, its own metrics and no other services: the routes do not
depend on them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from molecule.config import Settings
from molecule.http.app import create_app
from molecule.http.openapi import build
from molecule.jsontext import dumps
from molecule.observability.metrics import Metrics


def document_text() -> str:
    settings = Settings(home=Path("."), database_url=None)
    services = SimpleNamespace(settings=settings, metrics=Metrics())
    return dumps(build(create_app(cast(Any, services))))


if __name__ == "__main__":
    sys.stdout.write(document_text())
