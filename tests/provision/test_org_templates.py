"""Org templates on disk: names never paths, includes resolved inside the template only,
cycles and oversized or alias-bombed documents refused, every refusal with a detail."""

from __future__ import annotations

from pathlib import Path

import pytest

from molecule.errors import BadRequest, NotFound
from molecule.operations.org_spec import collect_env, parse_org
from molecule.provision.org_templates import (
    BUILTIN_ORG_DIR,
    MAX_INCLUDE_DEPTH,
    OrgTemplates,
    check_size,
    copy_files,
    parse_env,
    read_text,
)


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def catalogue(tmp_path: Path) -> OrgTemplates:
    return OrgTemplates([tmp_path / "shipped", tmp_path / "own"])


def refused(fn: object, *args: object) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        fn(*args)  # type: ignore[operator]
    return info.value


def test_shipped_templates_load_and_parse() -> None:
    shipped = OrgTemplates([BUILTIN_ORG_DIR])
    names = set(shipped.available())
    assert {"echo-team", "llm-team", "echo-company"} <= names
    for name in names:
        org = parse_org(shipped.load(name).document)
        assert org.workspaces
    company = parse_org(shipped.load("echo-company").document)
    chief = company.workspaces[0]
    assert [c.name for c in chief.children] == ["Echo Engineering", "Echo Support"]
    assert [c.name for c in chief.children[0].children] == ["Echo Backend", "Echo Frontend"]
    llm = parse_org(shipped.load("llm-team").document)
    needs = collect_env(llm, lambda ws: [])
    assert [r.wire() for r in needs.required] == ["OPENAI_API_KEY"]
    assert [r.wire() for r in needs.recommended] == ["MODEL", "OPENAI_BASE_URL"]


def test_names_not_paths(tmp_path: Path) -> None:
    write(tmp_path / "shipped", "team/org.yaml", "name: t\nworkspaces: [{name: a}]\n")
    write(tmp_path, "secret/org.yaml", "name: outside\nworkspaces: [{name: a}]\n")
    cat = catalogue(tmp_path)
    for bad in ("../secret", "/etc", "team/../team", ".hidden", "", "a b", "x" * 101):
        assert refused(cat.load, bad).message == "invalid org directory", bad
    with pytest.raises(NotFound) as info:
        cat.load("nothing-here")
    assert info.value.message == "org template not found"
    assert cat.load("team").document["name"] == "t"


def test_the_operator_directory_wins(tmp_path: Path) -> None:
    write(tmp_path / "shipped", "team/org.yaml", "name: shipped\nworkspaces: [{name: a}]\n")
    write(tmp_path / "own", "team/org.yml", "name: own\nworkspaces: [{name: a}]\n")
    write(tmp_path / "own", "empty/readme.md", "no org.yaml here\n")
    cat = catalogue(tmp_path)
    assert list(cat.available()) == ["team"]
    assert cat.load("team").document["name"] == "own"


def test_includes_nest_and_resolve_against_the_including_file(tmp_path: Path) -> None:
    root = tmp_path / "shipped" / "org"
    write(root, "org.yaml", "name: o\nworkspaces:\n  - !include teams/a.yaml\n")
    write(root, "teams/a.yaml", "name: a\nchildren:\n  - !include ../roles/r.yaml\n")
    write(root, "roles/r.yaml", "name: r\nrole: does things\n")
    doc = catalogue(tmp_path).load("org").document
    assert doc["workspaces"][0]["children"][0] == {"name": "r", "role": "does things"}


@pytest.mark.parametrize(
    ("files", "detail"),
    [
        ({"org.yaml": "x: !include org.yaml\n"}, "!include cycle: org.yaml -> org.yaml"),
        (
            {"org.yaml": "x: !include a.yaml\n", "a.yaml": "y: !include b.yaml\n",
             "b.yaml": "z: !include a.yaml\n"},
            "!include cycle: a.yaml -> b.yaml -> a.yaml",
        ),
        ({"org.yaml": "x: !include ../../outside.yaml\n"}, "leaves the template directory"),
        ({"org.yaml": "x: !include /etc/passwd\n"}, "leaves the template directory"),
        ({"org.yaml": "x: !include missing.yaml\n"}, "no such file"),
        ({"org.yaml": "x: !include [a, b]\n"}, "takes a relative file name"),
    ],
)  # fmt: skip
def test_include_refusals(tmp_path: Path, files: dict[str, str], detail: str) -> None:
    write(tmp_path, "outside.yaml", "secret: 1\n")
    for rel, text in files.items():
        write(tmp_path / "shipped" / "org", rel, text)
    exc = refused(catalogue(tmp_path).load, "org")
    assert exc.message == "org template expansion failed"
    assert detail in exc.extra["detail"]


