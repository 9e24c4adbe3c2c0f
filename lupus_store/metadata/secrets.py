"""Secrets at rest: API tokens are stored as SHA-256 hashes, passwords as scrypt hashes.

A token is 32 random bytes, so a plain SHA-256 cannot be brute-forced and lets the API
look a token up by its hash in one indexed query. Passwords are low-entropy and get
scrypt (hashlib, no extra dependency) with a per-password salt.

Example:
    >>> token = new_token(); token.startswith("lps_")
    True
    >>> verify_password("s3cret", hash_password("s3cret"))
    True
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

TOKEN_PREFIX = "lps_"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def new_token() -> str:
    """A fresh bearer token: ``lps_`` + 43 URL-safe characters (256 bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Hex SHA-256 of a token: what the database stores and looks up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    """``scrypt$<salt>$<hash>`` (base64) for a password."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, **_SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_password(password: str, stored: str | None) -> bool:
    """True if ``password`` matches a hash made by :func:`hash_password` (constant-time compare)."""
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, salt_b64, digest_b64 = stored.split("$", 2)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt_b64), **_SCRYPT)
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))
