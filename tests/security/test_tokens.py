"""Token minting, hashing and header parsing match the original's wire shapes."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable

import pytest
import trio

from molecule.security.token_material import (
    bearer_from_header,
    constant_time_equal,
    hash_token,
    new_inbound_secret,
    new_token,
    token_prefix,
)

_B64URL_43 = re.compile(r"[A-Za-z0-9_-]{43}")


@pytest.mark.parametrize("mint", [new_token, new_inbound_secret])
def test_minted_values_are_32_bytes_base64url_unpadded(mint: Callable[[], str]) -> None:
    values = {mint() for _ in range(200)}
    assert len(values) == 200  # no repeats
    for value in values:
        assert isinstance(value, str)
        assert _B64URL_43.fullmatch(value), value
        assert "=" not in value
        assert len(base64.urlsafe_b64decode(value + "=")) == 32


def test_hash_token_is_sha256_of_utf8() -> None:
    assert hash_token("abc") == hashlib.sha256(b"abc").digest()
    assert len(hash_token(new_token())) == 32
    assert hash_token("é") == hashlib.sha256("é".encode()).digest()
    assert hash_token("a") != hash_token("b")


def test_token_prefix_is_first_eight_characters() -> None:
    assert token_prefix("abcdefghijkl") == "abcdefgh"
    assert token_prefix("abc") == "abc"
    token = new_token()
    assert token.startswith(token_prefix(token)) and len(token_prefix(token)) == 8


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer abc", "abc"),
        ("Bearer   abc  ", "abc"),
        ("Bearer \tabc\n", "abc"),
        ("Bearer a b", "a b"),
        ("Bearer ", None),
        ("Bearer    ", None),
        ("Bearer", None),
        ("bearer abc", None),
        ("BEARER abc", None),
        ("Basic abc", None),
        (" Bearer abc", None),
        ("Bearerabc", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_from_header(header: str | None, expected: str | None) -> None:
    assert bearer_from_header(header) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("secret", "secret", True),
        ("secret", "Secret", False),
        ("secret", "secret2", False),
        ("", "", True),
        ("", "x", False),
        ("clé", "clé", True),  # non-ASCII must compare, not raise
        ("clé", "cle", False),
    ],
)
def test_constant_time_equal(a: str, b: str, expected: bool) -> None:
    assert constant_time_equal(a, b) is expected


async def test_the_token_cache_stays_bounded_under_random_bearers(
    autojump_clock: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from molecule.store import token_rows

    monkeypatch.setattr(token_rows, "CACHE_LIMIT", 100)
    cache = token_rows._TTLCache()
    for i in range(1000):
        cache.put(f"random-{i}", None)
    assert len(cache._data) == 100
    assert cache.get("random-999") == (True, None)  # the newest survive
    assert cache.get("random-0") == (False, None)
    await trio.sleep(token_rows.CACHE_TTL + 1)
    cache.put("fresh", "hit")
    assert list(cache._data) == ["fresh"]  # the expired went first