def test_a_symlink_out_of_the_template_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "outside.yaml", "secret: 1\n")
    root = tmp_path / "shipped" / "org"
    write(root, "org.yaml", "x: !include link.yaml\n")
    (root / "link.yaml").symlink_to(tmp_path / "outside.yaml")
    exc = refused(catalogue(tmp_path).load, "org")
    assert "leaves the template directory" in exc.extra["detail"]


def test_include_depth_is_bounded(tmp_path: Path) -> None:
    root = tmp_path / "shipped" / "org"
    write(root, "org.yaml", "x: !include f0.yaml\n")
    for i in range(MAX_INCLUDE_DEPTH + 2):
        write(root, f"f{i}.yaml", f"x: !include f{i + 1}.yaml\n")
    write(root, f"f{MAX_INCLUDE_DEPTH + 2}.yaml", "end: 1\n")
    exc = refused(catalogue(tmp_path).load, "org")
    assert "nested more than" in exc.extra["detail"]


def test_bad_yaml_and_alias_bombs(tmp_path: Path) -> None:
    root = tmp_path / "shipped"
    write(root, "broken/org.yaml", "name: [unclosed\n")
    exc = refused(catalogue(tmp_path).load, "broken")
    assert exc.message == "invalid org template" and "line" in exc.extra["detail"]
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        name = chr(ord("a") + i)
        bomb += f"{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
    write(root, "bomb/org.yaml", bomb)
    exc = refused(catalogue(tmp_path).load, "bomb")
    assert "more than" in exc.extra["detail"]
    write(root, "loop/org.yaml", "a: &a [*a]\n")
    assert "more than" in refused(catalogue(tmp_path).load, "loop").extra["detail"]
    write(root, "big/org.yaml", "name: " + "x" * 300_000 + "\n")
    assert "larger than" in refused(catalogue(tmp_path).load, "big").extra["detail"]
    write(root, "list/org.yaml", "- 1\n- 2\n")
    assert "mapping" in refused(catalogue(tmp_path).load, "list").extra["detail"]
    write(root, "nul/org.yaml", 'name: "a\\0b"\n')
    assert "NUL" in refused(catalogue(tmp_path).load, "nul").extra["detail"]
    write(root, "lone/org.yaml", 'name: "\\ud800"\n')
    assert "surrogate" in refused(catalogue(tmp_path).load, "lone").extra["detail"]
    write(root, "bin/org.yaml", "name: !!binary aGVsbG8=\n")
    assert "binary" in refused(catalogue(tmp_path).load, "bin").extra["detail"]
    write(root, "nested/org.yaml", "a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nested too deeply" in refused(catalogue(tmp_path).load, "nested").extra["detail"]
    deep: object = "x"
    for _ in range(100):
        deep = [deep]
    assert "nested" in refused(check_size, deep).extra["detail"]


def test_referenced_files_stay_inside(tmp_path: Path) -> None:
    root = tmp_path / "t"
    write(root, "prompts/a.md", "hello")
    write(tmp_path, "outside.md", "secret")
    assert read_text(root.resolve(), root.resolve(), "prompts/a.md", "x") == "hello"
    for bad in ("../outside.md", "/etc/passwd", "prompts/missing.md", ""):
        assert refused(read_text, root.resolve(), root.resolve(), bad, "x")
    write(root, "files/config.yaml", "name: x\n")
    write(root, "files/.env", "SECRET=1\n")
    write(root, "files/sub/notes.md", "n")
    (root / "files" / "link.md").symlink_to(tmp_path / "outside.md")
    assert copy_files(root / "files", "files") == {
        "config.yaml": b"name: x\n",
        "sub/notes.md": b"n",
    }


def test_env_files() -> None:
    text = "# comment\n\nexport A=1\nB = 'two words'\nC=\"x=y\"\n"
    assert parse_env(text, ".env") == {"A": "1", "B": "two words", "C": "x=y"}
    for bad in ("NOPE\n", "1BAD=x\n", "=x\n"):
        assert ".env line 1" in refused(parse_env, bad, ".env").extra["detail"]
