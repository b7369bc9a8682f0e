"""Push-mode chat files: uploads and downloads proxied to the workspace's own agent.

As in the original platform, the bytes go to the agent's `/internal/chat/uploads/ingest` or come
from its `/internal/file/read`, with `Authorization: Bearer <platform_inbound_secret>`; both
directions resolve the agent through one `target()`, which refuses with the original's answers
(no URL yet, poll mode, no secret) and heals a missing inbound secret. Bodies stream both ways:
the caller hands an async iterator of request chunks (pulled only as the agent reads them) and
relays the `Upstream` answer chunk by chunk.

SSRF: the URL is whatever the workspace registered, so unless the platform assigned it itself
(a local-process agent on `http://127.0.0.1:<port>`, trusted as `WorkspaceActor._target`
trusts it) it passes `check_outbound_url` before every transfer, and the request goes to the
vetted address: the URL's host is replaced by that address while the Host header and the TLS
name (`sni_hostname`, also what the certificate is checked against) stay the registered name.
A name that resolves elsewhere a moment later (DNS rebinding) is therefore never dialled.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import trio

from molecule.errors import DatastoreUnavailable, MoleculeError, NotFound, UnsafeURL
from molecule.provision.pipeline import Pipeline
from molecule.security.ssrf import IPAddress, URLPolicy, check_outbound_url
from molecule.security.token_material import new_inbound_secret
from molecule.store.pending_uploads import ChatFileRoute, chat_file_route
from molecule.store.pool import Store
from molecule.store.workspaces import Workspaces
from molecule.workspace_paths import ROOTS, validate_virtual

log = logging.getLogger("molecule.operations.chat_forwarding")

FORWARD_TIMEOUT = 1200.0  # a 100 MiB file to a slow agent
# The original platform also let `/agent-home` through (another runtime's home); an agent
# without it refuses the path itself, with the same 400.
DOWNLOAD_ROOTS = (*ROOTS, "/agent-home")
PLATFORM_ASSIGNED_PREFIX = "http://127.0.0.1:"  # only the local provisioner writes these
INGEST_PATH = "/internal/chat/uploads/ingest"
FILE_READ_PATH = "/internal/file/read"


def unreachable() -> MoleculeError:
    return MoleculeError("workspace unreachable", status=502)


def check_download_path(path: str | None) -> str:
    """The platform's own check of a download path before forwarding it (400 on refusal)."""
    return validate_virtual(path, DOWNLOAD_ROOTS)


@dataclass(frozen=True)
class ForwardTarget:
    workspace_id: str
    url: str  # without a trailing slash
    secret: str
    address: IPAddress | None  # the vetted address to dial; None: the URL as is (trusted)


def pinned_request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    address: IPAddress | None,
    *,
    headers: dict[str, str],
    params: dict[str, str] | None = None,
    content: AsyncIterator[bytes] | None = None,
) -> httpx.Request:
    """A request for `url` that connects to `address` (when given) without resolving the
    URL's host again; Host and TLS name stay the URL's."""
    target = httpx.URL(url)
    extensions: dict[str, str] = {}
    if address is not None:
        headers = {**headers, "Host": target.netloc.decode("ascii")}
        if target.scheme == "https":
            extensions["sni_hostname"] = target.host
        target = target.copy_with(host=str(address))
    return client.build_request(
        method, target, headers=headers, params=params, content=content, extensions=extensions
    )


@dataclass
class Upstream:
    """The agent's streamed answer: relay `chunks()`, then `aclose()` (always)."""

    response: httpx.Response
    client: httpx.AsyncClient
    what: str  # "workspace <id>: chat upload via <url>", for the log

    async def chunks(self) -> AsyncIterator[bytes]:
        """The raw body; an answer cut short is logged and simply ends (the status is sent)."""
        try:
            async for chunk in self.response.aiter_raw():
                yield chunk
        except httpx.HTTPError as exc:
            log.warning("%s: answer cut short: %r", self.what, exc)

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):  # the connection must go even when cancelled
            await self.response.aclose()
            await self.client.aclose()


