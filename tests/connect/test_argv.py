"""`molecule connect`'s command line: the original CLI's spellings reach the same platform.

The original (molecule-cli, Go/cobra) reads the platform URL from `--api-url`, else the env
`MOLECULE_API_URL`, else `http://localhost:8080`; the exec backend's command from the
repeatable `--backend-opt cmd=...` (with `timeout=<Go duration>`). Ours also accepts
`--platform`, `MOLECULE_PLATFORM_URL` and `PLATFORM_URL`, and `--exec` / `--exec-timeout`.
"""

from __future__ import annotations

import json
import shlex
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from molecule.connect import main as connect
from molecule.connect.backends import ExecBackend, MockBackend
from molecule.connect.main import parse_args

WS = "11111111-2222-3333-4444-555555555555"
ENV_NAMES = ("MOLECULE_API_URL", "MOLECULE_PLATFORM_URL", "PLATFORM_URL")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*ENV_NAMES, "MOLECULE_WORKSPACE_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def platform_of(argv: list[str], env: dict[str, str] | None = None) -> str:
    args = parse_args([WS, *argv], environ=env or {})
    return str(args.platform)


# -- the platform URL ----------------------------------------------------------------------


def test_every_flag_spelling_reaches_the_platform_given() -> None:
    assert platform_of(["--api-url", "http://a.example:1"]) == "http://a.example:1"
    assert platform_of(["--api-url=http://a.example:1"]) == "http://a.example:1"
    assert platform_of(["--platform", "http://b.example:2"]) == "http://b.example:2"
    assert platform_of(["--platform=http://b.example:2"]) == "http://b.example:2"


def test_every_env_spelling_reaches_the_platform_given() -> None:
    for name in ENV_NAMES:
        assert platform_of([], {name: f"http://{name.lower()}.example"}) == (
            f"http://{name.lower()}.example"
        )


def test_precedence_flag_then_the_originals_env_then_ours_then_the_default() -> None:
    every_env = {
        "MOLECULE_API_URL": "http://api-url.example",
        "MOLECULE_PLATFORM_URL": "http://molecule-platform-url.example",
        "PLATFORM_URL": "http://platform-url.example",
    }
    assert platform_of(["--api-url", "http://flag.example"], every_env) == "http://flag.example"
    assert platform_of(["--platform", "http://flag.example"], every_env) == "http://flag.example"
    assert platform_of([], every_env) == "http://api-url.example"
    del every_env["MOLECULE_API_URL"]
    assert platform_of([], every_env) == "http://molecule-platform-url.example"
    del every_env["MOLECULE_PLATFORM_URL"]
    assert platform_of([], every_env) == "http://platform-url.example"
    assert platform_of([], {}) == connect.DEFAULT_PLATFORM
    # an empty variable is unset, as the original's envOr treats it
    assert platform_of([], {"MOLECULE_API_URL": "", "PLATFORM_URL": "http://p.example"}) == (
        "http://p.example"
    )
    # both flags: the last one given wins, as with any repeated option
    assert platform_of(["--platform", "http://one", "--api-url", "http://two"]) == "http://two"


def test_the_process_environment_is_read_when_none_is_passed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOLECULE_API_URL", "http://from-process-env.example")
    assert parse_args([WS]).platform == "http://from-process-env.example"


def test_a_platform_url_that_is_not_http_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in (["--api-url", "localhost:8080"], ["--platform", "ftp://x"]):
        with pytest.raises(SystemExit) as exc:
            parse_args([WS, *bad], environ={})
        assert exc.value.code == 2
        assert "http:// or https:// URL" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args([WS], environ={"MOLECULE_API_URL": "example.com"})
    assert "MOLECULE_API_URL" in capsys.readouterr().err


