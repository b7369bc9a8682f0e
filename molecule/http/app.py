"""The Quart-trio application: blueprints, the error shape, body limits.

Every deliberate error is a `MoleculeError` answered as `{"error": ...}` with its status and
headers; anything else is logged with its traceback and answered with a bare 500, so
internal detail never reaches a client.
"""

from __future__ import annotations

import logging

from quart import Blueprint, Response, current_app, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from molecule.errors import BadRequest, MoleculeError
from molecule.http import (
    a2a,
    abilities,
    activity_feed,
    admin_memories,
    admin_routes,
    agent_output,
    approvals,
    budget,
    bundles,
    canvas,
    chat_files,
    checkpoints,
    config_routes,
    conversation,
    delegations,
    docker_routes,
    edge,
    events,
    events_log,
    external,
    files,
    instructions,
    kv_memory,
    lifecycle,
    mcp,
    memories,
    metrics_route,
    openapi,
    org,
    platform_info,
    plugins,
    plugins_allowlist,
    raw_routes,
    registry,
    request_ids,
    schedules,
    secrets,
    session,
    shared_context,
    template_import,
    token_routes,
    usage,
    workspaces,
)
from molecule.http.api import Auth, StatusBody, endpoint
from molecule.http.common import json_response
from molecule.http.raw_routes import RawRoute
from molecule.services import Services

log = logging.getLogger("molecule.http")

health_bp = Blueprint("health", __name__)

WORKSPACE = r"/workspaces/(?P<workspace_id>[^/]+)"
# Served as raw ASGI in front of Quart (molecule/http/raw_routes.py): the hot paths and the
# upload that must stream with backpressure.
RAW_ROUTES = (
    RawRoute("POST", WORKSPACE + "/a2a", a2a.proxy),
    RawRoute("POST", WORKSPACE + "/activity", activity_feed.report_activity),
    RawRoute("POST", WORKSPACE + "/chat/uploads", chat_files.upload),
)


@health_bp.get("/health")
@endpoint(Auth.OPEN, "Is the platform serving?", responses={200: StatusBody})
async def health() -> Response:
    return json_response({"status": "ok"})


@health_bp.get("/openapi.json")
@endpoint(Auth.OPEN, "This API description (OpenAPI 3.1), generated from the routes")
async def openapi_document() -> Response:
    document = current_app.config.get("OPENAPI_DOCUMENT")
    if document is None:  # built once: the routes do not change while serving
        document = current_app.config["OPENAPI_DOCUMENT"] = openapi.build(current_app)
    return json_response(document)


def create_app(svc: Services) -> QuartTrio:
    app = QuartTrio("molecule")
    app.config["MOLECULE_SERVICES"] = svc
    # Uploads (a later issue) stream around Quart; JSON routes cap their own bodies.
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024
    app.config["BODY_TIMEOUT"] = 60
    app.config["RESPONSE_TIMEOUT"] = None  # SSE streams live for hours
    app.config["ORG_TOKEN_LIMITER"] = token_routes.HourlyLimiter(
        token_routes.ORG_TOKEN_CREATE_LIMIT
    )
    for bp in (
        health_bp,
        metrics_route.bp,
        session.bp,
        canvas.bp,  # the canvas's built files (/assets/*)
        workspaces.bp,
        registry.bp,
        token_routes.bp,
        events.bp,
        a2a.bp,
        delegations.bp,
        lifecycle.bp,
        secrets.bp,
        activity_feed.bp,
        chat_files.bp,
        external.bp,
        org.bp,
        bundles.bp,
        approvals.bp,
        events_log.bp,
        abilities.bp,
        admin_routes.bp,
        platform_info.bp,
        conversation.bp,
        memories.bp,
        admin_memories.bp,  # memory backup and restore across rebuilds
        kv_memory.bp,
        instructions.bp,
        checkpoints.bp,
        shared_context.bp,
        schedules.bp,
    ):
        app.register_blueprint(bp)
    for bp in (  # configuration and inspection
        files.bp,
        config_routes.bp,
        budget.bp,
        usage.bp,
        agent_output.bp,
        template_import.bp,
        docker_routes.bp,  # the Docker backend: image refresh, terminal
        plugins.bp,  # the plugin registry and installs
        plugins_allowlist.bp,
        mcp.bp,  # the MCP bridge (molecule/http/mcp.py)
    ):
        app.register_blueprint(bp)
    raw_routes.install(app, RAW_ROUTES)
    # security headers, CORS, rate limits (raw routes too; their refusals on /metrics)
    edge.install(app, svc.settings, svc.metrics)
    request_ids.install(app)  # outermost: X-Request-ID and the log context of every request

    @app.before_request
    async def refuse_nul() -> None:
        """A NUL in the path or query can reach no route usefully and PostgreSQL cannot
        store or compare it (a secret key of `%00` was a 500): refused at the edge."""
        if "\x00" in request.path or any(
            "\x00" in k + v for k, v in request.args.items(multi=True)
        ):
            raise BadRequest("invalid request: NUL in path or query")

    @app.errorhandler(MoleculeError)
    async def molecule_error(exc: MoleculeError) -> Response:
        return json_response(exc.body(), exc.status, exc.headers)

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        message = {404: "not found", 405: "method not allowed", 413: "request body too large"}
        return json_response({"error": message.get(status, exc.name.lower())}, status)

    @app.errorhandler(Exception)
    async def unexpected(exc: Exception) -> Response:
        log.error("unhandled error", exc_info=exc)
        return json_response({"error": "internal error"}, 500)

    return app
