"""Plugin routes against a real platform: the registry, install, list, compatibility,
uninstall and download of `local://` plugins, and every refusal, each of which leaves the
plugin rows and every file under the platform's home as they were."""

from __future__ import annotations

import gzip
import io
import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.conftest import Harness
from tests.http.plugins_support import (
    echo_workspace,
    plugins_dir,
    shipped,
    state,
    tree,
    untar,
)

ETIQUETTE = "team-etiquette"


def operator_dir(h: Harness) -> Path:
    directory = h.svc.settings.home / "plugins"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


async def test_the_registry_and_the_schemes_are_open(platform: Harness) -> None:
    h = platform
    r = await h.client.get("/plugins")
    assert r.status_code == 200
    listed = {p["name"]: p for p in r.json()}
    assert {ETIQUETTE, "standup-report"} <= set(listed)
    assert listed[ETIQUETTE]["source"] == f"local://{ETIQUETTE}"
    assert listed[ETIQUETTE]["skills"] == ["delegation-brief"]
    assert len(listed[ETIQUETTE]["sha256"]) == 64

    (operator_dir(h) / "claude-only").mkdir()
    (operator_dir(h) / "claude-only" / "plugin.yaml").write_text("runtimes: [claude-code]\n")
    r = await h.client.get("/plugins", params={"runtime": "claude_code"})
    assert "claude-only" in {p["name"] for p in r.json()}
    r = await h.client.get("/plugins", params={"runtime": "langgraph"})
    assert "claude-only" not in {p["name"] for p in r.json()}
    assert ETIQUETTE in {p["name"] for p in r.json()}  # no runtimes listed: any runtime
    r = await h.client.get("/plugins", params={"runtime": "x" * 65})
    assert r.status_code == 400

    r = await h.client.get("/plugins/sources")
    assert r.status_code == 200 and r.json() == {"schemes": ["github", "local"]}


async def test_install_list_reinstall_and_uninstall(platform: Harness) -> None:
    h = platform
    wid, own = await echo_workspace(h, "plugged")
    base = f"/workspaces/{wid}/plugins"

    r = await h.client.get(base, headers=own)
    assert r.status_code == 200 and r.json() == []
    r = await h.client.post(base, json={"source": f"local://{ETIQUETTE}"}, headers=own)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "status": "installed",
        "plugin": ETIQUETTE,
        "source": f"local://{ETIQUETTE}",
    }
    target = plugins_dir(h, wid) / ETIQUETTE
    assert tree(target) == shipped(ETIQUETTE)

    r = await h.client.get(base, headers=own)
    [listed] = r.json()
    assert listed["name"] == ETIQUETTE and listed["version"] == "1.0.0"
    assert listed["supported_on_runtime"] is True and listed["source"] == f"local://{ETIQUETTE}"
    registry = {p["name"]: p for p in (await h.client.get("/plugins")).json()}
    assert listed["sha256"] == registry[ETIQUETTE]["sha256"]

    r = await h.client.get(f"{base}/compatibility", params={"runtime": "claude-code"}, headers=own)
    assert r.json()["all_compatible"] is True and r.json()["target_runtime"] == "claude-code"
    assert [p["name"] for p in r.json()["compatible"]] == [ETIQUETTE]
    r = await h.client.get(f"{base}/compatibility", headers=own)
    assert r.status_code == 400 and r.json() == {"error": "runtime query parameter is required"}
    r = await h.client.get(f"{base}/available", headers=own)
    assert {ETIQUETTE, "standup-report"} <= {p["name"] for p in r.json()}

    # A reinstall replaces the tree whole: a stray file of the old one does not survive.
    (target / "stray.md").write_text("left over")
    sha = (await h.client.get(base, headers=own)).json()[0]["sha256"]
    r = await h.client.post(
        base, json={"source": f"local://{ETIQUETTE}", "sha256": sha.upper()}, headers=own
    )
    assert r.status_code == 200, r.text
    assert tree(target) == shipped(ETIQUETTE)

    r = await h.client.delete(f"{base}/{ETIQUETTE}", headers=own)
    assert r.status_code == 200 and r.json() == {"status": "uninstalled", "plugin": ETIQUETTE}
    assert not target.exists()
    assert (await h.client.get(base, headers=own)).json() == []
    r = await h.client.delete(f"{base}/{ETIQUETTE}", headers=own)
    assert r.status_code == 404 and r.json() == {"error": "plugin not installed"}


