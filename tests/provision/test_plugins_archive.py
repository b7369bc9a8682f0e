"""Plugin trees read from archives and directories: what is accepted, and every refusal.

Each refusal is a 4xx raised before anything is written anywhere (the reader only fills
memory), and the bombs stop after a bounded read."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import time
from pathlib import Path

import pytest

from molecule.errors import PayloadTooLarge, Unprocessable
from molecule.provision.plugins_archive import (
    first_member,
    pack,
    read_archive_bytes,
    read_directory,
)
from molecule.provision.plugins_registry import PluginRegistry, describe, parse_source
from molecule.provision.plugins_staging import Limits, StagedPlugin, tree_digest

SMALL = Limits(max_bytes=64 * 1024, max_entries=50)


def tar_of(*members: tuple[tarfile.TarInfo, bytes | None], gz: bool = True) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz" if gz else "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def entry(name: str, kind: bytes = tarfile.REGTYPE, **fields: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def test_a_download_round_trips_byte_for_byte() -> None:
    plugin = StagedPlugin(
        "demo",
        {"plugin.yaml": b"name: demo\n", "skills/a/SKILL.md": b"# A\n", "bin/run.sh": b"echo\n"},
        frozenset({"bin/run.sh"}),
    )
    data = pack(plugin)
    back = read_archive_bytes(data, "demo", SMALL)
    assert back.files == plugin.files
    assert back.executable == plugin.executable
    assert pack(back) == data  # deterministic: the same tree, the same bytes
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
    assert "skills/a/SKILL.md" in names and not any(n.startswith(("/", "demo/")) for n in names)


def test_plain_tar_and_dot_slash_prefixes_are_accepted() -> None:
    data = tar_of((entry("./", tarfile.DIRTYPE), None), (entry("./plugin.yaml"), b"x"), gz=False)
    assert read_archive_bytes(data, "p", SMALL).files == {"plugin.yaml": b"x"}


@pytest.mark.parametrize(
    ("member", "why"),
    [
        (entry("/etc/passwd"), "absolute path"),
        (entry("../escape"), "path leaves the plugin"),
        (entry("a/../../escape"), "path leaves the plugin"),
        (entry("link", tarfile.SYMTYPE, linkname="/etc/passwd"), "symbolic link"),
        (entry("hard", tarfile.LNKTYPE, linkname="plugin.yaml"), "hard link"),
        (entry("dev", tarfile.CHRTYPE, devmajor=1, devminor=3), "character device"),
        (entry("blk", tarfile.BLKTYPE), "block device"),
        (entry("fifo", tarfile.FIFOTYPE), "FIFO"),
        (entry("a\\b"), "backslash"),
        (entry("bad\x01name"), "control character"),
        (entry("x" * 600), "longer than"),
        (entry("/".join(["d"] * 20)), "longer than"),
        (entry("a//b"), "not a path the agent accepts"),
    ],
)
def test_unsafe_members_are_refused(member: tarfile.TarInfo, why: str) -> None:
    data = tar_of((entry("plugin.yaml"), b"ok"), (member, b"" if member.isreg() else None))
    with pytest.raises(Unprocessable) as caught:
        read_archive_bytes(data, "p", SMALL)
    assert why in caught.value.message
    assert caught.value.message.startswith("unsafe plugin archive: ")


@pytest.mark.parametrize(
    "members",
    [
        [(entry("a"), b"1"), (entry("a"), b"2")],  # the same name twice
        [(entry("a"), b"1"), (entry("a", tarfile.DIRTYPE), None)],
        [(entry("a", tarfile.DIRTYPE), None), (entry("a"), b"1")],
        [(entry("a"), b"1"), (entry("a/b"), b"2")],  # a file on the path
    ],
)
def test_names_used_twice_are_refused(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> None:
    with pytest.raises(Unprocessable):
        read_archive_bytes(tar_of(*members), "p", SMALL)


def test_garbage_is_an_invalid_archive() -> None:
    for data in (b"not a tar at all" * 100, b"\x1f\x8b\x08garbage", gzip.compress(b"x" * 1000)):
        with pytest.raises(Unprocessable) as caught:
            read_archive_bytes(data, "p", SMALL)
        assert caught.value.message.startswith("invalid plugin archive")


def test_a_gzip_bomb_stops_after_a_bounded_read() -> None:
    """A 512 MiB file of zeros compresses to about half a megabyte; its header alone is
    refused, before a byte of it is inflated."""
    info = entry("zeros")
    info.size = 512 * 1024 * 1024
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as gz:
        gz.write(info.tobuf(tarfile.PAX_FORMAT))
        chunk = bytes(1 << 20)
        for _ in range(512):
            gz.write(chunk)
    started = time.monotonic()
    with pytest.raises(PayloadTooLarge) as caught:
        read_archive_bytes(out.getvalue(), "p", SMALL)
    assert caught.value.message == "staged plugin exceeds size limit"
    assert time.monotonic() - started < 2


def test_a_header_that_hides_its_size_hits_the_stream_cap() -> None:
    """A pax header of several megabytes (tarfile reads it whole) is cut by the cap on the
    decompressed stream, whatever the members claim."""
    info = entry("plugin.yaml")
    info.pax_headers = {"comment": "x" * (8 * 1024 * 1024)}
    with pytest.raises(PayloadTooLarge):
        read_archive_bytes(tar_of((info, b"ok")), "p", SMALL)


def test_too_many_entries_or_bytes_are_413() -> None:
    many = [(entry(f"f{i}"), b"") for i in range(SMALL.max_entries + 1)]
    with pytest.raises(PayloadTooLarge) as caught:
        read_archive_bytes(tar_of(*many), "p", SMALL)
    assert caught.value.message == "staged plugin exceeds file count limit"
    big = [(entry(f"f{i}"), bytes(20_000)) for i in range(4)]
    with pytest.raises(PayloadTooLarge) as caught:
        read_archive_bytes(tar_of(*big), "p", SMALL)
    assert caught.value.message == "staged plugin exceeds size limit"


def test_a_directory_is_walked_without_following_links(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    (root / "skills" / "a").mkdir(parents=True)
    (root / "plugin.yaml").write_text("name: demo\n")
    (root / "skills" / "a" / "SKILL.md").write_text("# A\n")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref")
    staged = read_directory(root, "demo", SMALL)
    assert sorted(staged.files) == ["plugin.yaml", "skills/a/SKILL.md"]

    (root / "skills" / "evil").symlink_to("/etc")
    with pytest.raises(Unprocessable) as caught:
        read_directory(root, "demo", SMALL)
    assert "skills/evil: symbolic link" in caught.value.message
    (root / "skills" / "evil").unlink()
    (root / "secret").symlink_to("/etc/passwd")
    with pytest.raises(Unprocessable):
        read_directory(root, "demo", SMALL)
    (root / "secret").unlink()
    os.mkfifo(root / "pipe")
    with pytest.raises(Unprocessable) as caught:
        read_directory(root, "demo", SMALL)  # never opened, so it cannot block
    assert "pipe: not a regular file" in caught.value.message


def test_integrity_of_a_declared_manifest_json() -> None:
    files = {"plugin.yaml": b"name: x\n", "a.md": b"A"}
    digest = tree_digest(files)
    good = StagedPlugin("x", {**files, "manifest.json": f'{{"sha256": "{digest}"}}'.encode()})
    good.verify_integrity()
    for declared in (b'{"sha256": "00"}', b"not json", b'{"sha256": 5}'):
        with pytest.raises(Unprocessable):
            StagedPlugin("x", {**files, "manifest.json": declared}).verify_integrity()
    StagedPlugin("x", {**files, "manifest.json": b'{"name": "x"}'}).verify_integrity()


def test_registry_lists_directories_and_archives_the_operator_wins(tmp_path: Path) -> None:
    shipped, own = tmp_path / "shipped", tmp_path / "own"
    (shipped / "alpha").mkdir(parents=True)
    (shipped / "alpha" / "plugin.yaml").write_text("version: 1.0.0\nruntimes: [claude_code]\n")
    own.mkdir()
    (own / "alpha").mkdir()
    (own / "alpha" / "plugin.yaml").write_text("version: 2.0.0\n")
    plugin = StagedPlugin("beta", {"plugin.yaml": b"version: 3.0.0\ntags: [x, 5]\n"})
    (own / "beta.tar.gz").write_bytes(pack(plugin))
    (own / "Not-Valid").mkdir()
    registry = PluginRegistry([shipped, own])
    listed = {p["name"]: p for p in registry.listing()}
    assert sorted(listed) == ["alpha", "beta"]
    assert listed["alpha"]["version"] == "2.0.0"
    assert listed["beta"]["tags"] == ["x"] and listed["beta"]["source"] == "local://beta"
    assert registry.stage("beta", SMALL).files == plugin.files
    assert first_member(own / "beta.tar.gz", "plugin.yaml", 1024) == plugin.files["plugin.yaml"]


def test_manifest_parsing_is_lenient_and_bounded() -> None:
    assert describe("p", b"- not a mapping")["version"] == ""
    assert describe("p", b"version: [1\n")["tags"] == []  # malformed YAML
    bomb = b"a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\ntags: [*b,*b,*b]\n"
    assert describe("p", bomb)["tags"] == []
    assert describe("p", b"description: " + b"d" * 10_000)["description"] == "d" * 4096


@pytest.mark.parametrize(
    "text",
    ["", "local", "local://", "://x", "Local://x", "local://a b", "local://x\x00", "l" * 2000],
)
def test_malformed_sources_are_refused(text: str) -> None:
    from molecule.errors import BadRequest

    with pytest.raises(BadRequest):
        parse_source(text)
