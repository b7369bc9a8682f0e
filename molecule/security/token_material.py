"""Bearer tokens and shared secrets: minting, hashing, parsing, comparing.

The original platform mints workspace and org tokens as 32 random bytes in base64url without
padding and stores only `sha256(plaintext)` plus an 8-character prefix, so a database leak
yields no usable credential while the prefix still lets a human tell tokens apart in a list.
Clients already hold tokens in that shape, so we keep it byte for byte.

Everything here is pure and synchronous: no I/O, no clock, nothing from other molecule layers.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32
"""Entropy of every minted token or secret (256 bits); encodes to 43 base64url characters."""

PREFIX_LENGTH = 8
"""How much of a token is stored and shown in clear: enough to tell tokens apart, too little to
guess the rest."""

_BEARER = "Bearer "


def new_token() -> str:
    """Mint a bearer token (workspace or org) in the original's wire shape.

    `secrets.token_urlsafe` is base64url with the `=` padding stripped, which is exactly the
    original's encoding; 32 bytes give 43 characters.
    """
    return secrets.token_urlsafe(TOKEN_BYTES)


def new_inbound_secret() -> str:
    """Mint the per-workspace secret the platform presents when it calls an agent.

    Same shape as a token today, but a separate function because it is a different credential
    (it authenticates the platform to the agent, not the agent to the platform) and may evolve
    on its own.
    """
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(plaintext: str) -> bytes:
    """Return the sha256 digest stored in place of the token.

    A plain (unsalted, fast) hash is enough and is what the original does: the input is 256
    random bits, so there is nothing to brute-force, and lookups need a deterministic key.
    """
    return hashlib.sha256(plaintext.encode("utf-8")).digest()


def token_prefix(plaintext: str) -> str:
    """Return the clear-text prefix stored beside the hash, for display and audit."""
    return plaintext[:PREFIX_LENGTH]


def bearer_from_header(value: str | None) -> str | None:
    """Extract the token from an `Authorization` header value.

    Mirrors the original's `BearerTokenFromHeader`: the scheme must be exactly `"Bearer "`
    (case-sensitive, one space) — `bearer x` or `Basic x` are not bearer credentials here —
    and the remainder is trimmed. An absent header or an empty token gives None, so callers
    can treat "no credential" uniformly.
    """
    if value is None or not value.startswith(_BEARER):
        return None
    token = value[len(_BEARER) :].strip()
    return token or None


def constant_time_equal(a: str, b: str) -> bool:
    """Compare two secrets without leaking, through timing, how long a common prefix they share.

    `hmac.compare_digest` only accepts ASCII `str`, and a client can send any text in a header,
    so both sides are compared as UTF-8 bytes instead of raising on non-ASCII input.
    """
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
