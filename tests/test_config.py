"""Settings from the environment: each value validated once, bad ones named."""

from __future__ import annotations

from pathlib import Path

import pytest

from molecule.config import DEFAULT_RESPONSE_HEADER_TIMEOUT, Settings, local_url
from molecule.errors import ConfigError


def settings(**env: str) -> Settings:
    return Settings.from_env({"MOLECULE_HOME": "/tmp/molecule-config-test", **env})


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("90s", 90.0), ("3m", 180.0), ("1h30m", 5400.0), ("250ms", 0.25), ("45", 45.0)],
)
def test_the_response_header_timeout_takes_go_durations(raw: str, seconds: float) -> None:
    assert settings(A2A_PROXY_RESPONSE_HEADER_TIMEOUT=raw).a2a_response_header_timeout == seconds


@pytest.mark.parametrize("raw", ["", "soon", "-5s", "0", "1x"])
def test_a_bad_response_header_timeout_falls_back_to_the_default(raw: str) -> None:
    value = settings(A2A_PROXY_RESPONSE_HEADER_TIMEOUT=raw).a2a_response_header_timeout
    assert value == DEFAULT_RESPONSE_HEADER_TIMEOUT


def test_production_needs_an_encryption_key() -> None:
    with pytest.raises(ConfigError, match="SECRETS_ENCRYPTION_KEY"):
        settings(MOLECULE_ENV="production")


def test_home_is_absolute() -> None:
    assert settings(MOLECULE_HOME="relative/home").home == Path("relative/home").absolute()


@pytest.mark.parametrize(
    ("host", "port", "tls", "url"),
    [
        ("127.0.0.1", 8080, False, "http://127.0.0.1:8080"),
        ("0.0.0.0", 9000, True, "https://127.0.0.1:9000"),
        ("::", 8080, False, "http://127.0.0.1:8080"),
        ("[::]", 8080, False, "http://127.0.0.1:8080"),
        ("::1", 8080, False, "http://[::1]:8080"),
        ("", "8080", False, "http://127.0.0.1:8080"),
        ("molecule.internal", 443, True, "https://molecule.internal:443"),
    ],
)
def test_how_this_machine_reaches_a_listening_address(
    host: str, port: int | str, tls: bool, url: str
) -> None:
    assert local_url(host, port, tls) == url
