"""The one start pipeline every start path uses (create, restart, resume, wake, expand).

prepare context (secrets global then workspace, forbidden operator keys, env: WORKSPACE_ID,
PLATFORM_URL, PARENT_ID, role, model), required_env preflight, mint the auth token and the
inbound secret, start through the provisioner, store the URL. A failure is recorded with a
canned message only, as in the original (docs/architecture.md §4.4): internals go to the log,
never to a broadcast.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import yaml

from molecule.errors import ProvisionError, ProvisionFailed
from molecule.events import WORKSPACE_PROVISION_FAILED, EventBus
from molecule.models import WorkspaceStatus
from molecule.observability.logs import log_extra
from molecule.provision.base import NO_BACKEND_MESSAGE, Provisioner, StartSpec
from molecule.provision.runtimes import LOCAL_ADAPTERS as LOCAL_ADAPTERS  # re-exported
from molecule.provision.templates import Templates
from molecule.security.token_material import new_inbound_secret
from molecule.store.secrets import Secrets
from molecule.store.token_rows import WorkspaceTokens
from molecule.store.workspaces import Workspaces

log = logging.getLogger("molecule.provision.pipeline")

FORBIDDEN_KEYS = frozenset(
    {
        "GITEA_TOKEN", "GITEA_PAT", "GITHUB_TOKEN", "GITHUB_PAT", "GH_TOKEN", "GITLAB_TOKEN",
        "GL_TOKEN", "BITBUCKET_TOKEN", "CP_ADMIN_API_TOKEN", "CP_ADMIN_TOKEN",
        "INFISICAL_OPERATOR_TOKEN", "INFISICAL_BOOTSTRAP_TOKEN", "RAILWAY_TOKEN",
        "RAILWAY_PERSONAL_API_TOKEN", "HETZNER_TOKEN", "HETZNER_API_TOKEN",
    }
)  # fmt: skip
FORBIDDEN_PREFIX = "MOLECULE_OPERATOR_"
# Default config.yaml of an image runtime: the original's `timeout: 0` except for these.
_NO_TIMEOUT_DEFAULT = frozenset({"langgraph", "deepagents"})


def forbidden_env_message(keys: list[str]) -> str:
    if len(keys) == 1:
        return (
            f'provision aborted: env var "{keys[0]}" is operator-scope and must not reach tenant '
            "workspaces (RFC#523) — remove it from workspace_secrets / global_secrets and retry"
        )
    return (
        f"provision aborted: env vars {', '.join(keys)} are operator-scope and must not reach "
        "tenant workspaces (RFC#523) — remove them from workspace_secrets / global_secrets and "
        "retry"
    )


def missing_env_message(keys: list[str]) -> str:
    if len(keys) == 1:
        return (
            f'missing required env var "{keys[0]}" — add it under Config → Env Vars '
            "(or as a Global secret) and retry"
        )
    return (
        f"missing required env vars {', '.join(keys)} — add them under Config → Env Vars "
        "(or as Global secrets) and retry"
    )


@dataclass
class Pipeline:
    workspaces: Workspaces
    tokens: WorkspaceTokens
    secrets: Secrets
    bus: EventBus
    templates: Templates
    provisioner: Provisioner | None
    platform_url: str

    async def mark_failed(
        self, workspace_id: str, message: str, extra: dict[str, Any] | None = None
    ) -> None:
        """Record the canned reason on the row, then broadcast it (markProvisionFailed, in
        the other order: whoever reacts to the event reads the row already failed)."""
        payload = {"error": message, **(extra or {})}
        await self.workspaces.transition(
            workspace_id,
            WorkspaceStatus.FAILED,
            [s for s in WorkspaceStatus if s is not WorkspaceStatus.REMOVED],
            sample_error=message,
        )
        await self.bus.record(WORKSPACE_PROVISION_FAILED, workspace_id, payload)

    def can_start(self, runtime: str) -> bool:
        """Can this platform start an agent of `runtime` by itself?"""
        return self.provisioner is not None and self.provisioner.can_run(runtime)

    def cannot_start_message(self, runtime: str) -> str:
        """Why `can_start(runtime)` is False, in words for the user."""
        if self.provisioner is None:
            return NO_BACKEND_MESSAGE
        if self.provisioner.kind != "local":
            return f'runtime "{runtime}" is not run by the platform (external or mock)'
        return (
            f'runtime "{runtime}" cannot run as a local process (available: '
            f"{', '.join(sorted(LOCAL_ADAPTERS))}); it needs a Docker engine"
        )

    async def mint_workspace_secrets(self, workspace_id: str) -> dict[str, bytes]:
        """Every start path calls this (a test enforces it): fresh token, fresh inbound
        secret, both handed to the runtime as files in its config directory."""
        await self.tokens.revoke_all(workspace_id)
        token = await self.tokens.mint(workspace_id)
        secret = new_inbound_secret()
        await self.workspaces.set_inbound_secret(workspace_id, secret)
        return {".auth_token": token.encode(), ".platform_inbound_secret": secret.encode()}

    async def _environment(self, row: dict[str, Any]) -> dict[str, str]:
        wid = row["id"]
        loaded = await self.secrets.load(wid)
        if loaded.failed_global:
            raise ProvisionFailed("failed to decrypt global secret", {})
        if loaded.failed_workspace:
            raise ProvisionFailed("failed to decrypt workspace secret", {})
        forbidden = sorted(
            k for k in loaded.values if k in FORBIDDEN_KEYS or k.startswith(FORBIDDEN_PREFIX)
        )
        if forbidden:
            raise ProvisionFailed(
                forbidden_env_message(forbidden), {"forbidden_env_keys": forbidden, "rfc": "523"}
            )
        env = dict(loaded.values)
        env.update(
            {
                "WORKSPACE_ID": wid,
                "PLATFORM_URL": self.platform_url,
                "MOLECULE_URL": self.platform_url,
                "TIER": str(row.get("tier") or 3),
            }
        )
        model = env.get("MOLECULE_MODEL") or env.get("MODEL")
        if model:
            env["MOLECULE_MODEL"] = env["MODEL"] = model
        if row.get("role"):
            env["MOLECULE_AGENT_ROLE"] = str(row["role"])
        if row.get("parent_id"):
            env["PARENT_ID"] = str(row["parent_id"])
        return env

    def _config(self, row: dict[str, Any]) -> tuple[str | None, dict[str, bytes], list[str]]:
        """(template dir, generated config files, required env) for the workspace."""
        runtime = row.get("runtime") or ""
        if not self.can_start(runtime):
            raise ProvisionFailed(self.cannot_start_message(runtime), {})
        template = self.templates.for_workspace(row.get("template"), runtime)
        if template is not None:
            return str(template.path), {}, template.required_env
        generated: dict[str, Any] = {
            "name": row["name"],
            "description": row.get("role") or row["name"],
            "version": "1.0.0",
            "runtime": runtime,
        }
        adapter = LOCAL_ADAPTERS.get(runtime)
        if adapter is not None:
            generated["runtime_config"] = {"adapter": adapter}
        else:  # an image runtime: the original's default config (upstream-april §8.1)
            generated["tier"] = row.get("tier") or 3
            if runtime not in _NO_TIMEOUT_DEFAULT:
                generated["runtime_config"] = {"timeout": 0}
        return None, {"config.yaml": yaml.safe_dump(generated).encode()}, []

    async def start(self, workspace_id: str) -> str:
        """Run the pipeline; return the agent URL, or mark the workspace failed and raise."""
        row = await self.workspaces.get(workspace_id)
        if row is None:
            raise ProvisionFailed("workspace not found", {})
        try:
            if self.provisioner is None:
                raise ProvisionFailed(NO_BACKEND_MESSAGE, {})
            env = await self._environment(row)
            template_dir, files, required = self._config(row)
            missing = [k for k in required if not env.get(k)]
            if missing:
                raise ProvisionFailed(missing_env_message(missing), {"missing": missing})
            files.update(await self.mint_workspace_secrets(workspace_id))
            spec = StartSpec(workspace_id, row["runtime"], env, files, template_dir)
            try:
                started = await self.provisioner.start(spec)
            except ProvisionError as exc:
                log.error(
                    "workspace %s: start failed: %s",
                    workspace_id,
                    exc.detail or exc,
                    extra=log_extra(workspace_id, "provision"),
                )
                raise ProvisionFailed(exc.public, {}) from exc
            await self.workspaces.set_url(workspace_id, started.url)
            return started.url
        except ProvisionFailed as failure:
            await self.mark_failed(workspace_id, failure.message, failure.extra)
            raise