class ChatForwarding:
    def __init__(
        self, store: Store, workspaces: Workspaces, pipeline: Pipeline, url_policy: URLPolicy
    ) -> None:
        self.store = store
        self.workspaces = workspaces
        self.pipeline = pipeline
        self.url_policy = url_policy

    async def route(self, workspace_id: str, action: str) -> ChatFileRoute:
        """The workspace's routing columns (`action`: upload|download); NotFound if none.

        A failed lookup is a 500 for an upload but a 404 for a download, as the original
        answered them."""
        try:
            route = await chat_file_route(self.store, workspace_id)
        except DatastoreUnavailable:
            raise  # an outage is a 503 with Retry-After, like everywhere else
        except Exception as exc:
            log.exception("workspace %s: chat %s lookup failed", workspace_id, action)
            if action == "upload":
                raise MoleculeError("delivery_mode lookup failed", status=500) from exc
            route = None
        if route is None:
            raise NotFound("workspace not found")
        return route

    async def target(self, workspace_id: str, route: ChatFileRoute, action: str) -> ForwardTarget:
        """Where to forward, or the original's refusal (`action`: upload|download)."""
        url = route.url
        if not url:
            if route.delivery_mode != "push":
                raise MoleculeError(
                    f"workspace has no callback URL — chat {action} requires push-mode + public"
                    " URL",
                    status=422,
                    extra={
                        "detail": "This workspace registered without a publicly-reachable URL"
                        " (delivery_mode is not 'push'). The platform cannot reach it to"
                        " transfer files; re-register it in push mode with a URL the platform"
                        " can reach."
                    },
                )
            raise MoleculeError("workspace url not registered yet", status=503)
        secret = route.inbound_secret or await self._heal_secret(workspace_id)
        address = None
        if not self._platform_assigned(route):
            address = await self._vet(workspace_id, url, action)
        return ForwardTarget(workspace_id, url.rstrip("/"), secret, address)

    async def _heal_secret(self, workspace_id: str) -> str:
        """Mint the missing inbound secret; the agent learns it at its next heartbeat, so this
        request is refused either way (retry, or reprovision when minting fails)."""
        try:
            healed = await self.workspaces.heal_inbound_secret(workspace_id, new_inbound_secret())
        except DatastoreUnavailable:
            raise
        except Exception:
            log.exception("workspace %s: minting the inbound secret failed", workspace_id)
            healed = None
        if healed is None:
            raise MoleculeError(
                "workspace not yet enrolled in v2 upload (RFC #2312)",
                status=503,
                extra={
                    "detail": "Failed to mint inbound secret. Reprovision the workspace if"
                    " this persists."
                },
            )
        secret, minted = healed
        if minted:
            raise MoleculeError(
                "workspace re-registering — please retry in 30 seconds",
                status=503,
                extra={
                    "detail": "Inbound secret was just minted. Workspace will pick it up on its"
                    " next heartbeat.",
                    "retry_after_seconds": 30,
                },
            )
        return secret

    def _platform_assigned(self, route: ChatFileRoute) -> bool:
        """A loopback URL of an agent this platform runs: the local provisioner wrote it
        (registering one is refused), so it needs no SSRF check."""
        return self.pipeline.can_start(route.runtime) and route.url.startswith(
            PLATFORM_ASSIGNED_PREFIX
        )

    async def _vet(self, workspace_id: str, url: str, action: str) -> IPAddress:
        try:
            return await check_outbound_url(url, self.url_policy)
        except UnsafeURL as exc:
            log.warning(
                "workspace %s: chat %s refused by the SSRF guard: %s", workspace_id, action, exc
            )
            raise MoleculeError("workspace URL is not publicly routable", status=502) from None

    async def open_upload(
        self,
        target: ForwardTarget,
        content_type: str | None,
        length: int | None,
        body: AsyncIterator[bytes],
    ) -> Upstream:
        """Send the multipart body on to the agent's ingest; the answer to relay."""
        headers = {"Authorization": f"Bearer {target.secret}"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        # httpx sends an async-iterator body chunked unless Content-Length is set; with the
        # caller's length the agent gets a fixed-length body it can refuse before reading.
        if length:
            headers["Content-Length"] = str(length)
        return await self._open(target, "upload", "POST", INGEST_PATH, headers, content=body)

    async def open_download(self, target: ForwardTarget, path: str) -> Upstream:
        """Ask the agent for the file at `path` (already `check_download_path`ed)."""
        headers = {"Authorization": f"Bearer {target.secret}"}
        params = {"path": path}
        return await self._open(target, "download", "GET", FILE_READ_PATH, headers, params=params)

    @staticmethod
    async def _open(
        target: ForwardTarget,
        action: str,
        method: str,
        path: str,
        headers: dict[str, str],
        *,
        params: dict[str, str] | None = None,
        content: AsyncIterator[bytes] | None = None,
    ) -> Upstream:
        """Send the request (streamed, to the pinned address) and return the answer's head;
        the body is left to the caller. Nothing answering is a 502."""
        what = f"workspace {target.workspace_id}: chat {action} via {target.url}"
        client = httpx.AsyncClient(timeout=httpx.Timeout(FORWARD_TIMEOUT), trust_env=False)
        try:
            request = pinned_request(
                client, method, target.url + path, target.address,
                headers=headers, params=params, content=content,
            )  # fmt: skip
            response = await client.send(request, stream=True)
        except httpx.HTTPError as exc:
            with trio.CancelScope(shield=True):
                await client.aclose()
            log.warning("%s failed: %r", what, exc)
            raise unreachable() from exc
        except BaseException:
            with trio.CancelScope(shield=True):
                await client.aclose()
            raise
        return Upstream(response, client, what)
