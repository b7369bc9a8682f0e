"""The agent's own error text (card, JSON-RPC `data`, heartbeat) is scrubbed before it leaves
the process: secret environment values, credential-shaped tokens, and a length cap."""

from __future__ import annotations

from molecule.errors import LLMError
from molecule.security.redact import (
    ERROR_TEXT_MAX_CHARS,
    describe_error,
    scrub_error_text,
    secret_env_values,
)


def test_secret_env_values_pick_secret_names_with_real_values() -> None:
    env = {
        "OPENAI_API_KEY": "sk-live-abcdef",
        "GITHUB_TOKEN": "ghp_12345678",
        "DB_PASSWORD": "short",  # under 8 characters: would redact ordinary words
        "HOME": "/home/agent",
        "my_secret": "lower-case-name",
    }
    assert sorted(secret_env_values(env)) == ["ghp_12345678", "lower-case-name", "sk-live-abcdef"]


def test_scrub_replaces_env_values_and_token_shapes() -> None:
    text = "call failed: key=hunter2hunter2 Authorization: Bearer abcdefghij012345 tail"
    assert scrub_error_text(text, ["hunter2hunter2"]) == (
        "call failed: key=[REDACTED] Authorization: Bearer [REDACTED] tail"
    )
    # 16 characters, `+` included, is enough here (stricter than the broadcast filter).
    assert scrub_error_text("api_key: abc+def/ghi.jkl-mn") == "api_key: [REDACTED]"
    assert scrub_error_text("token abcdefghij01234") == "token abcdefghij01234"  # 15: kept
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ3cy0xIn0.c2ln"
    assert scrub_error_text(f"bad {jwt}!") == "bad [REDACTED]!"


def test_scrub_caps_the_text() -> None:
    out = scrub_error_text("x" * 2000)
    assert out == "x" * ERROR_TEXT_MAX_CHARS + "…"
    assert scrub_error_text("x" * ERROR_TEXT_MAX_CHARS) == "x" * ERROR_TEXT_MAX_CHARS


def test_describe_error_names_the_type() -> None:
    assert describe_error(LLMError("OPENAI_API_KEY is not set")) == (
        "LLMError: OPENAI_API_KEY is not set"
    )
    assert describe_error(ValueError()) == "ValueError"
    assert describe_error(RuntimeError("secret sk-zzzzzzzz here"), ["sk-zzzzzzzz"]) == (
        "RuntimeError: secret [REDACTED] here"
    )
