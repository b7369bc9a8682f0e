"""Org templates: a whole team as one YAML document, `<directory>/<name>/org.yaml`.

POST /org/import names a template by its directory name (upstream-may §12.2), never by a
path: anything but a plain name is refused before the filesystem is touched. Two
directories are read, the templates shipped in the package (`org_templates/` beside this
module) and the operator's own (`MOLECULE_ORG_TEMPLATES_DIR`), whose entries win on a name
both hold.

`!include <relative file>` splices another YAML file of the same template into the document
(upstream-april §8.4). It resolves against the including file's directory and never leaves
the template's own directory (symlinks are followed before that check); cycles and runaway
nesting are refused. Every read is bounded: each file, the bytes of one template, the number
and depth of includes, and the size of the resulting document, whose node count and nesting
are measured because YAML aliases can turn a small file into a huge (or cyclic) tree.

The same bounded readers serve the files a template points at (`files_dir`, `*_file`
prompts, `.env`) and the files of a workspace template copied into a workspace's configs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from molecule.errors import BadRequest, NotFound

BUILTIN_ORG_DIR = Path(__file__).resolve().parent / "org_templates"
ORG_FILES = ("org.yaml", "org.yml")
TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,255}$")

MAX_FILE_BYTES = 256 * 1024  # one YAML, prompt or .env file
MAX_TEMPLATE_BYTES = 2 * 1024 * 1024  # every YAML file of one template, includes included
MAX_INCLUDES = 64
MAX_INCLUDE_DEPTH = 16
MAX_NODES = 50_000  # values in the expanded document, each alias use counted again
MAX_NESTING = 64
MAX_TEXT = 4 * 1024 * 1024  # characters of text in the expanded document, aliases counted
MAX_TEMPLATES = 500  # directories listed per templates directory
MAX_COPIED_FILES = 200  # files copied from one directory into a workspace's configs
MAX_COPIED_BYTES = 2 * 1024 * 1024
MAX_SECRET_BYTES = 64 * 1024  # a secret's value (docs/compatibility.md#d33)

INVALID_DIR = "invalid org directory"
NOT_FOUND = "org template not found"
EXPANSION_FAILED = "org template expansion failed"
INVALID_TEMPLATE = "invalid org template"


def invalid_template(detail: str) -> BadRequest:
    """The 400 of a template that cannot be used; `detail` says where and why."""
    return BadRequest(INVALID_TEMPLATE, extra={"detail": detail})


def _expansion_failed(detail: str) -> BadRequest:
    return BadRequest(EXPANSION_FAILED, extra={"detail": detail})


@dataclass(frozen=True)
class LoadedOrg:
    name: str  # the directory name the caller gave
    base: Path  # the template's directory, resolved
    document: dict[str, Any]


def inside(root: Path, base: Path, rel: str) -> Path | None:
    """`base/rel` with symlinks resolved, when that stays within `root` (resolved); else
    None. Absolute and empty names never qualify."""
    if not rel or "\x00" in rel or rel.startswith(("/", "\\")):
        return None
    try:
        target = (base / rel).resolve()
    except (OSError, RuntimeError):  # a link loop, a name too long
        return None
    if target != root and root not in target.parents:
        return None
    return target


def _read_bounded(path: Path, limit: int) -> bytes | None:
    """The file's bytes, or None when it holds more than `limit` (read at most limit+1)."""
    with path.open("rb") as f:
        data = f.read(limit + 1)
    return None if len(data) > limit else data


def read_text(root: Path, base: Path, rel: str, what: str) -> str:
    """A UTF-8 file a template refers to (`what` names the reference in messages)."""
    target = inside(root, base, rel)
    if target is None:
        raise invalid_template(f"{what} {rel!r} must be a relative path inside the template")
    if not target.is_file():
        raise invalid_template(f"{what} {rel!r} does not exist in the template")
    data = _read_bounded(target, MAX_FILE_BYTES)
    if data is None:
        raise invalid_template(f"{what} {rel!r} is larger than {MAX_FILE_BYTES} bytes")
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise invalid_template(f"{what} {rel!r} is not UTF-8 text") from None


