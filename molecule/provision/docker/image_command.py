"""`molecule images build`: build the built-in runtime image on the configured Docker Engine.

The base: `--base`, else MOLECULE_RUNTIME_BASE_IMAGE, else what a workspace start would
choose (the Debian base if the Engine has it, python:3.11-slim if it can be pulled, else a
Debian base made now with debootstrap: root and Debian's debootstrap package needed).
`--debian-base` skips the registry and uses (or makes) the Debian base.
"""

from __future__ import annotations

import trio_asyncio

from molecule.config import Settings
from molecule.errors import ConfigError
from molecule.provision.docker.debian_base import DEBIAN_BASE, build_debian_base
from molecule.provision.docker.engine import Engine
from molecule.provision.docker.images import RuntimeImages


async def build_images(settings: Settings, base: str | None, debian: bool, force: bool) -> str:
    """The built-in image's id, after building it (Trio; opens its own asyncio loop)."""
    if not settings.docker_host:
        raise ConfigError("no Docker Engine: set DOCKER_HOST or start dockerd")
    async with trio_asyncio.open_loop():
        engine = await Engine.connect(settings.docker_host)
        try:
            images = RuntimeImages(
                engine,
                settings.image_registry,
                base or settings.runtime_base_image,
                cache_dir=settings.home / "images",
            )
            if debian and base is None:
                if await images.image_id(DEBIAN_BASE) is None:
                    await build_debian_base(engine, images.cache_dir)
                base = DEBIAN_BASE
            return await images.ensure_builtin(force=force, base=base)
        finally:
            await engine.close()
