"""Images workspaces run from: the built-in runtime image, built here, and the original's
template images, pulled from their registry.

- The built-in image (`molecule-runtime:latest`, echo and llm) is built from
  docker/runtime.Dockerfile and a context made from this installation (`build_context`). It
  is built when a workspace needs it and it is missing, or when its source label differs from
  this platform's context (the platform was upgraded), and by `molecule images build`.
  Its base: MOLECULE_RUNTIME_BASE_IMAGE if set; else the Debian base if the Engine has it;
  else python:3.11-slim if it can be pulled; else the Debian base made now (`debian_base`).
- A template image (`<registry>/workspace-template-<runtime>:latest`) is pulled when missing.

Builds and pulls are serialised per image, so ten workspaces starting at once build once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

import trio

from molecule.errors import EngineError
from molecule.provision.docker.build_context import BuildContext, build_context
from molecule.provision.docker.debian_base import DEBIAN_BASE, build_debian_base
from molecule.provision.docker.engine import Engine
from molecule.provision.docker.naming import MANAGED_LABEL, SOURCE_LABEL
from molecule.provision.runtimes import BUILTIN_IMAGE, image_for

log = logging.getLogger("molecule.provision.docker.images")

REGISTRY_BASE = "python:3.11-slim"
PULL_TIMEOUT = 600.0


def split_ref(ref: str) -> tuple[str, str]:
    """(repository, tag) of an image reference (`latest` when it names none)."""
    name, _, tag = ref.rpartition(":")
    if not name or "/" in tag:
        return ref, "latest"
    return name, tag


class RuntimeImages:
    def __init__(
        self,
        engine: Engine,
        registry: str,
        base_image: str | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.base_image = base_image
        self.cache_dir = cache_dir
        self._locks: defaultdict[str, trio.Lock] = defaultdict(trio.Lock)
        self._context: BuildContext | None = None

    def image_for(self, runtime: str) -> str:
        return image_for(runtime, self.registry)

    async def image_id(self, ref: str) -> str | None:
        found = await self.engine.inspect("images", ref)
        return str(found["Id"]) if found else None

    async def context(self) -> BuildContext:
        if self._context is None:
            self._context = await trio.to_thread.run_sync(build_context)
        return self._context

    async def ensure(self, runtime: str) -> str:
        """The image for `runtime`, present in the Engine (built or pulled if need be)."""
        ref = self.image_for(runtime)
        if ref == BUILTIN_IMAGE:
            await self.ensure_builtin()
            return ref
        async with self._locks[ref]:
            if await self.image_id(ref) is None:
                await self.pull(ref)
        return ref

    async def ensure_builtin(self, *, force: bool = False, base: str | None = None) -> str:
        """The built-in image's id, built unless it is present and current."""
        async with self._locks[BUILTIN_IMAGE]:
            context = await self.context()
            found = await self.engine.inspect("images", BUILTIN_IMAGE)
            labels = ((found or {}).get("Config") or {}).get("Labels") or {}
            if found and not force and labels.get(SOURCE_LABEL) == context.digest:
                return str(found["Id"])
            return await self._build(context, base or await self.choose_base())

    async def choose_base(self) -> str:
        if self.base_image:
            return self.base_image
        if await self.image_id(DEBIAN_BASE) is not None:
            return DEBIAN_BASE
        try:
            await self.pull(REGISTRY_BASE)
            return REGISTRY_BASE
        except EngineError as exc:
            log.info("no registry base image (%s); making one from Debian packages", exc)
        return await build_debian_base(self.engine, self.cache_dir)

    async def _build(self, context: BuildContext, base: str) -> str:
        log.info("building %s on %s", BUILTIN_IMAGE, base)
        params = {
            "t": BUILTIN_IMAGE,
            "buildargs": {"BASE": base, "PYTHON_VERSION": context.python_version},
            "labels": {SOURCE_LABEL: context.digest, MANAGED_LABEL: "true"},
            "rm": True,
            "forcerm": True,
            "pull": False,
        }
        await self.engine.stream_json(
            "POST", "build", params=params, data=context.tar, content_type="application/x-tar"
        )
        image = await self.image_id(BUILTIN_IMAGE)
        if image is None:
            raise EngineError(500, f"the build of {BUILTIN_IMAGE} left no image")
        log.info("built %s (%s)", BUILTIN_IMAGE, image[:19])
        return image

    async def pull(self, ref: str) -> None:
        repo, tag = split_ref(ref)
        await self.engine.stream_json(
            "POST", "images/create", params={"fromImage": repo, "tag": tag}, timeout=PULL_TIMEOUT
        )
