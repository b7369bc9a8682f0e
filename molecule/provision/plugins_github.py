"""`github://<owner>/<repo>[#<ref>]`: a plugin fetched from a git repository.

As the original: the spec is `<owner>/<repo>` with an optional `#<tag|branch|commit>`; a
spec without a ref follows a branch whose content can change between an audit and the
install, so it is refused unless the operator sets `PLUGIN_ALLOW_UNPINNED=true`; the plugin's
name is the repository's; a failure reaches the caller only as `failed to fetch plugin from
github` (404 for a missing repository or ref, 504 past PLUGIN_INSTALL_FETCH_TIMEOUT, 502
otherwise), the detail (git's own words, which may hold URLs, request ids or paths) going to
the log alone.

Differently: the ref is fetched by itself (`git fetch --depth=1 <url> <ref>`), so a commit
SHA pins too (the original's `clone --branch` took tags and branches only), and the tree is
taken with `git archive` and read through the same checks as any archive
(molecule.provision.plugins_archive): a link in the repository is refused, never followed,
and the repository may not grow past the size limit while it is fetched, nor its tree while
it is read. The base URL is `https://github.com` (tests point it at a local git server).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import trio

from molecule.errors import BadGateway, BadRequest, NotFound, PayloadTooLarge, Unprocessable
from molecule.provision.plugins_archive import read_archive_bytes
from molecule.provision.plugins_registry import INVALID_SOURCE
from molecule.provision.plugins_staging import TOO_LARGE, Limits, StagedPlugin
from molecule.security.redact import sanitize_error_detail

log = logging.getLogger("molecule.provision.plugins_github")

SPEC = re.compile(
    r"^([a-zA-Z0-9][a-zA-Z0-9_.\-]{0,99})/([a-zA-Z0-9][a-zA-Z0-9_.\-]{0,99})"
    r"(?:#([a-zA-Z0-9_.][a-zA-Z0-9_./\-]{0,254}))?$"
)
UNPINNED = (
    'unpinned github source: append a tag or commit SHA (e.g. "github://owner/repo#v1.2.0").'
    " Set PLUGIN_ALLOW_UNPINNED=true to override"
)
FETCH_FAILED = "failed to fetch plugin from github"
NOT_FOUND_MARKERS = (
    "repository not found",
    "not found in upstream",
    "couldn't find remote ref",
    "could not find remote branch",
    "not exported",
    "does not appear to be a git repository",
    "not our ref",
)
WATCH_INTERVAL = 0.1
GIT_ENV = {"LANG": "C", "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}  # never a prompt


def unpinned_allowed() -> bool:
    return os.environ.get("PLUGIN_ALLOW_UNPINNED") == "true"


@dataclass(frozen=True)
class GithubSpec:
    owner: str
    repo: str
    ref: str | None

    @classmethod
    def parse(cls, spec: str) -> GithubSpec:
        m = SPEC.match(spec)
        if m is None or ".." in spec:
            raise BadRequest(INVALID_SOURCE)
        return cls(m[1], m[2], m[3] or None)


def _tree_size(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


class GithubResolver:
    scheme = "github"

    def __init__(self, base_url: str = "https://github.com", git: str = "git") -> None:
        self.base_url = base_url.rstrip("/")
        self.git = git

    async def fetch(self, spec: GithubSpec, limits: Limits) -> StagedPlugin:
        """The repository's tree at the ref (bounded by the fetch timeout), checked."""
        if spec.ref is None and not unpinned_allowed():
            raise Unprocessable(UNPINNED)  # the caller checks first
        work = Path(await trio.to_thread.run_sync(tempfile.mkdtemp, "", "molecule-plugin-"))
        try:
            with trio.move_on_after(limits.fetch_timeout) as scope:
                staged = await self._fetch(spec, limits, work)
            if scope.cancelled_caught:
                log.warning("plugin fetch %s/%s timed out", spec.owner, spec.repo)
                raise BadGateway(FETCH_FAILED, status=504)
            return staged
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(shutil.rmtree, work, True)

    async def _fetch(self, spec: GithubSpec, limits: Limits, work: Path) -> StagedPlugin:
        url = f"{self.base_url}/{spec.owner}/{spec.repo}.git"
        repo = work / "repo.git"
        await self._git(["init", "--quiet", "--bare", "--template=", str(repo)], work, limits)
        fetch = ["fetch", "--quiet", "--depth=1", "--no-tags", "--", url, spec.ref or "HEAD"]
        await self._git(["-C", str(repo), *fetch], work, limits, watch=True)
        commit = (
            await self._git(
                ["-C", str(repo), "rev-parse", "--verify", "FETCH_HEAD^{commit}"], work, limits
            )
        ).strip()
        tree = await self._archive(repo, limits)
        staged = await trio.to_thread.run_sync(read_archive_bytes, tree, spec.repo, limits)
        staged.commit = commit or None
        return staged

    def _env(self) -> dict[str, str]:
        return {**os.environ, **GIT_ENV}

    async def _git(self, args: list[str], work: Path, limits: Limits, watch: bool = False) -> str:
        """Run git; its stdout. A failure is 404 or 502 with the canned message (the detail
        is logged); with `watch`, the work directory may not outgrow the size limit."""
        too_large = False
        result: subprocess.CompletedProcess[bytes] | None = None
        spawn_error: OSError | None = None
        async with trio.open_nursery() as nursery:
            if watch:

                async def watchdog() -> None:
                    nonlocal too_large
                    while True:
                        await trio.sleep(WATCH_INTERVAL)
                        size = await trio.to_thread.run_sync(_tree_size, work)
                        if size > 2 * limits.archive_bytes:
                            too_large = True
                            nursery.cancel_scope.cancel()
                            return

                nursery.start_soon(watchdog)
            try:
                result = await trio.run_process(
                    [self.git, *args],
                    cwd=str(work),
                    env=self._env(),
                    stdin=subprocess.DEVNULL,
                    capture_stdout=True,
                    capture_stderr=True,
                    check=False,
                )
            except OSError as exc:
                spawn_error = exc
            nursery.cancel_scope.cancel()
        if spawn_error is not None:
            log.error("plugin fetch: cannot run git: %s", spawn_error)
            raise BadGateway(FETCH_FAILED)
        if too_large:
            raise PayloadTooLarge(TOO_LARGE)
        assert result is not None
        if result.returncode != 0:
            detail = result.stderr.decode(errors="replace").strip()
            log.warning(
                "plugin fetch: git %s failed: %s", args[-2:], sanitize_error_detail(detail[-2000:])
            )
            if any(marker in detail.lower() for marker in NOT_FOUND_MARKERS):
                raise NotFound(FETCH_FAILED)
            raise BadGateway(FETCH_FAILED)
        return result.stdout.decode(errors="replace")

    async def _archive(self, repo: Path, limits: Limits) -> bytes:
        """`git archive` of the fetched tree, read until it passes the archive cap."""
        args = [self.git, "-C", str(repo), "archive", "--format=tar", "FETCH_HEAD"]
        try:
            proc = await trio.lowlevel.open_process(
                args,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except OSError as exc:
            log.error("plugin fetch: cannot run git: %s", exc)
            raise BadGateway(FETCH_FAILED) from None
        data = bytearray()
        try:
            assert proc.stdout is not None
            while chunk := await proc.stdout.receive_some(1 << 16):
                data += chunk
                if len(data) > limits.archive_bytes:
                    raise PayloadTooLarge(TOO_LARGE)
            code = await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()
                with trio.CancelScope(shield=True):
                    await proc.wait()
            if proc.stdout is not None:
                await proc.stdout.aclose()
        if code != 0:
            log.warning("plugin fetch: git archive failed (exit %s)", code)
            raise BadGateway(FETCH_FAILED)
        return bytes(data)
