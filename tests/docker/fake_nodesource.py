"""Stand-ins for NodeSource's apt repository, served on loopback to a container on the host
network, for scripts/ensure-node.sh's tests (tests/docker/test_ensure_node.py).

`key_only_repository`: hands out a key and has no repository (apt-get update fails on it).
`signed_repository`: a real signed apt repository, laid out as NodeSource's (gpgkey/…,
node_22.x/dists/nodistro/…), whose `nodejs` package's node and npm only print versions: the
path a machine that reaches NodeSource takes. It is signed with a key made for it here (gpg),
and its package built with dpkg-deb.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import formatdate
from pathlib import Path

KEY_PATH = "gpgkey/nodesource-repo.gpg.key"
FAKE_NODE = "v22.99.0"
FAKE_NPM = "10.99.0"


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve `directory` on 127.0.0.1 (a free port) until the block ends; yields its URL."""
    handler = functools.partial(Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def key_only_repository(root: Path) -> Path:
    (root / KEY_PATH).parent.mkdir(parents=True)
    (root / KEY_PATH).write_text(
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n-----END PGP PUBLIC KEY BLOCK-----\n"
    )
    return root


def can_sign() -> bool:
    return shutil.which("gpg") is not None and shutil.which("dpkg-deb") is not None


def _run(*command: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(command)}: {done.stderr}"
    return done.stdout


def signed_repository(root: Path, work: Path) -> Path:
    """NodeSource's layout under `root`, with a `nodejs` package of the host's architecture."""
    gnupg = work / "gnupg"
    gnupg.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(gnupg)}
    try:
        _build(root, work, env)
    finally:  # key generation started a gpg-agent for this GNUPGHOME
        subprocess.run(["gpgconf", "--kill", "all"], env=env, capture_output=True, check=False)
    return root


def _build(root: Path, work: Path, env: dict[str, str]) -> None:
    arch = _run("dpkg", "--print-architecture").strip()
    gpg = ("gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "")
    _run(*gpg, "--quick-gen-key", "Fake NodeSource <fake@invalid>", "ed25519", "sign", "never",
         env=env)  # fmt: skip
    (root / KEY_PATH).parent.mkdir(parents=True)
    (root / KEY_PATH).write_text(_run(*gpg, "--armor", "--export", env=env))

    package = work / "nodejs"
    (package / "DEBIAN").mkdir(parents=True)
    (package / "usr" / "bin").mkdir(parents=True)
    control = (
        "Package: nodejs\nVersion: 22.99.0-1nodesource1\nArchitecture: all\n"
        "Maintainer: Fake NodeSource <fake@invalid>\nDescription: stands in for Node.js\n"
    )
    (package / "DEBIAN" / "control").write_text(control)
    for name, version in (("node", FAKE_NODE), ("npm", FAKE_NPM)):
        tool = package / "usr" / "bin" / name
        tool.write_text(f"#!/bin/sh\necho {version}\n")
        tool.chmod(0o755)
    repo = root / "node_22.x"
    pool = repo / "pool" / "main"
    pool.mkdir(parents=True)
    deb = pool / "nodejs_22.99.0-1nodesource1_all.deb"
    _run("dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(package), str(deb))

    binary = repo / "dists" / "nodistro" / "main" / f"binary-{arch}"
    binary.mkdir(parents=True)
    data = deb.read_bytes()
    (binary / "Packages").write_text(
        f"{control}Filename: {deb.relative_to(repo)}\nSize: {len(data)}\n"
        f"SHA256: {hashlib.sha256(data).hexdigest()}\n\n"
    )
    packages = (binary / "Packages").read_bytes()
    release = repo / "dists" / "nodistro" / "Release"
    release.write_text(
        "Origin: Fake NodeSource\nLabel: Fake NodeSource\nSuite: nodistro\nCodename: nodistro\n"
        f"Date: {formatdate(usegmt=True)}\nArchitectures: {arch}\nComponents: main\nSHA256:\n"
        f" {hashlib.sha256(packages).hexdigest()} {len(packages)} main/binary-{arch}/Packages\n"
    )
    _run(*gpg, "--clearsign", "-o", str(release.with_name("InRelease")), str(release), env=env)
