"""`GET /openapi.json`: the API description, generated from the app itself.

Walks Quart's routing table and the raw-route table, reads each route's `Endpoint`
(molecule.http.api) and turns the pydantic models it names into OpenAPI 3.1 schemas. Every
operation states its authentication rule (`security` and `x-molecule-auth`). WebSocket routes
are described as the GET that upgrades.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel
from quart import Quart

from molecule.http.api import Auth, Endpoint, ErrorBody, Schema, declaration
from molecule.http.raw_routes import RawRoutes

VERSION = "1.0.0"
_PARAM = re.compile(r"<(?:[a-z]+:)?([a-zA-Z_][a-zA-Z0-9_]*)>")
_RAW_PARAM = re.compile(r"\(\?P<([a-zA-Z_][a-zA-Z0-9_]*)>[^)]*\)")
SKIPPED_METHODS = {"HEAD", "OPTIONS"}


def served_routes(app: Quart) -> Iterator[tuple[str, str, Any, bool]]:
    """(method, OpenAPI path, view function, websocket?) for every route the app serves."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = _PARAM.sub(r"{\1}", rule.rule)
        view = app.view_functions[rule.endpoint]
        if rule.websocket:
            yield "GET", path, view, True
            continue
        for method in sorted(rule.methods or ()):
            if method not in SKIPPED_METHODS:
                yield method, path, view, False
    raw: Any = app.asgi_app
    while not isinstance(raw, RawRoutes) and hasattr(raw, "inner"):  # under middleware
        raw = raw.inner
    if isinstance(raw, RawRoutes):
        for route in raw.routes:
            path = _RAW_PARAM.sub(r"{\1}", route.pattern)
            yield route.method, path, route.handler, False


def build(app: Quart) -> dict[str, Any]:
    components: dict[str, Any] = {"ErrorBody": _model_schema(ErrorBody, {})}
    paths: dict[str, dict[str, Any]] = {}
    for method, path, view, websocket in served_routes(app):
        found = declaration(view)
        if found is None:
            raise RuntimeError(f"{method} {path} has no endpoint(...) declaration")
        paths.setdefault(path, {})[method.lower()] = _operation(
            method, path, found, websocket, components
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Molecule",
            "version": VERSION,
            "description": "The control plane for teams of AI agents. Authentication rules: "
            "docs/compatibility.md §3.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "adminToken": {"type": "http", "scheme": "bearer", "description": "ADMIN_TOKEN"},
                "orgToken": {"type": "http", "scheme": "bearer", "description": "an org token"},
                "workspaceToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a workspace's own token",
                },
                "session": {"type": "apiKey", "in": "cookie", "name": "molecule_session"},
            },
        },
    }


def _operation(
    method: str, path: str, found: Endpoint, websocket: bool, components: dict[str, Any]
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": _operation_id(method, path),
        "summary": found.summary,
        "x-molecule-auth": found.auth.value,
        "security": found.auth.security,
    }
    if found.description:
        op["description"] = found.description
    if found.tags:
        op["tags"] = list(found.tags)
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{([^}]+)}", path)
    ]
    if found.query is not None:
        parameters += _query_parameters(found.query)
    if parameters:
        op["parameters"] = parameters
    if found.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {found.body_type: {"schema": _schema(found.body, components)}},
        }
    responses: dict[str, Any] = {}
    for status, answer in found.responses.items():
        responses[str(status)] = _response(answer, components)
    if websocket and "101" not in responses:
        responses["101"] = {"description": "switching to the WebSocket protocol"}
    if found.auth is not Auth.OPEN:
        responses.setdefault("401", _error("no or an invalid credential"))
    if found.body is not None or found.query is not None or "{" in path:
        responses.setdefault("400", _error("malformed input"))
    responses.setdefault("503", _error("the database is unreachable; retry after Retry-After"))
    if not any(code.startswith("2") or code == "101" for code in responses):
        responses["200"] = {"description": "done"}
    op["responses"] = responses
    return op


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }


def _response(answer: Schema | str, components: dict[str, Any]) -> dict[str, Any]:
    if isinstance(answer, str):
        return {"description": answer}
    if answer is None:
        return {"description": "no body"}
    return {
        "description": _describe(answer),
        "content": {"application/json": {"schema": _schema(answer, components)}},
    }


def _describe(schema: Schema) -> str:
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        doc = (schema.__doc__ or "").strip().splitlines()
        return doc[0] if doc else schema.__name__
    return "see the schema"


def _schema(schema: Schema, components: dict[str, Any]) -> dict[str, Any]:
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        components.setdefault(schema.__name__, _model_schema(schema, components))
        return {"$ref": f"#/components/schemas/{schema.__name__}"}
    return dict(schema or {})


def _model_schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components.setdefault(name, sub)
    return schema


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        prop.pop("title", None)
        params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    return params


def _operation_id(method: str, path: str) -> str:
    words = re.sub(r"[{}]", "", path).strip("/").replace("-", "_").split("/")
    return method.lower() + "_" + ("_".join(w for w in words if w) or "root")


def route_table(app: Quart) -> Mapping[tuple[str, str], Endpoint | None]:
    """Every served (method, path) and its declaration (None when missing): for tests."""
    return {(m, p): declaration(v) for m, p, v, _ in served_routes(app)}
