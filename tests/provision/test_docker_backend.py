"""The Docker backend's rules that need no Engine: container spec, names, archives, exit
events, backend selection and the settings that choose it."""

from __future__ import annotations

import io
import tarfile
import uuid
from pathlib import Path

import pytest
import trio

from molecule.config import Settings
from molecule.errors import ConfigError, EngineError
from molecule.provision.backend import container_binds, open_backend
from molecule.provision.base import StartSpec
from molecule.provision.docker.archive import files_tar, template_tar
from molecule.provision.docker.container_spec import Placement, container_config
from molecule.provision.docker.exits import ExitWatcher
from molecule.provision.docker.naming import (
    container_name,
    prefix_of_name,
    volume_names,
    workspace_of,
)
from molecule.provision.docker.volume_files import demultiplex, refuse_unless_regular
from molecule.provision.local import LocalProcessProvisioner
from molecule.provision.runtimes import BUILTIN_IMAGE, image_for

WID = "0123abcd-4567-89ab-cdef-0123456789ab"


def spec(tier: int = 3, **env: str) -> StartSpec:
    base = {"WORKSPACE_ID": WID, "PLATFORM_URL": "http://127.0.0.1:8080", "TIER": str(tier)}
    return StartSpec(WID, "echo", {**base, **env})


def test_names_are_the_originals() -> None:
    assert container_name(WID) == "ws-0123abcd-456"
    assert volume_names(WID) == {
        "/configs": "ws-0123abcd-456-configs",
        "/workspace": f"ws-{WID}-workspace",
        "/home": "ws-0123abcd-456-home",
        "/plugins": "ws-0123abcd-456-plugins",
    }
    assert prefix_of_name("/ws-0123abcd-456") == "0123abcd-456"
    assert prefix_of_name("/ws-nothex!!!!!!") is None and prefix_of_name("/db") is None
    assert workspace_of({"Labels": {"molecule.workspace.id": WID}}) == WID
    assert workspace_of({"Labels": {"molecule.workspace.id": "x; rm -rf"}}) is None


def test_images_by_runtime() -> None:
    assert image_for("echo", "r.example/m") == BUILTIN_IMAGE
    assert image_for("llm", "r.example/m") == BUILTIN_IMAGE
    assert image_for("hermes", "r.example/m") == "r.example/m/workspace-template-hermes:latest"
    assert image_for("whatever", "r") == "r/workspace-template-langgraph:latest"  # the original's


def test_tiers_set_limits_mounts_and_privileges() -> None:
    bridge = Placement("molecule-monorepo-net", host_port=40001, gateway="172.18.0.1", cpus=2)
    t1 = container_config(spec(1), BUILTIN_IMAGE, bridge, builtin=True)["HostConfig"]
    assert t1["Binds"] == ["ws-0123abcd-456-configs:/configs"]
    assert t1["ReadonlyRootfs"] is True and "noexec" in t1["Tmpfs"]["/tmp"]
    t2 = container_config(spec(2), BUILTIN_IMAGE, bridge, builtin=True)["HostConfig"]
    assert t2["Memory"] == 512 * 1024 * 1024 and t2["NanoCpus"] == 1_000_000_000
    assert len(t2["Binds"]) == 4 and "Privileged" not in t2
    assert t2["RestartPolicy"] == {"Name": "no"} and t2["Init"] is True
    t3 = container_config(spec(3), BUILTIN_IMAGE, bridge, builtin=True)["HostConfig"]
    assert t3["Privileged"] is True and t3["PidMode"] == "host"
    assert t3["Memory"] == 2048 * 1024 * 1024 and t3["NanoCpus"] == 2_000_000_000
    t4 = container_config(
        spec(4), BUILTIN_IMAGE, Placement("net", 40002, "172.18.0.1", engine_socket="/d.sock"),
        builtin=True,
    )["HostConfig"]  # fmt: skip
    assert t4["NetworkMode"] == "host" and "/d.sock:/var/run/docker.sock" in t4["Binds"]
    assert t4["NanoCpus"] == 1_000_000_000  # 4 CPUs asked, capped at the Engine's 1
    unprivileged = Placement("net", 1, "172.18.0.1", privileged=False)
    assert container_config(spec(3), "i", unprivileged, False)["HostConfig"]["Privileged"] is False


