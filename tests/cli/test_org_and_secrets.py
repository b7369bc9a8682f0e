"""`molecule org` and `molecule secret` against a real platform: the 412 shown as the
commands that fix it, an import after the fix, and secrets global and per workspace."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.cli.conftest import molecule
from tests.conftest import Harness

TEAM = {
    "name": "Quiet Team",
    "required_env": ["QUIET_KEY", {"any_of": ["ALT_ONE", "ALT_TWO"]}],
    "defaults": {"runtime": "mock"},
    "workspaces": [{"name": "Quiet Lead", "children": [{"name": "Quiet Aide"}]}],
}


async def _names(h: Harness) -> list[str]:
    r = await h.client.get("/workspaces", headers=h.admin)
    return sorted(w["name"] for w in r.json())


async def test_missing_env_is_shown_as_the_secrets_to_set(
    platform: Harness, tmp_path: Path
) -> None:
    h = platform
    listing = await molecule(h, "org", "templates")
    assert listing.exit_code == 0
    llm = next(line for line in listing.stdout.splitlines() if line.startswith("llm-team"))
    assert llm.split()[-1] == "OPENAI_API_KEY"

    r = await molecule(h, "org", "import", "llm-team")
    assert r.exit_code == 1
    assert r.stderr.splitlines() == [
        "error: 412 missing required environment variables: OPENAI_API_KEY",
        "set them as global secrets, then retry:",
        "  molecule secret set OPENAI_API_KEY",
    ]
    assert await _names(h) == []

    team = tmp_path / "team.yaml"
    team.write_text(yaml.safe_dump(TEAM))
    r = await molecule(h, "org", "import", "--file", str(team))
    assert r.exit_code == 1
    assert "QUIET_KEY, ALT_ONE | ALT_TWO" in r.stderr
    assert "  molecule secret set ALT_ONE (or one of: ALT_ONE | ALT_TWO)" in r.stderr
    assert await _names(h) == []

    for name in ("QUIET_KEY", "ALT_TWO"):
        saved = await molecule(h, "secret", "set", name, stdin="s3cret\n")  # value from stdin
        assert saved.exit_code == 0 and saved.stdout == f"Secret {name} saved (global).\n"
    r = await molecule(h, "org", "import", "-f", str(team), "-o", "json")
    assert r.exit_code == 0, r.stderr
    answer = json.loads(r.stdout)
    assert answer["count"] == 2 and answer["org"] == "Quiet Team"
    assert await _names(h) == ["Quiet Aide", "Quiet Lead"]

    r = await molecule(h, "org", "import", "llm-team", "-f", str(team))
    assert r.exit_code == 2 and "one of them" in r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    r = await molecule(h, "org", "import", "-f", str(bad))
    assert r.exit_code == 1 and r.stderr.startswith(f"error: {bad}: not YAML or JSON")


async def test_secrets_global_and_per_workspace(platform: Harness) -> None:
    h = platform
    made = await h.client.post(
        "/workspaces", json={"name": "vault", "runtime": "mock"}, headers=h.admin
    )
    wid = made.json()["id"]
    assert (await molecule(h, "secret", "list")).stdout == "No secrets set.\n"

    assert (await molecule(h, "secret", "set", "SHARED", "one")).exit_code == 0
    own = await molecule(h, "secret", "set", "OWN", "-w", "vault", stdin="two")
    assert own.exit_code == 0 and own.stdout == "Secret OWN saved (workspace vault).\n"
    values = await h.client.get(f"/workspaces/{wid}/secrets/values", headers=h.admin)
    assert values.json() == {"OWN": "two", "SHARED": "one"}  # nothing trimmed but the newline

    table = await molecule(h, "secret", "list", "--workspace", wid)
    rows = [line.split()[:2] for line in table.stdout.splitlines()[1:]]
    assert rows == [["OWN", "workspace"], ["SHARED", "global"]]
    listed = await molecule(h, "secret", "list", "-o", "json")
    assert [s["key"] for s in json.loads(listed.stdout)] == ["SHARED"]

    empty = await molecule(h, "secret", "set", "EMPTY", stdin="")
    assert (empty.exit_code, empty.stderr) == (1, "error: the value is empty\n")
    bad = await molecule(h, "secret", "set", "not-a-name", "x")
    assert bad.exit_code == 1 and bad.stderr.startswith("error: 400 key must be")
    assert [
        s["key"] for s in json.loads((await molecule(h, "secret", "list", "-o", "json")).stdout)
    ] == ["SHARED"]

    gone = await molecule(h, "secret", "delete", "OWN", "-w", "vault")
    assert gone.exit_code == 0 and gone.stdout == "Secret OWN deleted.\n"
    again = await molecule(h, "secret", "delete", "OWN", "-w", "vault")
    assert (again.exit_code, again.stderr) == (1, "error: 404 secret not found\n")
    values = await h.client.get(f"/workspaces/{wid}/secrets/values", headers=h.admin)
    assert values.json() == {"SHARED": "one"}
