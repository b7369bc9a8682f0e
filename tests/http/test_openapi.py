"""The API description: every route the platform serves is in it, with its auth rule, and
the document is valid OpenAPI 3.1."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate
from quart import Blueprint
from quart_trio import QuartTrio

from molecule.http.app import create_app
from molecule.http.openapi import build, route_table
from tests.conftest import Harness


async def test_every_served_route_is_described(platform: Harness) -> None:
    app = create_app(platform.svc)
    table = route_table(app)
    assert len(table) > 50
    undeclared = sorted(f"{m} {p}" for (m, p), found in table.items() if found is None)
    assert undeclared == []


async def test_the_document_is_valid_and_covers_every_route(platform: Harness) -> None:
    h = platform
    r = await h.client.get("/openapi.json")  # open: it describes, it grants nothing
    assert r.status_code == 200
    document = r.json()
    validate(document)
    served = {(m.lower(), p) for m, p in route_table(create_app(h.svc))}
    described = {(m, p) for p, ops in document["paths"].items() for m in ops}
    assert served == described
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            assert op["x-molecule-auth"], (method, path)
            assert "responses" in op and op["summary"], (method, path)
    ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids)), "operationIds must be unique (client generators need it)"
    a2a = document["paths"]["/workspaces/{workspace_id}/a2a"]["post"]
    assert a2a["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    upload = document["paths"]["/workspaces/{workspace_id}/chat/uploads"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    create = document["paths"]["/workspaces"]["post"]
    assert {"adminToken": []} in create["security"] and {"workspaceToken": []} not in create[
        "security"
    ]


def test_a_route_without_a_declaration_is_found() -> None:
    bp = Blueprint("undeclared", __name__)

    @bp.get("/nowhere")
    async def nowhere() -> str:
        return "x"

    app = QuartTrio("t")
    app.register_blueprint(bp)
    assert route_table(app)[("GET", "/nowhere")] is None
    with pytest.raises(RuntimeError, match="GET /nowhere"):
        build(app)
