"""The two credentials on disk: `.auth_token` and `.platform_inbound_secret` (mode 0600).

* `.auth_token` is the workspace's bearer towards the platform. The provisioner writes it, the
  first register response may carry it; `MOLECULE_WORKSPACE_TOKEN` is the fallback for an
  agent with no token file (external runtime path). Cached in memory, re-read on demand (a
  401 from the platform may mean the provisioner rotated it on disk).
* `.platform_inbound_secret` authenticates the platform when it calls our `/internal/*`
  routes. It arrives in every register and heartbeat response. It is read from disk on every
  check, so a value the provisioner rewrote is honoured at once; a missing or empty file fails
  closed.

Both are written the same way: a `.tmp` sibling created with mode 0600 and no-follow, fsynced,
then atomically renamed over the target, so a concurrent reader sees the old or the new value,
never a partial or world-readable one. An identical value is not rewritten.
"""

from __future__ import annotations

import os
from pathlib import Path

import trio

TOKEN_FILE = ".auth_token"
SECRET_FILE = ".platform_inbound_secret"


def read_secret_file(path: Path) -> str | None:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        return None
    return value or None


def write_secret_file(path: Path, value: str) -> bool:
    """Atomically write `value` (no newline) with mode 0600; False when already identical."""
    if read_secret_file(path) == value:
        return False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask may have narrowed it further; never wider
        os.write(fd, value.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return True


class Credentials:
    def __init__(self, configs_dir: Path, env_token: str | None = None) -> None:
        self.configs_dir = configs_dir
        self.env_token = env_token
        self._token: str | None = None
        self._token_loaded = False

    @property
    def token_path(self) -> Path:
        return self.configs_dir / TOKEN_FILE

    @property
    def secret_path(self) -> Path:
        return self.configs_dir / SECRET_FILE

    def token(self) -> str | None:
        """The bearer to present, from the cache, else the file, else the environment."""
        if not self._token_loaded:
            self._token = read_secret_file(self.token_path)
            self._token_loaded = True
        return self._token or self.env_token

    async def reload_token(self) -> str | None:
        self._token = await trio.to_thread.run_sync(read_secret_file, self.token_path)
        self._token_loaded = True
        return self.token()

    async def save_token(self, token: str) -> None:
        token = token.strip()
        if not token:
            return
        await trio.to_thread.run_sync(write_secret_file, self.token_path, token)
        self._token, self._token_loaded = token, True

    async def save_inbound_secret(self, secret: str) -> None:
        secret = secret.strip()
        if secret:
            await trio.to_thread.run_sync(write_secret_file, self.secret_path, secret)

    async def inbound_secret(self) -> str | None:
        return await trio.to_thread.run_sync(read_secret_file, self.secret_path)

    async def file_token(self) -> str | None:
        """The token file's value only (no env fallback): `/transcript` fails closed on it."""
        return await trio.to_thread.run_sync(read_secret_file, self.token_path)
