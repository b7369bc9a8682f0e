"""Local workspace files are reached without following a link at any depth
(molecule.provision.host_files): what is outside the workspace stays unread and unchanged."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from molecule.errors import PayloadTooLarge
from molecule.provision import host_files as hf


@pytest.fixture
def base(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "configs" / "sub").mkdir(parents=True)
    (ws / "configs" / "config.yaml").write_text("name: x\n")
    (ws / "configs" / "sub" / "a.txt").write_text("a")
    return ws


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "secret.txt").write_text("top secret")
    return secret


def test_read_write_delete_a_regular_file(base: Path) -> None:
    assert hf.read_regular(base, "/configs/sub/a.txt") == b"a"
    hf.write_regular(base, "/workspace/new/dir/b.txt", "é".encode())
    assert (base / "workspace/new/dir/b.txt").read_bytes() == "é".encode()
    assert (base / "workspace/new/dir/b.txt").stat().st_mode & 0o777 == 0o600
    hf.write_regular(base, "/workspace/new/dir/b.txt", b"again")  # replaced whole
    assert (base / "workspace/new/dir/b.txt").read_bytes() == b"again"
    assert [p.name for p in (base / "workspace/new/dir").iterdir()] == ["b.txt"]  # no temp left
    assert hf.exists_regular(base, "/workspace/new/dir/b.txt")
    hf.delete(base, "/workspace/new")
    assert not (base / "workspace/new").exists()
    with pytest.raises(FileNotFoundError):
        hf.delete(base, "/workspace/new")
    with pytest.raises(FileNotFoundError):
        hf.read_regular(base, "/configs/missing.txt")
    with pytest.raises(IsADirectoryError):
        hf.read_regular(base, "/configs/sub")


def test_a_link_anywhere_on_the_path_is_refused(base: Path, outside: Path) -> None:
    (base / "configs" / "dirlink").symlink_to(outside)
    (base / "configs" / "filelink").symlink_to(outside / "secret.txt")
    for virtual in ("/configs/dirlink/secret.txt", "/configs/filelink"):
        with pytest.raises(OSError) as caught:
            hf.read_regular(base, virtual)
        assert caught.value.errno == errno.ELOOP
    with pytest.raises(OSError) as caught:
        hf.write_regular(base, "/configs/dirlink/secret.txt", b"pwned")
    assert caught.value.errno == errno.ELOOP
    with pytest.raises(OSError):
        hf.write_regular(base, "/configs/dirlink/new/file.txt", b"pwned")  # no mkdir through it
    with pytest.raises(OSError) as caught:
        hf.write_regular(base, "/configs/filelink", b"pwned")  # the link is not replaced either
    assert caught.value.errno == errno.ELOOP
    for virtual in ("/configs/dirlink", "/configs/filelink"):
        with pytest.raises(OSError):
            hf.delete(base, virtual)
    assert not hf.exists_regular(base, "/configs/filelink")
    assert (outside / "secret.txt").read_text() == "top secret"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (base / "configs" / "filelink").is_symlink()


def test_a_root_replaced_by_a_link_is_refused(base: Path, outside: Path) -> None:
    os.rename(base / "configs", base / "configs.real")
    (base / "configs").symlink_to(outside)
    with pytest.raises(OSError) as caught:
        hf.read_regular(base, "/configs/secret.txt")
    assert caught.value.errno == errno.ELOOP
    with pytest.raises(OSError):
        hf.list_tree(base, "/configs", 2, 100)


def test_deleting_a_tree_removes_links_inside_it_without_following_them(
    base: Path, outside: Path
) -> None:
    (base / "configs" / "sub" / "escape").symlink_to(outside)
    hf.delete(base, "/configs/sub")
    assert not (base / "configs" / "sub").exists()
    assert (outside / "secret.txt").read_text() == "top secret"


def test_special_files_are_refused_without_blocking(base: Path) -> None:
    os.mkfifo(base / "configs" / "pipe")
    with pytest.raises(OSError) as caught:
        hf.read_regular(base, "/configs/pipe")
    assert caught.value.errno == errno.EINVAL
    with pytest.raises(OSError):
        hf.write_regular(base, "/configs/pipe", b"x")
    assert hf.list_tree(base, "/configs", 1, 100) == [
        hf.FileEntry("config.yaml", 8, False),
        hf.FileEntry("sub", 0, True),
    ]


def test_size_bound(base: Path) -> None:
    (base / "configs" / "big").write_bytes(b"x" * 101)
    with pytest.raises(PayloadTooLarge):
        hf.read_regular(base, "/configs/big", 100)
    assert hf.read_regular(base, "/configs/big", 101) == b"x" * 101


def test_listing_depth_limit_links_and_clutter(base: Path, outside: Path) -> None:
    configs = base / "configs"
    (configs / ".auth_token").write_text("t")
    (configs / ".platform_inbound_secret").write_text("s")
    (configs / "__pycache__").mkdir()
    (configs / ".git").mkdir()
    (configs / "sub" / "deeper").mkdir()
    (configs / "sub" / "deeper" / "c.txt").write_text("ccc")
    (configs / "link").symlink_to(outside)
    assert [e.path for e in hf.list_tree(base, "/configs", 1, 100)] == ["config.yaml", "sub"]
    deep = hf.list_tree(base, "/configs", 3, 100)
    assert [(e.path, e.size, e.dir) for e in deep] == [
        ("config.yaml", 8, False),
        ("sub", 0, True),
        ("sub/a.txt", 1, False),
        ("sub/deeper", 0, True),
        ("sub/deeper/c.txt", 3, False),
    ]
    assert len(hf.list_tree(base, "/configs", 3, 2)) == 2
    assert [e.path for e in hf.list_tree(base, "/configs/sub", 1, 100)] == ["a.txt", "deeper"]
    assert hf.list_tree(base, "/plugins", 1, 100) == []  # a root with no files yet
    assert hf.list_tree(base.parent / "nothing", "/configs", 1, 100) == []
    with pytest.raises(FileNotFoundError):
        hf.list_tree(base, "/configs/missing", 1, 100)
    with pytest.raises(NotADirectoryError):
        hf.list_tree(base, "/configs/config.yaml", 1, 100)


def test_tail_starts_at_a_whole_line(tmp_path: Path) -> None:
    log = tmp_path / "agent.log"
    assert hf.tail(log, 10) == b""
    log.write_bytes(b"first line\nsecond\nthird\n")
    assert hf.tail(log, 100) == b"first line\nsecond\nthird\n"
    assert hf.tail(log, 12) == b"third\n"
    link = tmp_path / "link.log"
    link.symlink_to(log)
    with pytest.raises(OSError):
        hf.tail(link, 10)
