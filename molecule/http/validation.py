"""Field rules for workspace create/patch: the original platform's, with its 400 messages."""

from __future__ import annotations

import posixpath
import re

from molecule.errors import BadRequest

INVALID_FIELDS = "invalid workspace fields"
_FORBIDDEN_CHARS = re.compile(r"[\r\n{}\[\]|>*&!]")
_RUNTIME_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MAX_NAME, MAX_ROLE, MAX_MODEL, MAX_RUNTIME = 255, 1000, 100, 100
_SYSTEM_DIRS = ("/etc", "/var", "/proc", "/sys", "/dev", "/boot", "/sbin", "/bin", "/lib", "/usr")
WORKSPACE_ACCESS = ("none", "read_only", "read_write")


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME or _FORBIDDEN_CHARS.search(name):
        raise BadRequest(INVALID_FIELDS)
    return name


def check_role(role: str | None) -> str | None:
    if role is None:
        return None
    if len(role) > MAX_ROLE or _FORBIDDEN_CHARS.search(role):
        raise BadRequest(INVALID_FIELDS)
    return role


def check_runtime(runtime: str | None) -> str | None:
    if runtime is None or runtime == "":
        return None
    if len(runtime) > MAX_RUNTIME or not _RUNTIME_NAME.match(runtime):
        raise BadRequest(INVALID_FIELDS)
    return runtime


def check_model(model: str | None) -> str | None:
    if model is not None and (len(model) > MAX_MODEL or _FORBIDDEN_CHARS.search(model)):
        raise BadRequest(INVALID_FIELDS)
    return model


def check_tier(tier: int) -> int:
    if tier == 0:
        return 3  # self-hosted default
    if not 1 <= tier <= 4:
        raise BadRequest(INVALID_FIELDS)
    return tier


def check_template(template: str | None) -> str | None:
    if template is None or template == "":
        return None
    if not _TEMPLATE_NAME.match(template) or ".." in template:
        raise BadRequest("invalid template: must be a folder name inside the templates directory")
    return template


def check_workspace_dir(path: str | None) -> str | None:
    if path is None or path == "":
        return None
    if not path.startswith("/") or ".." in path.split("/"):
        raise BadRequest("invalid workspace_dir: must be an absolute path without '..'")
    clean = posixpath.normpath(path)
    if clean == "/" or any(clean == d or clean.startswith(d + "/") for d in _SYSTEM_DIRS):
        raise BadRequest("invalid workspace_dir: system directories are not allowed")
    return clean


def check_workspace_access(access: str | None, workspace_dir: str | None) -> str:
    access = access or "none"
    if access not in WORKSPACE_ACCESS:
        raise BadRequest("invalid workspace_access: must be none, read_only or read_write")
    if access != "none" and workspace_dir is None:
        raise BadRequest("workspace_access read_only/read_write requires workspace_dir")
    return access


def check_delivery_mode(mode: str | None) -> str:
    if mode is None or mode == "":
        return "push"
    if mode not in ("push", "poll"):
        raise BadRequest("delivery_mode must be 'push' or 'poll'")
    return mode
