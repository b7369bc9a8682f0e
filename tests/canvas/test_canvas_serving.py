"""The platform serves the canvas: `GET /` (canvas or sign-in page), `/assets/*`, `/session`.

A fake build in a temporary MOLECULE_CANVAS_DIR stands in for `canvas/dist/`, so these tests
need no Node.js; the real build is exercised by canvas/e2e/ in Chromium.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import trio

from molecule.http.auth import SESSION_COOKIE
from tests.conftest import ADMIN_TOKEN, Harness, make_settings, start_platform

INDEX = b'<!doctype html><div id="root"></div><script src="/assets/index-abc123.js"></script>'
SCRIPT = b"console.log('canvas');\n" * 200  # big enough to be gzipped


@pytest.fixture
def build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_bytes(INDEX)
    (dist / "assets" / "index-abc123.js").write_bytes(SCRIPT)
    (dist / "assets" / "index-abc123.css").write_bytes(b"body{margin:0}")
    (tmp_path / "secret.txt").write_text("outside the build")
    monkeypatch.setenv("MOLECULE_CANVAS_DIR", str(dist))
    return dist


@pytest.fixture
async def open_platform(aio_loop: object, dsn: str, tmp_path: Path) -> AsyncIterator[Harness]:
    """Development mode without ADMIN_TOKEN: everything is open (the original's dev mode)."""
    settings = make_settings(tmp_path, dsn, dev_mode=True, admin_token_env=None)
    async with trio.open_nursery() as nursery:
        svc, base, stop = await start_platform(settings, dsn, nursery)
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            yield Harness(svc, base, client)
        stop.set()


async def _cookie(h: Harness) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=h.base_url, timeout=10) as client:
        r = await client.get("/", params={"token": ADMIN_TOKEN}, follow_redirects=False)
    assert r.status_code == 302
    name, value = r.headers["set-cookie"].split(";", 1)[0].split("=", 1)
    return {"Cookie": f"{name}={value}"}


async def test_signed_in_browser_gets_the_canvas_never_cached(
    platform: Harness, build: Path
) -> None:
    r = await platform.client.get("/", headers=await _cookie(platform))
    assert r.status_code == 200
    assert r.content == INDEX
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-cache"


async def test_without_a_session_the_sign_in_page_asks_for_the_token(
    platform: Harness, build: Path
) -> None:
    for headers in ({}, {"Cookie": f"{SESSION_COOKIE}=v1.99999999999.forged"}):
        r = await platform.client.get("/", headers=headers)
        assert r.status_code == 200
        assert b"assets/index-abc123.js" not in r.content
        # No action: the form posts back to the page's URL, so a deep link's fragment
        # survives the redirect after signing in.
        assert '<form method="post">' in r.text and 'name="token"' in r.text
        assert r.headers["cache-control"] == "no-store"


async def test_development_mode_opens_the_canvas_without_a_session(
    open_platform: Harness, build: Path
) -> None:
    r = await open_platform.client.get("/")
    assert (r.status_code, r.content) == (200, INDEX)


async def test_an_unbuilt_canvas_says_so(
    platform: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOLECULE_CANVAS_DIR", str(tmp_path / "nothing-here"))
    r = await platform.client.get("/", headers=await _cookie(platform))
    assert r.status_code == 200 and "make canvas" in r.text and "Signed in" in r.text
    assert (await platform.client.get("/assets/index-abc123.js")).status_code == 404


async def test_assets_are_immutable_and_gzipped_when_accepted(
    platform: Harness, build: Path
) -> None:
    plain = await platform.client.get(
        "/assets/index-abc123.js", headers={"Accept-Encoding": "identity"}
    )
    assert plain.status_code == 200 and plain.content == SCRIPT
    assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert plain.headers["content-type"].startswith("text/javascript")
    assert "content-encoding" not in plain.headers
    raw = b""
    async with platform.client.stream(
        "GET", "/assets/index-abc123.js", headers={"Accept-Encoding": "gzip"}
    ) as zipped:
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.headers["vary"] == "Accept-Encoding"
        async for chunk in zipped.aiter_raw():
            raw += chunk
    assert len(raw) < len(SCRIPT) and gzip.decompress(raw) == SCRIPT
    small = await platform.client.get("/assets/index-abc123.css")
    assert (
        small.headers["content-type"].startswith("text/css") and small.content == b"body{margin:0}"
    )


@pytest.mark.parametrize(
    "path",
    [
        "/assets/missing.js",
        "/assets/..%2Fsecret.txt",
        "/assets/..%2F..%2Fsecret.txt",
        "/assets/.hidden",
        "/assets/a..b",
        "/assets/",
        "/assets/sub/index-abc123.js",
    ],
)
async def test_nothing_outside_the_build_is_served(
    platform: Harness, build: Path, path: str
) -> None:
    r = await platform.client.get(path)
    assert r.status_code == 404
    assert b"outside the build" not in r.content


async def test_no_catch_all_shadows_the_api(platform: Harness, build: Path) -> None:
    cookie = await _cookie(platform)
    r = await platform.client.get("/workspaces")
    assert (r.status_code, r.json()) == (401, {"error": "admin auth required"})
    assert (await platform.client.get("/workspaces", headers=cookie)).json() == []
    for path in ("/no-such-page", "/w/abc", "/index.html"):
        r = await platform.client.get(path, headers=cookie)
        assert (r.status_code, r.json()) == (404, {"error": "not found"}), path


@pytest.mark.parametrize("path", ["/", "/session"])
async def test_the_sign_in_form_sets_the_session(platform: Harness, build: Path, path: str) -> None:
    async with httpx.AsyncClient(base_url=platform.base_url, timeout=10) as browser:
        r = await browser.post(path, data={"token": ADMIN_TOKEN})
        assert r.status_code == 303 and r.headers["location"] == "/"
        flags = r.headers["set-cookie"].lower()
        assert "httponly" in flags and "samesite=strict" in flags
        assert ADMIN_TOKEN not in r.headers["set-cookie"]
        assert (await browser.get("/")).content == INDEX
        assert (await browser.get("/workspaces")).status_code == 200
        out = await browser.delete("/session")
        assert out.status_code == 204 and "max-age=0" in out.headers["set-cookie"].lower()
        browser.cookies.clear()
        assert (await browser.get("/workspaces")).status_code == 401


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"token": "wrong"}, 401, "That is not the admin token."),
        ({"token": ADMIN_TOKEN + "x"}, 401, "That is not the admin token."),
        ({"token": ""}, 400, "Enter the admin token."),
        ({}, 400, "Enter the admin token."),
        ({"token": "<script>alert(1)</script>"}, 401, "That is not the admin token."),
    ],
)
@pytest.mark.parametrize("path", ["/", "/session"])
async def test_the_sign_in_form_refuses_a_wrong_token(
    platform: Harness, build: Path, form: dict[str, str], status: int, message: str, path: str
) -> None:
    r = await platform.client.post(path, data=form)
    assert r.status_code == status
    assert message in r.text and "<script>alert" not in r.text
    assert "set-cookie" not in r.headers


@pytest.mark.parametrize("path", ["/", "/session"])
async def test_the_sign_in_form_bounds_its_body(platform: Harness, path: str) -> None:
    r = await platform.client.post(path, data={"token": "x" * 20_000})
    assert r.status_code == 413 and "set-cookie" not in r.headers

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: refused before reading
        yield b"token=" + ADMIN_TOKEN.encode()

    r = await platform.client.post(
        path,
        content=chunked(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 411 and "set-cookie" not in r.headers
