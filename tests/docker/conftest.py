"""Fixtures of the Docker backend's tests: a real Engine for the session (tests/docker/engine.py),
its images built once, and a platform whose workspaces run in containers on the host network
(`MOLECULE_DOCKER_NETWORK=host`), so every byte of test traffic stays on loopback.

After each test, the containers and volumes of that test's workspaces are removed (only
those: the Engine may be the developer's own)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import trio
import trio_asyncio

from molecule.errors import EngineError
from molecule.provision.docker.debian_base import DEBIAN_BASE, build_debian_base
from molecule.provision.docker.engine import Engine
from molecule.provision.docker.images import RuntimeImages
from molecule.provision.docker.naming import instance_id, owned_filter
from molecule.provision.docker.provisioner import DockerProvisioner
from tests.conftest import Harness, make_settings, start_platform
from tests.docker.engine import CACHE, test_engine

REGISTRY = "registry.invalid/molecule-ai"  # template images are never pulled in tests


def prepare_images(url: str) -> None:
    """The Debian base (cached tarball or debootstrap) and the built-in image, once."""

    async def run() -> None:
        async with trio_asyncio.open_loop():
            engine = await Engine.connect(url)
            try:
                images = RuntimeImages(engine, REGISTRY, cache_dir=CACHE)
                if await images.image_id(DEBIAN_BASE) is None:
                    await build_debian_base(engine, CACHE)
                await images.ensure_builtin(base=DEBIAN_BASE)
            finally:
                await engine.close()

    trio.run(run)


@pytest.fixture(scope="session")
def docker_url() -> Iterator[str]:
    with test_engine() as url:
        prepare_images(url)
        yield url


@pytest.fixture
async def docker_platform(
    aio_loop: object, dsn: str, tmp_path: Path, docker_url: str
) -> AsyncIterator[Harness]:
    settings = make_settings(
        tmp_path,
        dsn,
        backend="docker",
        docker_host=docker_url,
        docker_network="host",
        image_registry=REGISTRY,
        runtime_base_image=DEBIAN_BASE,
    )
    try:
        async with trio.open_nursery() as nursery:
            svc, base, stop = await start_platform(settings, dsn, nursery)
            assert isinstance(svc.pipeline.provisioner, DockerProvisioner)
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                yield Harness(svc, base, client)
            stop.set()
    finally:
        await remove_test_objects(docker_url, instance_id(settings.home))


async def remove_test_objects(url: str, instance: str) -> None:
    """Every container and volume this test's platform instance labelled (after it stopped)."""
    with trio.CancelScope(shield=True), trio.move_on_after(60):
        engine = await Engine.connect(url)
        try:
            filters = {"filters": owned_filter(instance)}
            listing = {"all": True, **filters}
            for c in await engine.json("GET", "containers/json", params=listing):
                try:
                    await engine.json("DELETE", f"containers/{c['Id']}", params={"force": True})
                except EngineError as exc:  # the platform's own removal may still be running
                    if not (exc.not_found or exc.removal_in_progress):
                        raise
            while await engine.json("GET", "containers/json", params=listing):
                await trio.sleep(0.1)  # volumes of a container being removed are still in use
            for v in (await engine.json("GET", "volumes", params=filters)).get("Volumes") or []:
                try:
                    await engine.json("DELETE", f"volumes/{v['Name']}")
                except EngineError as exc:
                    if not exc.not_found:
                        raise
        finally:
            await engine.close()
