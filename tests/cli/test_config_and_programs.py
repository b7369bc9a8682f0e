"""Where the client commands find the platform and the token (the original CLI's names too),
and the commands that hand over to their own programs (`agent`, `connect`) or the shell."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import trio
from click.shell_completion import BashComplete

from molecule.cli import cli, connection, main
from molecule.cli.connection import resolve
from molecule.config import data_home
from molecule.errors import CommandFailed
from tests.cli.conftest import CLEAN_ENV, invoke, molecule
from tests.conftest import ADMIN_TOKEN, Harness


def test_the_platform_url_flag_then_the_originals_env_then_ours() -> None:
    env = {"MOLECULE_API_URL": "http://a:1/", "PLATFORM_URL": "http://c:3"}
    assert resolve({"api_url": "http://flag:9"}, env).api_url == "http://flag:9"
    assert resolve({}, env).api_url == "http://a:1"
    assert resolve({}, {"MOLECULE_API_URL": " ", "PLATFORM_URL": "http://c:3"}).api_url == (
        "http://c:3"
    )
    assert resolve({}, {"MOLECULE_PLATFORM_URL": "http://b:2"}).api_url == "http://b:2"
    assert resolve({}, {}).api_url == "http://127.0.0.1:8080"
    # Else where `molecule serve` listens by the same settings (the image moves it so).
    served = {"MOLECULE_HOST": "0.0.0.0", "MOLECULE_PORT": "18080"}
    assert resolve({}, served).api_url == "http://127.0.0.1:18080"
    assert resolve({}, {"MOLECULE_HOST": "::1"}).api_url == "http://[::1]:8080"
    tls = {**served, "MOLECULE_TLS_CERTFILE": "/tls/cert.pem"}
    assert resolve({}, tls).api_url == "https://127.0.0.1:18080"
    assert resolve({}, {**served, **env}).api_url == "http://a:1"


def test_the_token_flag_then_env_then_the_data_directory(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"MOLECULE_HOME": str(home)}
    missing = resolve({}, env).credential
    assert missing.token is None and str(home / "admin_token") in missing.source
    assert not home.exists()  # read, never created
    home.mkdir()
    (home / "admin_token").write_text("from-file\n")
    assert resolve({}, env).credential.token == "from-file"
    assert resolve({}, {**env, "ADMIN_TOKEN": "admin"}).credential.token == "admin"
    both = {**env, "ADMIN_TOKEN": "admin", "MOLECULE_API_TOKEN": "original"}
    assert resolve({}, both).credential.token == "original"
    assert resolve({}, {**both, "MOLECULE_TOKEN": "ours"}).credential.token == "ours"
    flag = resolve({"token": "flag"}, {**both, "MOLECULE_TOKEN": "ours"}).credential
    assert (flag.token, flag.source) == ("flag", "--token")


def test_the_data_directory_rule_is_the_platforms(tmp_path: Path) -> None:
    for env in ({}, {"MOLECULE_HOME": str(tmp_path)}, {"MOLECULE_HOME": "~/x"}):
        assert connection.data_home(env) == data_home(env)


def test_output_formats() -> None:
    assert resolve({}, {}).output == "table"
    assert resolve({}, {"MOL_OUTPUT": "json"}).output == "json"
    assert resolve({"output": "text"}, {"MOL_OUTPUT": "json"}).output == "table"
    with pytest.raises(CommandFailed, match="unknown output format 'xml'"):
        resolve({}, {"MOL_OUTPUT": "xml"})


async def test_a_command_finds_the_token_and_url_by_itself(
    platform: Harness, tmp_path: Path
) -> None:
    h = platform
    home = tmp_path / "cli-home"
    home.mkdir()
    url = h.base_url.rstrip("/")
    env = {"MOLECULE_HOME": str(home), "MOLECULE_API_URL": url}
    r = await molecule(h, "workspace", "list", token=None, env=env)
    assert r.exit_code == 1
    assert r.stderr == (
        f"error: 401 admin auth required (no token given, and no {home / 'admin_token'}; "
        "give one with --token or MOLECULE_TOKEN)\n"
    )
    (home / "admin_token").write_text(ADMIN_TOKEN + "\n")
    argv = ["workspace", "list", "-o", "json"]  # no --api-url, no --token: all from the env
    r = await trio.to_thread.run_sync(lambda: invoke(argv, env=env))
    assert (r.exit_code, json.loads(r.stdout)) == (0, [])
    wrong = {**env, "ADMIN_TOKEN": "wrong", "MOLECULE_TOKEN": ADMIN_TOKEN}
    r = await trio.to_thread.run_sync(lambda: invoke(argv, env=wrong))
    assert r.exit_code == 0
    r = await trio.to_thread.run_sync(lambda: invoke(argv, env={**env, "ADMIN_TOKEN": "wrong"}))
    assert r.exit_code == 1 and "token from ADMIN_TOKEN" in r.stderr


async def test_workspace_ids_complete_from_the_platform(platform: Harness) -> None:
    h = platform
    made = await h.client.post(
        "/workspaces", json={"name": "findme", "runtime": "mock"}, headers=h.admin
    )
    wid = made.json()["id"]
    args = ["--api-url", h.base_url, "--token", ADMIN_TOKEN, "workspace", "inspect"]

    def complete(incomplete: str) -> list[str]:
        shell = BashComplete(cli, {}, "molecule", "_MOLECULE_COMPLETE")
        return [item.value for item in shell.get_completions(args, incomplete)]

    assert await trio.to_thread.run_sync(complete, "") == [wid]
    assert await trio.to_thread.run_sync(complete, "find") == ["findme"]
    assert await trio.to_thread.run_sync(complete, "zzz") == []


def test_completion_scripts() -> None:
    for shell in ("bash", "zsh", "fish"):
        r = invoke(["completion", shell])
        assert r.exit_code == 0 and "_MOLECULE_COMPLETE" in r.stdout
    assert invoke(["completion", "tcsh"]).exit_code == 2


def test_connect_and_agent_keep_their_own_parsers() -> None:
    r = invoke(["connect", "--help"])
    assert r.exit_code == 0 and r.stdout.startswith("usage: molecule connect")
    assert "--backend" in r.stdout
    r = invoke(["agent", "--help"])
    assert r.exit_code == 0 and r.stdout.startswith("usage: molecule agent")
    assert "molecule agent peers <workspace>" in r.stdout
    r = invoke(["agent", "peers", "--help"])
    assert r.exit_code == 0 and r.stdout.startswith("Usage: molecule agent peers")
    r = invoke(["connect"])  # connect's own usage error
    assert r.exit_code == 2 and "workspace_id" in r.stderr


def test_serve_checks_its_flags_before_starting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--log-format", "xml"]) == 2
    assert "'xml' is not one of 'text', 'json'" in capsys.readouterr().err
    assert main(["nonsense"]) == 2
    assert main([]) == 2  # the command is required, as before


def test_main_runs_with_the_environment_cleaned(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CLEAN_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MOLECULE_API_URL", "not-a-url")
    assert main(["workspace", "list"]) == 1
    assert "MOLECULE_API_URL" not in os.environ or os.environ["MOLECULE_API_URL"] == "not-a-url"
