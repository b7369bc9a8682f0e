"""`molecule serve` with JSON logs, as an operator runs it: every line on stderr is one JSON
object (the HTTP server's own lines included), and a request's lines carry its id."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from molecule.cli import main
from tests.test_cli import free_port, wait_healthy

ADMIN_TOKEN = "json-logs-admin-token-0123456789abcdef"


def test_serve_writes_json_lines(dsn: str, tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOLECULE_")}
    env.update(MOLECULE_HOME=str(tmp_path / "home"), DATABASE_URL=dsn, ADMIN_TOKEN=ADMIN_TOKEN)
    # The flag wins over the environment (MOLECULE_LOG_FORMAT=json alone does the same).
    env["MOLECULE_LOG_FORMAT"] = "text"
    argv = [sys.executable, "-m", "molecule.cli", "serve", "--port", str(port)]
    argv += ["--log-format", "json"]
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, proc)
        r = httpx.post(
            f"{base}/workspaces",
            json={"name": "logged", "runtime": "external"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Request-ID": "req-json-1"},
            timeout=10,
        )
        assert r.status_code == 201 and r.headers["x-request-id"] == "req-json-1"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert lines, "nothing logged"
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    loggers = {line["logger"] for line in lines}
    assert "hypercorn.error" in loggers and "molecule.platform" in loggers
    [created] = [line for line in lines if line["message"].startswith("workspace ")
                 and "created" in line["message"]]  # fmt: skip
    assert created["request_id"] == "req-json-1"
    assert created["operation"] == "workspaces.create_workspace"


def test_the_flag_takes_text_or_json_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--log-format", "xml"]) == 2
    assert "'xml' is not one of 'text', 'json'" in capsys.readouterr().err


def test_a_bad_log_format_setting_stops_serve_at_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MOLECULE_LOG_FORMAT", "yaml")
    assert main(["serve", "--port", "1"]) == 2
    assert "MOLECULE_LOG_FORMAT='yaml'" in capsys.readouterr().err
