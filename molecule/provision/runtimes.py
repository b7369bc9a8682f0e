"""Which runtimes a backend can run, and from what.

- The built-in agent program (`molecule agent`) serves `echo` and `llm`/`openai`, as a local
  process or, in a container, from the built-in runtime image (BUILTIN_IMAGE, built locally
  from docker/runtime.Dockerfile).
- In a container every other runtime the platform manages runs from the original's image for
  it, `<registry>/workspace-template-<runtime>:latest`; runtimes the original had no image for
  used its langgraph image (upstream-april §8.1), and so do we.
- External and mock runtimes run nowhere: the platform starts nothing for them.
"""

from __future__ import annotations

from molecule.models import EXTERNAL_RUNTIMES

# Runtimes the built-in agent program serves, and the adapter each one means.
LOCAL_ADAPTERS = {"echo": "echo", "llm": "openai", "openai": "openai"}
# The original's template images (upstream-april §8.1).
TEMPLATE_RUNTIMES = (
    "langgraph", "claude-code", "openclaw", "deepagents", "crewai", "autogen", "hermes",
    "gemini-cli",
)  # fmt: skip
FALLBACK_TEMPLATE = "langgraph"
BUILTIN_IMAGE = "molecule-runtime:latest"


def platform_runs(runtime: str) -> bool:
    """Does the platform start an agent for this runtime at all (given a backend for it)?"""
    return runtime not in EXTERNAL_RUNTIMES and runtime != "mock" and bool(runtime)


def image_for(runtime: str, registry: str) -> str:
    """The image a container of `runtime` runs."""
    if runtime in LOCAL_ADAPTERS:
        return BUILTIN_IMAGE
    name = runtime if runtime in TEMPLATE_RUNTIMES else FALLBACK_TEMPLATE
    return f"{registry}/workspace-template-{name}:latest"


def refreshable_runtimes() -> tuple[str, ...]:
    """The runtimes `POST /admin/workspace-images/refresh?runtime=` accepts."""
    return (*LOCAL_ADAPTERS, *TEMPLATE_RUNTIMES)
