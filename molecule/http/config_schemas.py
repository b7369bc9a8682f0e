"""Wire shapes of the configuration and inspection routes (files, config, model, provider,
budget, metrics, console, transcript, template import), for the API description.

The routes validate with the original's exact messages themselves; these describe what a
client may send and will get back.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Root = Literal["/configs", "/workspace", "/home", "/plugins"]


class FilesQuery(BaseModel):
    root: Root | None = None
    path: str | None = Field(None, max_length=1024)
    depth: int | None = Field(None, ge=1, le=5)


class RootQuery(BaseModel):
    root: Root | None = None


class FileEntry(BaseModel):
    path: str
    size: int
    dir: bool


class FileContent(BaseModel):
    """A text file (UTF-8); `size` counts its bytes."""

    path: str
    content: str
    size: int


class FileWrite(BaseModel):
    content: str = Field("", description="UTF-8 text; absent means an empty file")


class FilesReplace(BaseModel):
    files: dict[str, str] = Field(description="relative path -> text, at most 200 files")


class FilesReplaced(BaseModel):
    status: Literal["replaced"]
    workspace: str
    files: int
    source: str


class Saved(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: str
    path: str | None = None


class ConfigData(BaseModel):
    data: dict[str, object]


class ModelSetting(BaseModel):
    model: str
    source: Literal["workspace_secrets", "default"]


class ModelWrite(BaseModel):
    model: str = Field("", max_length=256, description="empty clears it")


class ProviderSetting(BaseModel):
    provider: str
    source: Literal["workspace_secrets", "default"]


class ProviderWrite(BaseModel):
    provider: str = Field("", max_length=256, description="empty clears it")


class Budget(BaseModel):
    """Monthly spend ceiling and spend, in USD cents; `budget_remaining` may be negative."""

    budget_limit: int | None
    monthly_spend: int
    budget_remaining: int | None


class BudgetWrite(BaseModel):
    budget_limit: int | None = Field(ge=0, description="required; null removes the ceiling")


class Metrics(BaseModel):
    """Today's (UTC) token usage as the workspace's agent reported it in A2A replies."""

    input_tokens: int
    output_tokens: int
    total_calls: int
    estimated_cost_usd: str
    period_start: str
    period_end: str


class Console(BaseModel):
    output: str


class TranscriptQuery(BaseModel):
    since: int | None = None
    limit: int | None = None


class TemplateImport(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    files: dict[str, str] = Field(description="relative path -> text, at most 200 files")


class TemplateImported(BaseModel):
    status: Literal["imported"]
    id: str
    name: str
