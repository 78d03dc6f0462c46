"""Encryption of secrets at rest (mailbox passwords, OAuth token caches, client secrets).

Fernet (AES-128-CBC + HMAC-SHA256) with a key derived from MAILSCANNER_SECRET_KEY by HKDF,
so the configured secret can be any length and the derived key is bound to this purpose.
"""
from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_fernet: Fernet | None = None


class SecretKeyError(RuntimeError):
    """A stored secret cannot be decrypted: the secret key changed or was never configured."""


def configure(secret_key: str) -> None:
    """Set the process-wide key; called once when the database is initialised."""
    global _fernet
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"mailscanner-secrets-v1",
               info=b"fernet").derive(secret_key.encode())
    _fernet = Fernet(base64.urlsafe_b64encode(raw))


def _get() -> Fernet:
    if _fernet is None:
        raise SecretKeyError("secret key not configured")
    return _fernet


def encrypt(plain: str) -> str:
    return _get().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _get().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretKeyError(
            "stored secret cannot be decrypted (was MAILSCANNER_SECRET_KEY changed?)") from None


def encrypt_optional(plain: str | None) -> str | None:
    """For write-only secret fields: an empty or missing value clears the secret."""
    return encrypt(plain) if plain else None


def decrypt_optional(token: str | None) -> str | None:
    return decrypt(token) if token else None
