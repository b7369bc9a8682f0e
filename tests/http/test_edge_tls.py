"""TLS: `molecule serve --certfile/--keyfile` (molecule/http/edge_tls.py).

A self-signed certificate made in the test; clients on loopback that trust it get HTTPS
(HTTP/1.1 and HTTP/2) with HSTS and a `wss://` connect-src, a login cookie marked Secure;
a client that does not trust it, or speaks plain HTTP to the TLS port, gets nothing. The
agents' plain listener answers on loopback without HSTS, and it is the URL agents get.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest
import trio

from molecule.http import edge_tls
from molecule.http.app import create_app
from molecule.http.server import serve
from molecule.platform import hypercorn_config, login_url, running_platform
from molecule.provision.backend import container_binds, served_at
from molecule.provision.docker.provisioner import DockerProvisioner
from tests.conftest import ADMIN_TOKEN, make_settings
from tests.http.edge_certs import self_signed


async def test_https_with_hsts_and_a_plain_loopback_listener_for_agents(
    aio_loop: object, dsn: str, tmp_path: Path
) -> None:
    files = self_signed(tmp_path)
    settings = make_settings(tmp_path, dsn, tls_certfile=files.cert, tls_keyfile=files.key)
    assert login_url(settings, "t").startswith("https://")
    trusted = ssl.create_default_context(cafile=str(files.cert))
    async with running_platform(settings, dsn) as svc:
        app = create_app(svc)
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(
                lambda task_status: serve(
                    app,
                    hypercorn_config(settings),
                    shutdown_trigger=stop.wait,
                    task_status=task_status,
                )
            )
            secure, plain = binds
            assert secure.startswith("https://127.0.0.1:") and plain.startswith("http://127.0.0.1:")
            assert edge_tls.agent_url(binds) == plain
            host = secure.removeprefix("https://")
            for http2 in (False, True):
                async with httpx.AsyncClient(verify=trusted, http2=http2, timeout=10) as client:
                    r = await client.get(secure + "/health")
                    assert r.status_code == 200
                    assert r.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
                    assert r.headers["strict-transport-security"] == "max-age=31536000"
                    assert (
                        f"connect-src 'self' wss://{host}" in r.headers["content-security-policy"]
                    )
                    login = await client.get(secure + "/", params={"token": ADMIN_TOKEN})
                    assert login.status_code == 302
                    assert "secure" in login.headers["set-cookie"].lower()
            async with httpx.AsyncClient(timeout=10) as untrusting:
                with pytest.raises(httpx.ConnectError) as refused:
                    await untrusting.get(secure + "/health")
                assert "CERTIFICATE_VERIFY_FAILED" in repr(causes(refused.value))
                with pytest.raises(httpx.HTTPError):
                    await untrusting.get(secure.replace("https://", "http://") + "/health")
                local = await untrusting.get(plain + "/health")
                assert local.status_code == 200
                assert "strict-transport-security" not in local.headers
                assert (
                    "connect-src 'self' ws://127.0.0.1:" in local.headers["content-security-policy"]
                )
            stop.set()


def causes(exc: BaseException | None) -> list[BaseException]:
    chain = []
    while exc is not None and len(chain) < 10:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    return chain


def test_without_tls_nothing_changes(tmp_path: Path) -> None:
    config = hypercorn_config(make_settings(tmp_path, "postgresql://x@/y"))
    assert not config.ssl_enabled and config.insecure_bind == []
    edge_tls.add_container_binds(config, ["172.18.0.1:8080"])
    assert config.bind == ["127.0.0.1:0", "172.18.0.1:8080"]
    assert edge_tls.agent_url(["http://127.0.0.1:8080"]) == "http://127.0.0.1:8080"


def test_under_tls_the_bridge_gets_a_plain_listener(tmp_path: Path) -> None:
    files = self_signed(tmp_path)
    settings = make_settings(
        tmp_path, "postgresql://x@/y", tls_certfile=files.cert, tls_keyfile=files.key
    )
    config = hypercorn_config(settings)
    edge_tls.add_container_binds(config, ["172.18.0.1:0"])
    assert config.ssl_enabled and config.bind == ["127.0.0.1:0"]
    assert config.insecure_bind == [edge_tls.AGENT_LISTENER, "172.18.0.1:0"]
    binds = ["https://0.0.0.0:8443", "http://127.0.0.1:40001", "http://172.18.0.1:40002"]
    assert edge_tls.agent_url(binds) == "http://127.0.0.1:40001"


def test_containers_on_the_bridge_get_the_plain_gateway_listener() -> None:
    """serve_platform under TLS: the bridge's listener is asked on the gateway (port 0, any
    host setting) and the containers' URL names it, never the TLS one on 0.0.0.0."""
    provisioner = object.__new__(DockerProvisioner)  # only its network facts are read
    provisioner.gateway = "172.18.0.1"
    provisioner.container_platform_url = None
    assert container_binds(provisioner, "127.0.0.1", 0) == ["172.18.0.1:0"]
    served_at(
        provisioner, ["https://0.0.0.0:8443", "http://127.0.0.1:40001", "http://172.18.0.1:40002"]
    )
    assert provisioner.container_platform_url == "http://host.docker.internal:40002"