def copy_files(top: Path, what: str) -> dict[str, bytes]:
    """Every regular, non-hidden file under `top` (symlinks skipped), by relative path;
    bounded in count and bytes. What a workspace's configs directory receives."""
    files: dict[str, bytes] = {}
    total = 0
    for here, dirs, names in os.walk(top, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            path = Path(here) / name
            if name.startswith(".") or path.is_symlink() or not path.is_file():
                continue
            if len(files) >= MAX_COPIED_FILES:
                raise invalid_template(f"{what} holds more than {MAX_COPIED_FILES} files")
            data = _read_bounded(path, MAX_COPIED_BYTES - total)
            if data is None:
                raise invalid_template(f"{what} holds more than {MAX_COPIED_BYTES} bytes")
            total += len(data)
            files[path.relative_to(top).as_posix()] = data
    return files


def parse_env(text: str, what: str) -> dict[str, str]:
    """`KEY=VALUE` lines (blank lines, `#` comments and an `export ` prefix allowed; one
    pair of surrounding quotes is removed)."""
    env: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not ENV_KEY.match(key):
            raise invalid_template(f"{what} line {number}: expected KEY=VALUE")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if len(value.encode()) > MAX_SECRET_BYTES:
            raise invalid_template(f"{what} line {number}: a value is at most 64 KiB")
        env[key] = value
    return env


@dataclass
class _Reads:
    """What one template's loading has consumed so far."""

    root: Path
    bytes_read: int = 0
    includes: int = 0

    def name(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


class _IncludeLoader(yaml.SafeLoader):
    """The safe loader plus `!include`; each instance knows the chain of files it is in."""

    reads: _Reads
    chain: tuple[Path, ...]


def _construct_include(loader: _IncludeLoader, node: yaml.Node) -> Any:
    reads, chain = loader.reads, loader.chain
    where = f"{reads.name(chain[-1])} line {node.start_mark.line + 1}"
    if not isinstance(node, yaml.ScalarNode):
        raise _expansion_failed(f"!include at {where} takes a relative file name")
    rel = str(loader.construct_scalar(node))
    target = inside(reads.root, chain[-1].parent, rel)
    if target is None:
        raise _expansion_failed(f"!include {rel!r} at {where} leaves the template directory")
    if target in chain:
        cycle = [reads.name(p) for p in chain[chain.index(target) :]] + [reads.name(target)]
        raise _expansion_failed(f"!include cycle: {' -> '.join(cycle)}")
    if len(chain) > MAX_INCLUDE_DEPTH:
        raise _expansion_failed(f"!include at {where}: nested more than {MAX_INCLUDE_DEPTH} deep")
    reads.includes += 1
    if reads.includes > MAX_INCLUDES:
        raise _expansion_failed(f"more than {MAX_INCLUDES} !include directives")
    if not target.is_file():
        raise _expansion_failed(f"!include {rel!r} at {where}: no such file")
    return _load(target, reads, (*chain, target))


_IncludeLoader.add_constructor("!include", _construct_include)


def _problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        return f"{exc.problem or 'invalid YAML'} at line {exc.problem_mark.line + 1}"
    return "invalid YAML"


def _load(path: Path, reads: _Reads, chain: tuple[Path, ...]) -> Any:
    data = _read_bounded(path, MAX_FILE_BYTES)
    if data is None:
        raise invalid_template(f"{reads.name(path)} is larger than {MAX_FILE_BYTES} bytes")
    reads.bytes_read += len(data)
    if reads.bytes_read > MAX_TEMPLATE_BYTES:
        raise invalid_template(f"the template's files exceed {MAX_TEMPLATE_BYTES} bytes")
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise invalid_template(f"{reads.name(path)} is not UTF-8 text") from None
    loader = _IncludeLoader(text)
    loader.reads, loader.chain = reads, chain
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise invalid_template(f"{reads.name(path)}: {_problem(exc)}") from None
    except RecursionError:  # nesting deeper than the parser's stack
        raise invalid_template(f"{reads.name(path)}: nested too deeply") from None
    finally:
        loader.dispose()


def check_size(document: Any) -> None:
    """Refuse a document too large or too deep to walk (aliases and cycles included)."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    nodes = text = 0
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise invalid_template(f"the template holds more than {MAX_NODES} values")
        if depth > MAX_NESTING:
            raise invalid_template(f"the template is nested more than {MAX_NESTING} levels")
        if isinstance(item, dict):
            stack.extend((k, depth + 1) for k in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, str):
            text += len(item)
            if text > MAX_TEXT:
                raise invalid_template(f"the template holds more than {MAX_TEXT} characters")
            if "\x00" in item or not _encodable(item):
                raise invalid_template("text may not hold NUL or unpaired surrogate characters")
        elif isinstance(item, bytes | bytearray):
            raise invalid_template("binary values (!!binary) are not accepted")


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _org_file(directory: Path) -> Path | None:
    for name in ORG_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


class OrgTemplates:
    """The org templates this platform offers, read from disk on each call (they are few
    and small, and an operator may add one without a restart)."""

    def __init__(self, directories: Sequence[Path] | None = None) -> None:
        if directories is None:
            own = os.environ.get("MOLECULE_ORG_TEMPLATES_DIR")
            directories = [BUILTIN_ORG_DIR, *([Path(own)] if own else [])]
        self.directories = list(directories)

    def available(self) -> dict[str, Path]:
        """Every template by name (a later directory wins), in name order."""
        found: dict[str, Path] = {}
        for directory in self.directories:
            if not directory.is_dir():
                continue
            entries = sorted(directory.iterdir())[:MAX_TEMPLATES]
            for sub in entries:
                if TEMPLATE_NAME.match(sub.name) and sub.is_dir() and _org_file(sub):
                    found[sub.name] = sub
        return dict(sorted(found.items()))

    def locate(self, name: str) -> Path:
        if not TEMPLATE_NAME.match(name):
            raise BadRequest(INVALID_DIR)
        path = self.available().get(name)
        if path is None:
            raise NotFound(NOT_FOUND)
        return path.resolve()

    def load(self, name: str) -> LoadedOrg:
        """The expanded document of one template; 400/404 with the original's messages."""
        base = self.locate(name)
        found = _org_file(base)
        org_file = inside(base, base, found.name) if found else None
        if org_file is None:
            raise NotFound(NOT_FOUND)
        document = _load(org_file, _Reads(base), (org_file,))
        check_size(document)
        if not isinstance(document, dict):
            raise invalid_template("the document must be a mapping (name, workspaces, ...)")
        return LoadedOrg(name, base, document)
