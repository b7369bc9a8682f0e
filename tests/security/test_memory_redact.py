"""The memory scrubber (the original's SAFE-T1201 patterns): each pattern, their order, and
what it leaves alone."""

from __future__ import annotations

import pytest

from molecule.security.redact import redact_memory_secrets

B64 = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3"  # 40 base64 characters


@pytest.mark.parametrize(
    ("raw", "expected", "labels"),
    [
        ("ANTHROPIC_API_KEY=sk-ant-xyz", "[REDACTED:API_KEY]", ["API_KEY"]),
        ("openai_api_key = abc123 rest", "[REDACTED:API_KEY] rest", ["API_KEY"]),
        ("GITHUB_TOKEN=ghp_abc then", "[REDACTED:TOKEN] then", ["TOKEN"]),
        ("export WEBHOOK_SECRET=hunter2", "export [REDACTED:SECRET]", ["SECRET"]),
        ("Authorization: Bearer eyJabc.def", "Authorization: [REDACTED:BEARER_TOKEN]",
         ["BEARER_TOKEN"]),
        ("key sk-proj-0123456789abcdef!", "key [REDACTED:SK_TOKEN]!", ["SK_TOKEN"]),
        ("use ctx7_AbC123 here", "use [REDACTED:CTX7_TOKEN] here", ["CTX7_TOKEN"]),
        (f"blob {B64}== end", "blob [REDACTED:BASE64_BLOB] end", ["BASE64_BLOB"]),
        # The most specific rule wins: the whole assignment goes, not just its sk- value.
        ("OPENAI_API_KEY=sk-0123456789abcdefghij", "[REDACTED:API_KEY]", ["API_KEY"]),
        ("T_TOKEN=a and Bearer b", "[REDACTED:TOKEN] and [REDACTED:BEARER_TOKEN]",
         ["TOKEN", "BEARER_TOKEN"]),
    ],
)  # fmt: skip
def test_each_pattern(raw: str, expected: str, labels: list[str]) -> None:
    assert redact_memory_secrets(raw) == (expected, labels)


@pytest.mark.parametrize(
    "harmless",
    [
        "",
        "the API_KEY is stored in the vault",  # no assignment
        "bearer of bad news",  # the header rule is case-sensitive, as in the original
        "sk-short",  # fewer than 16 characters after sk-
        "a" * 32,  # one short of a base64 blob
        "MY_TOKEN: abc",  # a colon is not an assignment
        "ünïcödé_API_KEY=x",  # ASCII word boundaries, as in Go: no name starts there
    ],
)
def test_harmless_text_is_kept(harmless: str) -> None:
    assert redact_memory_secrets(harmless) == (harmless, [])


def test_a_long_identifier_is_hidden_as_in_the_original() -> None:
    text = "x" * 33
    assert redact_memory_secrets(text) == ("[REDACTED:BASE64_BLOB]", ["BASE64_BLOB"])
