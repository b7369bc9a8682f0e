"""The edge's settings, validated at startup (molecule/config.py): RATE_LIMIT, CORS_ORIGINS,
the TLS files; a bad value stops the start with a ConfigError naming it, and `molecule serve`
exits 2 with that message before it starts anything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from molecule.config import DEFAULT_RATE_LIMIT, Settings
from molecule.errors import ConfigError
from tests.http.edge_certs import self_signed

MOLECULE = Path(sys.executable).parent / "molecule"


def settings(**env: str) -> Settings:
    return Settings.from_env({"MOLECULE_HOME": "/tmp/molecule-config-test", **env})


def test_the_rate_limit_defaults_to_the_originals() -> None:
    assert DEFAULT_RATE_LIMIT == 600
    assert settings().rate_limit == 600
    assert settings(RATE_LIMIT=" 120 ").rate_limit == 120
    assert settings(RATE_LIMIT="0").rate_limit == 0  # off


@pytest.mark.parametrize("raw", ["-1", "ten", "1.5", "1e3", "10000000000", "١٢"])
def test_a_bad_rate_limit_is_refused(raw: str) -> None:
    with pytest.raises(ConfigError, match="RATE_LIMIT"):
        settings(RATE_LIMIT=raw)


def test_cors_origins_are_origins() -> None:
    assert settings().cors_origins == ()
    got = settings(
        CORS_ORIGINS=" https://Canvas.Example.com/ , http://localhost:3000,,"
    ).cors_origins
    assert got == ("https://canvas.example.com", "http://localhost:3000")
    assert settings(CORS_ORIGINS="http://[::1]:5173").cors_origins == ("http://[::1]:5173",)


@pytest.mark.parametrize(
    "raw",
    [
        "*",
        "canvas.example.com",
        "https://canvas.example.com/app",
        "https://canvas.example.com?x=1",
        "ftp://canvas.example.com",
        "https://user@canvas.example.com",
        "https://canvas.example.com:99999",
        "https://canvas.example.com:0",
        "https://",
        "https://bad host",
        "https://ünicode.example",
    ],
)
def test_a_bad_cors_origin_is_refused(raw: str) -> None:
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        settings(CORS_ORIGINS=f"https://fine.example, {raw}")


def test_tls_files_are_checked(tmp_path: Path) -> None:
    good = self_signed(tmp_path, "good")
    other = self_signed(tmp_path, "other")
    locked = self_signed(tmp_path, "locked", passphrase=b"secret")
    s = settings(MOLECULE_TLS_CERTFILE=str(good.cert), MOLECULE_TLS_KEYFILE=str(good.key))
    assert s.tls and s.tls_certfile == good.cert and s.tls_keyfile == good.key
    assert not settings().tls
    cli = Settings.from_env(
        {"MOLECULE_HOME": "/tmp/x", "MOLECULE_TLS_CERTFILE": "/nowhere"},
        certfile=str(good.cert),
        keyfile=str(good.key),
    )
    assert cli.tls_certfile == good.cert  # the command line wins
    bad = {
        "both": (str(good.cert), None),
        "does not exist": (str(good.cert), str(tmp_path / "missing.key")),
        "cannot be used together": (str(good.cert), str(other.key)),
        "unencrypted": (str(locked.cert), str(locked.key)),
    }
    for message, (cert, key) in bad.items():
        env = {"MOLECULE_TLS_CERTFILE": cert, **({"MOLECULE_TLS_KEYFILE": key} if key else {})}
        with pytest.raises(ConfigError, match=message):
            settings(**env)
    with pytest.raises(ConfigError, match="not a file"):
        settings(MOLECULE_TLS_CERTFILE=str(tmp_path), MOLECULE_TLS_KEYFILE=str(good.key))


def test_serve_refuses_a_bad_setting_before_it_starts_anything(tmp_path: Path) -> None:
    env = {**os.environ, "MOLECULE_HOME": str(tmp_path / "home"), "RATE_LIMIT": "lots"}
    env.pop("DATABASE_URL", None)
    run = subprocess.run(
        [str(MOLECULE), "serve", "--port", "1"], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2 and "RATE_LIMIT='lots'" in run.stderr, run.stderr
    env["RATE_LIMIT"] = "5"
    run = subprocess.run(
        [str(MOLECULE), "serve", "--port", "1", "--certfile", str(tmp_path / "none.crt")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "--keyfile" in run.stderr, run.stderr
    assert not (tmp_path / "home").exists()  # nothing was started or created