async def test_download_round_trips_into_another_install(platform: Harness) -> None:
    h = platform
    wid, own = await echo_workspace(h, "downloader")
    r = await h.client.get(f"/workspaces/{wid}/plugins/{ETIQUETTE}/download", headers=own)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/gzip"
    assert r.headers["content-disposition"] == f'attachment; filename="{ETIQUETTE}.tar.gz"'
    assert r.headers["x-plugin-name"] == ETIQUETTE
    assert r.headers["x-plugin-source"] == f"local://{ETIQUETTE}"
    assert untar(r.content) == shipped(ETIQUETTE)

    # The downloaded archive, dropped into the operator's registry, installs the same tree.
    (operator_dir(h) / "etiquette-copy.tar.gz").write_bytes(r.content)
    r = await h.client.post(
        f"/workspaces/{wid}/plugins", json={"source": "local://etiquette-copy"}, headers=own
    )
    assert r.status_code == 200, r.text
    assert tree(plugins_dir(h, wid) / "etiquette-copy") == shipped(ETIQUETTE)
    r = await h.client.get(f"/workspaces/{wid}/plugins/etiquette-copy/download", headers=own)
    assert untar(r.content) == shipped(ETIQUETTE)


async def test_concurrent_installs_take_turns(platform: Harness) -> None:
    """Installs into one workspace at the same time (a paused one: no restart) each land
    whole, one after the other; the same plugin twice leaves one install."""
    h = platform
    wid, own = await echo_workspace(h, "busy")
    route = f"/workspaces/{wid}/plugins"

    async def install(source: str) -> None:
        r = await h.client.post(route, json={"source": source}, headers=own)
        assert r.status_code == 200, r.text

    async with trio.open_nursery() as nursery:
        for name in ("standup-report", ETIQUETTE, "standup-report", ETIQUETTE):
            nursery.start_soon(install, f"local://{name}")
    r = await h.client.get(route, headers=own)
    assert [p["name"] for p in r.json()] == ["standup-report", ETIQUETTE]
    for name in ("standup-report", ETIQUETTE):
        assert tree(plugins_dir(h, wid) / name) == shipped(name)


async def test_a_failed_delivery_leaves_nothing_behind(platform: Harness, tmp_path: Path) -> None:
    """The agent planted a link where the plugin goes: it is neither followed nor replaced,
    the install is 500 `failed to copy plugin to container`, and no row is left."""
    h = platform
    wid, own = await echo_workspace(h, "planted")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    plugins_dir(h, wid).mkdir(exist_ok=True)
    (plugins_dir(h, wid) / ETIQUETTE).symlink_to(elsewhere)
    before = await state(h)
    r = await h.client.post(
        f"/workspaces/{wid}/plugins", json={"source": f"local://{ETIQUETTE}"}, headers=own
    )
    assert r.status_code == 500 and r.json() == {"error": "failed to copy plugin to container"}
    assert await state(h) == before
    assert list(elsewhere.iterdir()) == []
    assert (await h.client.get(f"/workspaces/{wid}/plugins", headers=own)).json() == []


def bomb() -> bytes:
    info = tarfile.TarInfo("zeros")
    info.size = 256 * 1024 * 1024
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb") as gz:
        gz.write(info.tobuf(tarfile.PAX_FORMAT))
        for _ in range(256):
            gz.write(bytes(1 << 20))
    return out.getvalue()


