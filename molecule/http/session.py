"""Browser login: `/?token=<admin token>` sets an HttpOnly, SameSite=Strict session cookie.

The cookie is an HMAC of an expiry under the admin token, so it needs no server-side state
and dies with the token. The canvas (molecule.http.canvas) is served from the same origin and
authenticates with this cookie. `GET /` is the canvas for a signed-in browser (or anyone in
development mode) and a sign-in page otherwise, whose form posts the admin token back to
the page (`POST /`, the same as `POST /session`); `DELETE /session` signs the browser out.

The form has no action on purpose: it posts to the page's own URL, fragment included, so
the 303 back to `/` keeps a deep link's `#/workspaces/<id>/<tab>` (a redirect without a
fragment inherits the request's, RFC 9110 §10.2.2), with no script on the page.
"""

from __future__ import annotations

from html import escape

from quart import Blueprint, Response, redirect, request
from werkzeug.wrappers.response import Response as WerkzeugResponse

from molecule.errors import BadRequest, PayloadTooLarge, Unauthorized
from molecule.http import schemas
from molecule.http.api import Auth, endpoint
from molecule.http.auth import SESSION_COOKIE, SESSION_TTL, make_session, session_valid
from molecule.http.canvas import index_html, index_response
from molecule.http.common import services
from molecule.security.token_material import constant_time_equal

bp = Blueprint("session", __name__)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Molecule</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>Molecule</h1><p>{status}</p></main></body></html>
"""
# Plain HTML, no script and no inline style (the CSP allows neither): it works before the
# canvas is built and needs no credential.
_SIGN_IN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · Molecule</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>Molecule</h1>
<p>Open the login URL (<code>molecule token --url</code> prints it), or sign in with the
admin token (<code>molecule token</code> prints it).</p>{error}
<form method="post">
<label for="token">Admin token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required
 autofocus>
<button type="submit">Sign in</button></form></main></body></html>
"""
MAX_SIGN_IN_BODY = 8 * 1024


def sign_in_page(error: str = "", status: int = 200) -> Response:
    shown = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    response = Response(_SIGN_IN.format(error=shown), status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def _signed_in(location: str) -> WerkzeugResponse:
    """Redirect to `location` with a fresh session cookie."""
    response = redirect(location, 303 if request.method == "POST" else 302)
    response.set_cookie(
        SESSION_COOKIE,
        make_session(services().admin_token),
        max_age=SESSION_TTL,
        httponly=True,
        samesite="Strict",
        secure=request.scheme == "https",
        path="/",
    )
    return response


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
        return _signed_in("/")
    signed_in = session_valid(svc.admin_token, request.cookies.get(SESSION_COOKIE))
    if not signed_in and not svc.settings.dev_fail_open:
        return sign_in_page()
    html = await index_html()
    if html is not None:
        return index_response(html)
    status = "Signed in. The canvas is not built (`make canvas`); the API is at /workspaces."
    return Response(_PAGE.format(status=status), mimetype="text/html")


SIGN_IN_FORM = {
    "type": "object",
    "properties": {"token": {"type": "string"}},
    "required": ["token"],
}
SIGN_IN_ANSWERS = {
    303: "signed in: to the canvas",
    400: "no token",
    401: "not the admin token",
    411: "no Content-Length (a chunked body)",
    413: "a body over 8 KiB",
}


@bp.post("/session")
@endpoint(
    Auth.OPEN,
    "Sign the browser in with the admin token (the sign-in page's form)",
    body=SIGN_IN_FORM,
    body_type="application/x-www-form-urlencoded",
    responses=SIGN_IN_ANSWERS,
    tags=("canvas",),
)
async def sign_in() -> Response | WerkzeugResponse:
    # Anyone may post here, so the body is bounded before it is read: a browser's form always
    # says its length, and a chunked body would be read up to the app's 16 MiB limit.
    length = request.content_length
    if length is None:
        raise BadRequest("the sign-in form must send Content-Length", status=411)
    if length > MAX_SIGN_IN_BODY:
        raise PayloadTooLarge("request body too large")
    form = await request.form
    token = form.get("token", "")
    if not token:
        return sign_in_page("Enter the admin token.", 400)
    if not constant_time_equal(token, services().admin_token):
        return sign_in_page("That is not the admin token.", 401)
    return _signed_in("/")


@bp.post("/")
@endpoint(
    Auth.OPEN,
    "Sign the browser in from the sign-in page (its form posts back to the page)",
    body=SIGN_IN_FORM,
    body_type="application/x-www-form-urlencoded",
    responses=SIGN_IN_ANSWERS,
    tags=("canvas",),
)
async def sign_in_from_the_page() -> Response | WerkzeugResponse:
    return await sign_in()


@bp.delete("/session")
@endpoint(
    Auth.OPEN,
    "Sign the browser out (clears the session cookie)",
    responses={204: "signed out"},
    tags=("canvas",),
)
async def sign_out() -> Response:
    response = Response("", status=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Strict")
    return response
