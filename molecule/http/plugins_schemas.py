"""Wire shapes of the plugin routes (molecule.http.plugins, plugins_allowlist), for the API
description. The routes check with the original's messages themselves; these describe what a
client may send and will get back, never stricter than the routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

MAX_RUNTIME = 64
MAX_ALLOWLIST = 500
MAX_ENABLED_BY = 256


class RuntimeQuery(BaseModel):
    runtime: str | None = Field(
        None, max_length=MAX_RUNTIME, description="only plugins declaring this runtime"
    )


class CompatibilityQuery(BaseModel):
    runtime: str = Field(max_length=MAX_RUNTIME, description="the runtime to check against")


class DownloadQuery(BaseModel):
    source: str | None = Field(None, description="`<scheme>://<spec>`; default local://<name>")
    sha256: str | None = Field(None, description="the SHA-256 of plugin.yaml to insist on")


class PluginInstall(BaseModel):
    source: str = Field(description='"local://<name>" or "github://<owner>/<repo>#<ref>"')
    sha256: str | None = Field(
        None, description="SHA-256 (hex) of the plugin's plugin.yaml; the install fails if not"
    )


class PluginInfo(BaseModel):
    """A plugin as its plugin.yaml describes it (lists empty when absent)."""

    model_config = ConfigDict(extra="allow")

    name: str
    version: str
    description: str
    author: str
    tags: list[str]
    skills: list[str]
    runtimes: list[str]
    source: str | None = None
    sha256: str | None = Field(None, description="SHA-256 of plugin.yaml")


class InstalledPlugin(PluginInfo):
    supported_on_runtime: bool | None = None
    installed_at: datetime


class Sources(BaseModel):
    schemes: list[str]


class PluginInstalled(BaseModel):
    status: str
    plugin: str
    source: str


class PluginUninstalled(BaseModel):
    status: str
    plugin: str


class Compatibility(BaseModel):
    target_runtime: str
    compatible: list[PluginInfo]
    incompatible: list[PluginInfo]
    all_compatible: bool


class AllowlistEntry(BaseModel):
    plugin_name: str
    enabled_by: str
    enabled_at: datetime


class Allowlist(BaseModel):
    org_id: str
    plugins: list[AllowlistEntry]
    allow_all: bool


class AllowlistPut(BaseModel):
    plugins: list[str] | None = Field(
        None, max_length=MAX_ALLOWLIST, description="the whole allowlist; empty allows all"
    )
    enabled_by: str = Field(min_length=1, max_length=MAX_ENABLED_BY)


class AllowlistSaved(BaseModel):
    org_id: str
    plugins: list[str]
    allow_all: bool