async def test_refusals_change_nothing(platform: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    h = platform
    monkeypatch.delenv("PLUGIN_ALLOW_UNPINNED", raising=False)
    monkeypatch.setenv("PLUGIN_INSTALL_MAX_DIR_BYTES", str(1024 * 1024))
    wid, own = await echo_workspace(h, "target")
    _other, other = await echo_workspace(h, "other")
    ext = await h.create_external("far away")
    ext_id = str(ext["id"])
    registry = operator_dir(h)
    (registry / "linked").mkdir()
    (registry / "linked" / "plugin.yaml").write_text("name: linked\n")
    (registry / "linked" / "passwd").symlink_to("/etc/passwd")
    (registry / "boom.tar.gz").write_bytes(bomb())
    escaping = io.BytesIO()
    with tarfile.open(fileobj=escaping, mode="w:gz") as tar:
        info = tarfile.TarInfo("../../outside")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    (registry / "escape.tar.gz").write_bytes(escaping.getvalue())
    r = await h.client.put(
        f"/orgs/{_other}/plugins/allowlist",
        json={"plugins": ["standup-report"], "enabled_by": "test"},
        headers=h.admin,
    )
    assert r.status_code == 200

    base = f"/workspaces/{wid}/plugins"
    good = {"source": f"local://{ETIQUETTE}"}
    sha_mismatch = {**good, "sha256": "0" * 64}
    cases: list[tuple[str, str, Any, dict[str, str], int, dict[str, Any] | str]] = [
        ("POST", base, good, {}, 401, {"error": "missing workspace auth token"}),
        ("POST", base, good, other, 401, {"error": "invalid workspace auth token"}),
        ("POST", "/workspaces/not-a-uuid/plugins", good, h.admin, 400, "invalid workspace ID"),
        ("POST", f"/workspaces/{uuid.uuid4()}/plugins", good, h.admin, 404, "workspace not found"),
        ("POST", base, "garbage", own, 400, {"error": "invalid request body"}),
        ("POST", base, ["x"], own, 400, {"error": "invalid request body"}),
        ("POST", base, {"source": 5}, own, 400, {"error": "invalid request body"}),
        ("POST", base, {}, own, 400, "'source' is required"),
        ("POST", base, {"source": "team-etiquette"}, own, 400, {"error": "invalid plugin source"}),
        (
            "POST", base, {"source": "ftp://x"}, own, 400,
            {"error": "failed to resolve plugin source", "available_schemes": ["github", "local"]},
        ),
        ("POST", base, {"source": "local://../etc"}, own, 400, {"error": "invalid plugin name"}),
        ("POST", base, {"source": "local://UPPER"}, own, 400, {"error": "invalid plugin name"}),
        (
            "POST", base, {"source": "local://nope"}, own, 404,
            {"error": "failed to fetch plugin from local", "source": "local://nope"},
        ),
        ("POST", base, {"source": "github://o/r"}, own, 422, "unpinned github source"),
        ("POST", base, {"source": "github://o"}, own, 400, {"error": "invalid plugin source"}),
        ("POST", base, {**good, "sha256": "abc"}, own, 400, "sha256 must be 64"),
        ("POST", base, sha_mismatch, own, 422, "sha256 mismatch: expected 000"),
        ("POST", base, {"source": "local://linked"}, own, 422, "passwd: symbolic link"),
        ("POST", base, {"source": "local://escape"}, own, 422, "path leaves the plugin"),
        (
            "POST", base, {"source": "local://boom"}, own, 413,
            {"error": "staged plugin exceeds size limit", "source": "local://boom"},
        ),
        ("POST", f"/workspaces/{_other}/plugins", good, other, 403,
         {"error": 'plugin "team-etiquette" is not in the org allowlist'}),
        ("POST", f"/workspaces/{ext_id}/plugins", good, h.admin, 422, "runs elsewhere"),
        ("DELETE", f"{base}/{ETIQUETTE}", None, {}, 401, {"error": "missing workspace auth token"}),
        ("DELETE", f"{base}/{ETIQUETTE}", None, other, 401, "invalid workspace auth token"),
        ("DELETE", f"{base}/{ETIQUETTE}", None, own, 404, {"error": "plugin not installed"}),
        ("DELETE", f"{base}/a..b", None, own, 400, {"error": "invalid plugin name"}),
        ("GET", base, None, {}, 401, {"error": "missing workspace auth token"}),
        ("GET", base, None, other, 401, {"error": "invalid workspace auth token"}),
        ("GET", f"/workspaces/{uuid.uuid4()}/plugins", None, h.admin, 404, "workspace not found"),
        ("GET", f"{base}/available", None, other, 401, {"error": "invalid workspace auth token"}),
        ("GET", f"{base}/compatibility?runtime=x", None, {}, 401, "missing workspace auth"),
        ("GET", f"{base}/{ETIQUETTE}/download", None, {}, 401, "missing workspace auth token"),
        ("GET", f"{base}/{ETIQUETTE}/download", None, other, 401, "invalid workspace auth token"),
        ("GET", f"{base}/a..b/download", None, own, 400, {"error": "invalid plugin name"}),
        ("GET", f"{base}/nope/download", None, own, 404, "failed to fetch plugin from local"),
        (
            "GET", f"{base}/other-name/download?source=local://{ETIQUETTE}", None, own, 400,
            {
                "error": 'source resolved to plugin "team-etiquette" but URL requested '
                '"other-name"',
                "resolved_name": ETIQUETTE,
                "requested_name": "other-name",
            },
        ),
        ("GET", f"{base}/{ETIQUETTE}/download?sha256={'1' * 64}", None, own, 422, "mismatch"),
        ("GET", f"/workspaces/{_other}/plugins/{ETIQUETTE}/download", None, other, 403,
         "not in the org allowlist"),
    ]  # fmt: skip
    before = await state(h)
    for method, path, body, headers, code, expected in cases:
        kwargs: dict[str, Any] = {"headers": headers}
        if isinstance(body, str):
            kwargs["content"] = body
        elif body is not None:
            kwargs["json"] = body
        r = await h.client.request(method, path, **kwargs)
        described = f"{method} {path} {body!r}"
        assert r.status_code == code, f"{described}: {r.status_code} {r.text}"
        if isinstance(expected, dict):
            assert r.json() == expected, described
        else:
            assert expected in r.json()["error"], f"{described}: {r.text}"
        assert await state(h) == before, f"{described} changed something"
