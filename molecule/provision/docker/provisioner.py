"""`DockerProvisioner`: the Provisioner protocol on a real Docker Engine.

A start (after stopping any previous container): the runtime's image (built or pulled if
missing), the four labelled volumes, the container `ws-<id12>` (container_spec), the template
copied into an empty `/configs` and the pipeline's files (generated config.yaml, `.auth_token`,
`.platform_inbound_secret`, mode 0600) written into `/configs` before the container starts,
so the agent finds its credentials at boot; then start, and the agent's URL: its published
port on 127.0.0.1 (bridge) or the free loopback port it binds (host network).

A stop is a bounded ladder (SIGINT, SIGTERM, then SIGKILL, 5 s apart, as the local backend),
then the container is removed; the volumes stay (a restart reuses them). Stop and remove are
idempotent: no container, or "removal already in progress" (another stop or the orphan sweep
got there first), is success. An exit nobody asked for is reported through `on_exit` by the
event watcher (exits). Containers of a previous run that are still running are adopted at
boot (tracked as ours), so their exits are reported too.

There is no Docker restart policy: the workspace actor restarts agents.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Any

import trio

from molecule.errors import EngineError, ProvisionError
from molecule.provision.base import ExitCallback, FileEntry, Started, StartSpec
from molecule.provision.docker.configs_volume import local_directory, write_configs
from molecule.provision.docker.container_spec import HOST_NETWORK, Placement, container_config
from molecule.provision.docker.engine import Engine
from molecule.provision.docker.exits import ExitWatcher
from molecule.provision.docker.images import RuntimeImages
from molecule.provision.docker.naming import (
    AGENT_PORT,
    VOLUME_ROOT_LABEL,
    WORKSPACE_LABEL,
    container_name,
    labels,
    owned_filter,
    volume_names,
    workspace_of,
)
from molecule.provision.docker.volume_files import VolumeFiles
from molecule.provision.local import free_port
from molecule.provision.runtimes import BUILTIN_IMAGE, platform_runs

log = logging.getLogger("molecule.provision.docker")

STOP_GRACE = 5.0
PORT_LOOKUPS, PORT_LOOKUP_PAUSE = 6, 0.5
START_FAILED = "workspace start failed"


class DockerProvisioner:
    kind = "docker"

    def __init__(
        self,
        engine: Engine,
        images: RuntimeImages,
        on_exit: ExitCallback,
        network: str,
        instance: str,
    ) -> None:
        self.engine = engine
        self.instance = instance  # our label on everything we create (naming.instance_id)
        self.images = images
        self.network = network
        self.gateway: str | None = None  # the host's address on the bridge network
        self.container_platform_url: str | None = None  # PLATFORM_URL seen from the bridge
        self.cpus = 1
        # Some hosts cannot grant every capability (a container host without one in its
        # bounding set): then tiers 3 and 4 run unprivileged, said once in the log.
        self.privileged_refused = False
        self._current: dict[str, str] = {}  # workspace id -> container id we run and watch
        self.watcher = ExitWatcher(engine, self._current, on_exit, instance)
        self.files = VolumeFiles(engine, images, instance)

    @property
    def engine_socket(self) -> str | None:
        url = self.engine.url
        return url.removeprefix("unix://") if url.startswith("unix://") else None

    async def open(self, nursery: trio.Nursery) -> None:
        """Learn the Engine's size, make the network, adopt our running containers and
        start following exits (before any actor runs)."""
        info = await self.engine.json("GET", "info")
        self.cpus = int(info.get("NCPU") or 1)
        if self.network != HOST_NETWORK:
            self.gateway = await self._ensure_network()
        for container in await self.managed_containers():
            workspace_id = workspace_of(container)
            if workspace_id and container.get("State") == "running":
                self._current[workspace_id] = str(container["Id"])
        if self._current:
            log.info("adopted %d running workspace container(s)", len(self._current))
        nursery.start_soon(self.watcher.run)

    async def _ensure_network(self) -> str | None:
        found = await self.engine.inspect("networks", self.network)
        if found is None:
            body = {
                "Name": self.network,
                "Driver": "bridge",
                "CheckDuplicate": True,
                "Labels": {"molecule.platform.managed": "true"},
            }
            try:
                await self.engine.json("POST", "networks/create", body=body)
            except EngineError as exc:
                if exc.engine_status != 409:  # created meanwhile by another platform
                    raise
            found = await self.engine.inspect("networks", self.network) or {}
        configs = (found.get("IPAM") or {}).get("Config") or [{}]
        gateway = configs[0].get("Gateway")
        return str(gateway) if gateway else None

    def can_run(self, runtime: str) -> bool:
        return platform_runs(runtime)

    def placement(self) -> Placement:
        return Placement(
            network=self.network,
            host_port=free_port(),  # used if the container lands on the host network
            gateway=self.gateway,
            platform_url=self.container_platform_url,
            engine_socket=self.engine_socket,
            cpus=self.cpus,
            instance=self.instance,
            privileged=not self.privileged_refused,
        )

    # -- start ----------------------------------------------------------------------------

    async def start(self, spec: StartSpec) -> Started:
        if spec.workspace_id in self._current:  # the cycle stopped it already, as a rule
            await self.stop(spec.workspace_id)  # a leftover is removed at create (409)
        try:
            image = await self.images.ensure(spec.runtime)
            mounts = await self._ensure_volumes(spec.workspace_id)
            configs = local_directory(self.engine.url, mounts.get("/configs", ""))
            try:
                return await self._start_container(spec, image, configs)
            except EngineError as exc:
                if self.privileged_refused or "unable to apply caps" not in exc.detail:
                    raise
                log.warning(
                    "the Docker Engine's host refuses privileged containers (%s): tiers 3 and 4 "
                    "run unprivileged from now on",
                    exc.detail,
                )
                self.privileged_refused = True
                return await self._start_container(spec, image, configs)
        except EngineError as exc:
            raise ProvisionError(START_FAILED, str(exc)) from exc

    async def _start_container(self, spec: StartSpec, image: str, configs: Path | None) -> Started:
        wid = spec.workspace_id
        placement = self.placement()
        config = container_config(spec, image, placement, builtin=image == BUILTIN_IMAGE)
        container = await self._create(wid, config)
        self._current[wid] = container  # before start: an instant crash is still ours
        try:
            await write_configs(self.engine, container, spec, configs)
            await self.engine.json("POST", f"containers/{container}/start")
            url = await self._agent_url(container, config, placement)
        except BaseException:
            self._current.pop(wid, None)
            with trio.CancelScope(shield=True), trio.move_on_after(STOP_GRACE * 3):
                await self._remove(container)
            raise
        log.info("workspace %s: container %s started (%s)", wid, container[:12], url)
        return Started(url=url)

    async def _ensure_volumes(self, workspace_id: str) -> dict[str, str]:
        """The four labelled volumes (created concurrently; creating one that exists is a
        no-op); mount point -> the volume's directory on the Engine's host."""
        found: dict[str, str] = {}

        async def create(root: str, name: str) -> None:
            volume_labels = labels(workspace_id, self.instance, **{VOLUME_ROOT_LABEL: root})
            body = {"Name": name, "Labels": volume_labels}
            created = await self.engine.json("POST", "volumes/create", body=body)
            found[root] = str(created.get("Mountpoint") or "")

        async with trio.open_nursery() as nursery:
            for root, name in volume_names(workspace_id).items():
                nursery.start_soon(create, root, name)
        return found

    async def _create(self, workspace_id: str, config: dict[str, Any]) -> str:
        name = container_name(workspace_id)
        for attempt in (1, 2):
            try:
                created = await self.engine.json(
                    "POST", "containers/create", params={"name": name}, body=config
                )
                return str(created["Id"])
            except EngineError as exc:
                if exc.engine_status != 409 or attempt == 2:
                    raise
                log.warning("workspace %s: removing a leftover container %s", workspace_id, name)
                await self._remove(name)
        raise AssertionError("unreachable")

    async def _agent_url(self, container: str, config: dict[str, Any], placement: Placement) -> str:
        if config["HostConfig"]["NetworkMode"] == HOST_NETWORK:
            # The built-in agent binds the free port it was given; an image's agent its own.
            builtin = config["Image"] == BUILTIN_IMAGE
            return f"http://127.0.0.1:{placement.host_port if builtin else AGENT_PORT}"
        for _ in range(PORT_LOOKUPS):
            found = await self.engine.inspect("containers", container) or {}
            ports = ((found.get("NetworkSettings") or {}).get("Ports") or {}).get(
                f"{AGENT_PORT}/tcp"
            )
            if ports and ports[0].get("HostPort"):
                return f"http://127.0.0.1:{ports[0]['HostPort']}"
            await trio.sleep(PORT_LOOKUP_PAUSE)
        raise EngineError(500, "the container's agent port was never published")

    # -- stop -----------------------------------------------------------------------------

    async def stop(self, workspace_id: str) -> None:
        """Stop and remove the workspace's container (bounded; idempotent)."""
        tracked = self._current.pop(workspace_id, None)  # from now on its exit is ours
        found = await self.engine.inspect("containers", tracked or container_name(workspace_id))
        if found is None and tracked:
            found = await self.engine.inspect("containers", container_name(workspace_id))
        if found is None:
            return
        owner = ((found.get("Config") or {}).get("Labels") or {}).get(WORKSPACE_LABEL)
        if owner not in (None, workspace_id):
            return  # a name collision with another workspace's container: not ours to stop
        container = str(found["Id"])
        if (found.get("State") or {}).get("Running"):
            await self._stop_ladder(workspace_id, container)
        await self._remove(container)

    async def _stop_ladder(self, workspace_id: str, container: str) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            try:
                await self.engine.json(
                    "POST", f"containers/{container}/kill", params={"signal": sig.name}
                )
            except EngineError as exc:
                if exc.not_found or exc.engine_status == 409:  # gone, or not running
                    return
                raise
            try:
                await self.engine.json(
                    "POST",
                    f"containers/{container}/wait",
                    params={"condition": "not-running"},
                    timeout=STOP_GRACE,
                )
                return
            except EngineError as exc:
                if exc.not_found:
                    return
                if exc.engine_status != 0:
                    raise
                log.info("workspace %s: still running after %s", workspace_id, sig.name)
        raise EngineError(0, f"container {container[:12]} did not stop after SIGKILL")

    async def _remove(self, container: str) -> None:
        try:
            await self.engine.json("DELETE", f"containers/{container}", params={"force": True})
        except EngineError as exc:
            if exc.not_found or exc.removal_in_progress:
                return  # the post-condition holds: the container is (or will be) gone
            raise

    async def stop_all(self) -> None:
        """At shutdown: stop the containers we run, concurrently (the caller bounds it)."""
        async with trio.open_nursery() as nursery:
            for workspace_id in list(self._current):
                nursery.start_soon(self._stop_quietly, workspace_id)

    async def _stop_quietly(self, workspace_id: str) -> None:
        try:
            await self.stop(workspace_id)
        except EngineError as exc:
            log.warning("workspace %s: stop at shutdown failed: %s", workspace_id, exc)

    async def close(self) -> None:
        await self.engine.close()

    # -- state and files ------------------------------------------------------------------

    async def is_running(self, workspace_id: str) -> bool:
        found = await self.engine.inspect("containers", container_name(workspace_id))
        if found is None:
            return False
        owner = ((found.get("Config") or {}).get("Labels") or {}).get(WORKSPACE_LABEL)
        return owner == workspace_id and bool((found.get("State") or {}).get("Running"))

    def tracked(self, workspace_id: str) -> str | None:
        """The id of the container we run for the workspace, if any."""
        return self._current.get(workspace_id)

    async def read_file(
        self, workspace_id: str, path: str, *, max_bytes: int | None = None
    ) -> bytes:
        return await self.files.read(workspace_id, path, max_bytes)

    async def write_file(self, workspace_id: str, path: str, data: bytes) -> None:
        await self.files.write(workspace_id, path, data)

    async def volume_has_file(self, workspace_id: str, path: str) -> bool:
        return await self.files.has_file(workspace_id, path)

    async def list_files(
        self, workspace_id: str, path: str, depth: int, limit: int
    ) -> list[FileEntry]:
        return await self.files.list(workspace_id, path, depth, limit)

    async def delete_file(self, workspace_id: str, path: str) -> None:
        await self.files.delete(workspace_id, path)

    async def read_console(self, workspace_id: str, max_bytes: int) -> bytes:
        return await self.files.console(workspace_id, max_bytes)

    async def remove_volume(self, workspace_id: str) -> None:
        """Stop the container (a failure raises and keeps the volumes), then remove them."""
        await self.stop(workspace_id)
        await self.remove_volumes(workspace_id)

    async def remove_volumes(self, workspace_id: str) -> None:
        for name in volume_names(workspace_id).values():
            try:
                await self.engine.json("DELETE", f"volumes/{name}")
            except EngineError as exc:
                if not exc.not_found:
                    raise

    # -- what the sweeps and the image refresh see ------------------------------------------

    async def managed_containers(self) -> list[dict[str, Any]]:
        """Every labelled container, running or not (`GET /containers/json?all=1`)."""
        found: list[dict[str, Any]] = await self.engine.json(
            "GET", "containers/json", params={"all": True, "filters": owned_filter(self.instance)}
        )
        return found

    async def managed_volumes(self) -> list[dict[str, Any]]:
        found = await self.engine.json(
            "GET", "volumes", params={"filters": owned_filter(self.instance)}
        )
        return list(found.get("Volumes") or [])
