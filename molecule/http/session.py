"""Browser login: `/?token=<admin token>` sets an HttpOnly, SameSite=Strict session cookie.

The cookie is an HMAC of an expiry under the admin token, so it needs no server-side state
and dies with the token. The canvas (a later issue) is served from the same origin and
authenticates with this cookie.
"""

from __future__ import annotations

from quart import Blueprint, Response, redirect, request
from werkzeug.wrappers.response import Response as WerkzeugResponse

from molecule.errors import Unauthorized
from molecule.http import schemas
from molecule.http.api import Auth, endpoint
from molecule.http.auth import SESSION_COOKIE, SESSION_TTL, make_session, session_valid
from molecule.http.common import services
from molecule.security.token_material import constant_time_equal

bp = Blueprint("session", __name__)

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Molecule</title></head>
<body><h1>Molecule</h1><p>{status}</p></body></html>
"""


@bp.get("/")
@endpoint(
    Auth.OPEN,
    "The canvas; ?token=<admin token> signs the browser in (session cookie)",
    query=schemas.LoginQuery,
    responses={200: "the page", 302: "signed in"},
    tags=("canvas",),
)
async def index() -> Response | WerkzeugResponse:
    svc = services()
    token = request.args.get("token")
    if token is not None:
        if not constant_time_equal(token, svc.admin_token):
            raise Unauthorized("invalid admin auth token")
        response = redirect("/")
        response.set_cookie(
            SESSION_COOKIE,
            make_session(svc.admin_token),
            max_age=SESSION_TTL,
            httponly=True,
            samesite="Strict",
            secure=request.scheme == "https",
            path="/",
        )
        return response
    signed_in = session_valid(svc.admin_token, request.cookies.get(SESSION_COOKIE))
    status = (
        "Signed in. The API is at /workspaces."
        if signed_in
        else ("The platform is running. Open the login URL printed by `molecule serve`.")
    )
    return Response(_PAGE.format(status=status), mimetype="text/html")
