"""AES-256-GCM for secrets at rest, in the original platform's format.

Key from SECRETS_ENCRYPTION_KEY: 32 raw bytes or base64 of 32 bytes. Ciphertext layout:
12-byte random nonce || GCM ciphertext+tag. Version 0 rows are plaintext (no key configured),
version 1 rows are encrypted; a row is always decrypted with the scheme it was written in.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from molecule.errors import DecryptError, SecretKeyError

PLAINTEXT, AES_GCM = 0, 1
_NONCE = 12


def parse_key(raw: str | None) -> bytes | None:
    """None when unset; raises SecretKeyError for a value that is not a 32-byte key."""
    if not raw:
        return None
    if len(raw.encode()) == 32:
        return raw.encode()
    try:
        decoded = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if len(decoded) != 32:
        raise SecretKeyError("SECRETS_ENCRYPTION_KEY must be 32 bytes, raw or base64-encoded")
    return decoded


class SecretBox:
    def __init__(self, key: bytes | None) -> None:
        self._aead = AESGCM(key) if key else None

    @property
    def version(self) -> int:
        return AES_GCM if self._aead else PLAINTEXT

    def seal(self, plaintext: str) -> tuple[bytes, int]:
        data = plaintext.encode()
        if self._aead is None:
            return data, PLAINTEXT
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, data, None), AES_GCM

    def open(self, blob: bytes, version: int) -> str:
        if version == PLAINTEXT:
            return blob.decode()
        if self._aead is None or len(blob) <= _NONCE:
            raise DecryptError("encrypted secret but no usable SECRETS_ENCRYPTION_KEY")
        try:
            return self._aead.decrypt(blob[:_NONCE], blob[_NONCE:], None).decode()
        except InvalidTag as exc:
            raise DecryptError("secret does not decrypt with the configured key") from exc