def test_bridge_publishes_on_loopback_and_rewrites_the_platform_url() -> None:
    placement = Placement("molecule-monorepo-net", host_port=40001, gateway="172.18.0.1")
    config = container_config(spec(2), BUILTIN_IMAGE, placement, builtin=True)
    host = config["HostConfig"]
    assert host["PortBindings"] == {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
    assert host["ExtraHosts"] == ["host.docker.internal:172.18.0.1"]
    env = dict(e.split("=", 1) for e in config["Env"])
    assert env["PLATFORM_URL"] == "http://host.docker.internal:8080"
    assert env["MOLECULE_AGENT_PORT"] == "8000" and env["MOLECULE_AGENT_HOST"] == "0.0.0.0"
    aliases = config["NetworkingConfig"]["EndpointsConfig"]["molecule-monorepo-net"]["Aliases"]
    assert aliases == ["ws-0123abcd-456"]
    assert config["Labels"]["molecule.workspace.runtime"] == "echo"


def test_host_network_keeps_everything_on_loopback() -> None:
    config = container_config(spec(2), BUILTIN_IMAGE, Placement("host", host_port=40001), True)
    env = dict(e.split("=", 1) for e in config["Env"])
    assert env["PLATFORM_URL"] == "http://127.0.0.1:8080"
    assert env["MOLECULE_AGENT_PORT"] == "40001" and env["MOLECULE_AGENT_HOST"] == "127.0.0.1"
    assert (
        config["HostConfig"]["NetworkMode"] == "host" and "PortBindings" not in config["HostConfig"]
    )
    image = container_config(
        spec(2), "r/workspace-template-hermes:latest", Placement("host"), False
    )
    assert "PYTHONPATH=/app" in image["Env"]  # the original's template images


def test_archives_keep_credentials_private_and_templates_unix() -> None:
    with tarfile.open(fileobj=io.BytesIO(files_tar({".auth_token": b"t", "a/b": b"x"}))) as tar:
        modes = {m.name: m.mode for m in tar}
    assert modes == {".auth_token": 0o600, "a": 0o700, "a/b": 0o600}
    with pytest.raises(ValueError):
        files_tar({"../escape": b"x"})


def test_template_tar_converts_crlf_and_skips_links(tmp_path: Path) -> None:
    (tmp_path / "run.sh").write_bytes(b"echo hi\r\n")
    (tmp_path / "data.bin").write_bytes(b"keep\r\n")
    (tmp_path / "link").symlink_to("/etc/passwd")
    with tarfile.open(fileobj=io.BytesIO(template_tar(tmp_path))) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]
    assert files == {"data.bin": b"keep\r\n", "run.sh": b"echo hi\n"}


def test_path_stat_refusals_match_the_local_backend() -> None:
    assert refuse_unless_regular({"mode": 0o600, "size": 3}, "/configs/x") == 3
    with pytest.raises(FileNotFoundError):
        refuse_unless_regular(None, "/configs/x")
    with pytest.raises(IsADirectoryError):
        refuse_unless_regular({"mode": (1 << 31) | 0o755}, "/configs/d")
    with pytest.raises(OSError, match="symbolic links"):
        refuse_unless_regular({"mode": (1 << 27) | 0o777, "linkTarget": "/etc"}, "/configs/l")
    with pytest.raises(OSError, match="not a regular file"):
        refuse_unless_regular({"mode": (1 << 25) | 0o600}, "/configs/fifo")
    frames = b"\x01\0\0\0\0\0\0\x03abc\x02\0\0\0\0\0\0\x02de"
    assert demultiplex(frames) == b"abcde" and demultiplex(b"raw tty") == b"raw tty"


def test_exit_events_report_only_the_container_we_run() -> None:
    reported: list[tuple[str, int | None]] = []
    current = {WID: "c1"}
    watcher = ExitWatcher(None, current, lambda w, c: reported.append((w, c)), "i")  # type: ignore[arg-type]

    def event(action: str, cid: str, code: str = "137") -> dict[str, object]:
        attributes = {"molecule.workspace.id": WID, "exitCode": code}
        return {
            "Type": "container",
            "Action": action,
            "Actor": {"ID": cid, "Attributes": attributes},
        }

    watcher.on_event(event("die", "old-container"))  # an earlier container of the workspace
    assert reported == [] and current == {WID: "c1"}
    watcher.on_event(event("oom", "c1"))
    watcher.on_event(event("die", "c1"))
    watcher.on_event(event("die", "c1"))  # a replayed event after a reconnect: once only
    assert reported == [(WID, 137)] and current == {}


def test_settings_choose_the_backend(tmp_path: Path) -> None:
    home = {"MOLECULE_HOME": str(tmp_path)}
    local = Settings.from_env({**home, "MOLECULE_BACKEND": "local", "DOCKER_HOST": "unix:///x"})
    assert local.backend == "local" and local.docker_host is None
    auto = Settings.from_env(
        {**home, "DOCKER_HOST": "unix:///x", "MOLECULE_DOCKER_NETWORK": "host"}
    )
    assert auto.backend == "auto" and auto.docker_host == "unix:///x"
    assert auto.docker_network == "host" and not auto.image_auto_refresh
    assert Settings.from_env({**home, "IMAGE_AUTO_REFRESH": "TRUE"}).image_auto_refresh
    with pytest.raises(ConfigError, match="MOLECULE_BACKEND"):
        Settings.from_env({**home, "MOLECULE_BACKEND": "kubernetes"})


async def test_no_engine_means_local_processes(aio_loop: object, tmp_path: Path) -> None:
    missing = f"unix://{tmp_path}/no-docker.sock"
    settings = Settings(home=tmp_path, database_url=None, docker_host=missing)
    async with trio.open_nursery() as nursery:
        chosen = await open_backend(settings, nursery, lambda *a: None)
        assert isinstance(chosen, LocalProcessProvisioner) and chosen.kind == "local"
        assert chosen.can_run("echo") and not chosen.can_run("hermes")
        assert container_binds(chosen, "127.0.0.1", 8080) == []
        chosen.lifeline.close()
        forced = Settings(home=tmp_path, database_url=None, docker_host=missing, backend="docker")
        with pytest.raises(ConfigError, match="does not answer"):
            await open_backend(forced, nursery, lambda *a: None)
        with pytest.raises(ConfigError, match="no Docker Engine"):
            await open_backend(
                Settings(home=tmp_path, database_url=None, backend="docker"), nursery, print
            )


def test_engine_error_predicates() -> None:
    race = EngineError(409, "removal of container ws-eeb99b5d-607 is already in progress")
    assert race.removal_in_progress and not race.not_found
    assert not EngineError(409, "pull already in progress").removal_in_progress
    assert EngineError(404, "No such container: x").not_found
    assert EngineError(500, "boom").status == 502  # a canned 502 if it ever reached a client
    assert str(uuid.UUID(WID)) == WID
