"""A Python base image made from Debian's packages, for machines that cannot pull one.

Where no registry base (python:3.11-slim) can be pulled, `molecule images build` (and a
workspace start that needs the built-in image) makes `molecule-base:bookworm`: debootstrap's
minimal Debian bookworm with python3 and CA certificates, from the Debian mirror apt already
uses, trimmed of caches and documentation and `docker import`ed. It is built once: the
Engine keeps it (and a copy of its root filesystem tarball may be kept in a cache directory,
so a fresh Engine imports it in seconds instead of running debootstrap again).

Needs root and the `debootstrap` program (Debian's package of that name).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import trio

from molecule.errors import EngineError
from molecule.provision.docker.engine import Engine

log = logging.getLogger("molecule.provision.docker.debian_base")

DEBIAN_BASE = "molecule-base:bookworm"
SUITE = "bookworm"  # its python3 is 3.11, the version the runtime's packages are built for
PACKAGES = ("python3", "ca-certificates")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
TRIM = ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
        "usr/share/info", "usr/share/locale")  # fmt: skip
DEBOOTSTRAP_TIMEOUT = 1200.0
TARBALL_NAME = "molecule-base-bookworm.tar"


def debian_mirror() -> str:
    """The Debian mirror apt uses on this machine (deb822 or one-line sources)."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.is_file():
        for line in sources.read_text(errors="replace").splitlines():
            if line.startswith("URIs:"):
                for uri in line.split()[1:]:
                    if "security" not in uri:
                        return uri.rstrip("/")
    legacy = Path("/etc/apt/sources.list")
    if legacy.is_file():
        for line in legacy.read_text(errors="replace").splitlines():
            m = re.match(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+\S+", line)
            if m and "security" not in m.group(1):
                return m.group(1).rstrip("/")
    return DEFAULT_MIRROR


def why_not_buildable() -> str | None:
    """None when this process can run debootstrap, else why not (for the user)."""
    if shutil.which("debootstrap") is None:
        return "debootstrap is not installed (apt-get install debootstrap)"
    if os.geteuid() != 0:
        return "making a Debian base image needs root (debootstrap)"
    return None


def make_rootfs_tarball(workdir: Path, mirror: str | None = None) -> Path:
    """Run debootstrap into `workdir` and pack the trimmed root filesystem (blocking)."""
    root = workdir / "rootfs"
    command = [
        "debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE,
        str(root), mirror or debian_mirror(),
    ]  # fmt: skip
    log.info("making the Debian base image: %s", " ".join(command))
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=DEBOOTSTRAP_TIMEOUT, check=False
    )
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-2000:]
        raise EngineError(500, f"debootstrap failed ({done.returncode}): {tail}")
    for rel in TRIM:
        target = root / rel
        if target.is_dir():
            shutil.rmtree(target)
            target.mkdir()
    tarball = workdir / TARBALL_NAME
    subprocess.run(
        ["tar", "--numeric-owner", "-C", str(root), "-cf", str(tarball), "."],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(root, ignore_errors=True)
    return tarball


async def build_debian_base(engine: Engine, cache_dir: Path | None = None) -> str:
    """Import `molecule-base:bookworm` (from the cached tarball, or debootstrap it now)."""
    repo, tag = DEBIAN_BASE.split(":")
    cached = cache_dir / TARBALL_NAME if cache_dir is not None else None
    if cached is not None and cached.is_file():
        log.info("importing the Debian base image from %s", cached)
        await engine.import_image(cached, repo, tag)
        return DEBIAN_BASE
    problem = why_not_buildable()
    if problem is not None:
        raise EngineError(500, f"no base image for the runtime image: {problem}")
    with tempfile.TemporaryDirectory(prefix="molecule-base-") as tmp:
        tarball = await trio.to_thread.run_sync(make_rootfs_tarball, Path(tmp))
        await engine.import_image(tarball, repo, tag)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(".partial")
            await trio.to_thread.run_sync(shutil.copyfile, tarball, partial)
            partial.replace(cached)
    log.info("imported the Debian base image %s", DEBIAN_BASE)
    return DEBIAN_BASE
