"""The canvas's typed API client is generated from GET /openapi.json; it must not go stale.

canvas/src/api/schema.d.ts records the SHA-256 of the document it was generated from
(canvas/scripts/gen-api.mjs, which reads canvas/scripts/openapi_document.py). A route added or
changed without regenerating fails here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from pathlib import Path

CANVAS = Path(__file__).resolve().parents[2] / "canvas"
SCHEMA = CANVAS / "src" / "api" / "schema.d.ts"


def _document_text() -> str:
    spec = importlib.util.spec_from_file_location(
        "openapi_document", CANVAS / "scripts" / "openapi_document.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text: str = module.document_text()
    return text


def test_the_canvas_api_types_match_the_platform() -> None:
    header = re.search(r"^// openapi-sha256: ([0-9a-f]{64})$", SCHEMA.read_text(), re.MULTILINE)
    assert header, f"{SCHEMA} has no openapi-sha256 header"
    current = hashlib.sha256(_document_text().encode()).hexdigest()
    assert header.group(1) == current, (
        "canvas/src/api/schema.d.ts is stale: run `make canvas-api` (or "
        "`cd canvas && npm run gen:api`) and commit the result"
    )