@dataclass
class LoopbackPlatform:
    """Just enough of the registry and activity routes for `molecule connect --once`, on a
    real loopback port; it records what reached it."""

    server: ThreadingHTTPServer
    seen: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def loopback() -> Iterator[LoopbackPlatform]:
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def reply(self, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(f"POST {self.path}")
            self.reply({"status": "registered", "delivery_mode": "poll"})

        def do_GET(self) -> None:
            seen.append(f"GET {self.path.split('?')[0]}")
            self.reply([])

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LoopbackPlatform(server, seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


DECOY = "http://127.0.0.1:9"  # nothing listens: reaching it fails the run


@pytest.mark.parametrize(
    ("spelling", "where"),
    [("--api-url", "flag"), ("--platform", "flag"), ("MOLECULE_API_URL", "env"),
     ("MOLECULE_PLATFORM_URL", "env"), ("PLATFORM_URL", "env")],
)  # fmt: skip
def test_a_real_run_reaches_the_platform_each_spelling_names(
    spelling: str,
    where: str,
    loopback: LoopbackPlatform,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv = [WS, "--token", "t", "--state-dir", str(tmp_path), "--once"]
    if where == "flag":
        argv += [spelling, loopback.url]
        for name in ENV_NAMES:  # every env name points elsewhere: the flag wins
            monkeypatch.setenv(name, DECOY)
    else:
        monkeypatch.setenv(spelling, loopback.url)
        for name in ENV_NAMES[ENV_NAMES.index(spelling) + 1 :]:  # lower precedence
            monkeypatch.setenv(name, DECOY)
    assert connect.main(argv) == 0
    assert loopback.seen[:2] == ["POST /registry/register", "POST /registry/heartbeat"]
    assert f"GET /workspaces/{WS}/activity" in loopback.seen


# -- the backend: the original's --backend-opt ---------------------------------------------


def test_backend_opt_cmd_builds_the_exec_backend() -> None:
    args = parse_args([WS, "--backend", "exec", "--backend-opt", "cmd=kimi --print"], environ={})
    backend = connect.build_backend(args)
    assert isinstance(backend, ExecBackend)
    assert backend.argv == ["kimi", "--print"]
    assert backend.timeout == 60.0  # the original exec backend's default


def test_backend_opt_cmd_runs_the_command() -> None:
    args = parse_args(
        [WS, "--backend", "exec", "--backend-opt", "cmd=tr a-z A-Z", "--backend-opt",
         "timeout=1m30s"],
        environ={},
    )  # fmt: skip
    backend = connect.build_backend(args)
    assert isinstance(backend, ExecBackend)
    assert backend.timeout == 90.0
    assert backend.answer("shout") == "SHOUT"


def test_exec_flag_still_works() -> None:
    args = parse_args([WS, "--backend", "exec", "--exec", "cat", "--exec-timeout", "5"], environ={})
    backend = connect.build_backend(args)
    assert isinstance(backend, ExecBackend)
    assert (backend.argv, backend.timeout) == (["cat"], 5.0)
    mock = connect.build_backend(parse_args([WS], environ={}))
    assert isinstance(mock, MockBackend)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("60s", 60.0), ("5m", 300.0), ("1h30m", 5400.0), ("1.5s", 1.5), ("250ms", 0.25),
     ("2m30s", 150.0), ("45", 45.0)],
)  # fmt: skip
def test_go_durations(value: str, seconds: float) -> None:
    assert connect.parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "soon", "5x", "1h30", "inf", "nan", "m"])
def test_not_durations(value: str) -> None:
    assert connect.parse_duration(value) is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--backend-opt", "noequals"], "KEY=VALUE"),
        (["--backend-opt", "=v"], "KEY=VALUE"),
        (["--backend", "exec", "--backend-opt", "timeout=10s"], "--exec"),
        (["--backend", "exec", "--backend-opt", "cmd=cat", "--exec", "cat"], "once"),
        (["--backend", "exec", "--backend-opt", "cmd=cat", "--backend-opt", "timeout=soon"],
         "duration"),
        (["--backend", "exec", "--backend-opt", "cmd=cat", "--backend-opt", "timeout=0s"],
         "duration"),
        (["--backend", "exec", "--backend-opt", "cmd=cat", "--backend-opt", "pass_meta=true"],
         "pass_meta"),
        (["--backend", "mock", "--backend-opt", "reply=pong"], "reply"),
    ],
)  # fmt: skip
def test_bad_backend_opts_are_refused(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        connect.main([WS, "--token", "t", *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_the_kimi_snippet_line_parses() -> None:
    """The exact command the Kimi snippet shows (see tests/http/test_external.py for the
    rendered one) is accepted and means: that platform, the exec backend, `kimi --print`."""
    line = (
        f"molecule connect {WS} --api-url https://mol.example "
        '--backend exec --backend-opt cmd="kimi --print"'
    )
    argv = shlex.split(line)
    assert argv[:2] == ["molecule", "connect"]
    args = parse_args(argv[2:], environ={})
    backend = connect.build_backend(args)
    assert args.platform == "https://mol.example"
    assert isinstance(backend, ExecBackend) and backend.argv == ["kimi", "--print"]
