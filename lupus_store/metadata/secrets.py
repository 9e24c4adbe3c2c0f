"""Secrets at rest: API tokens are stored as SHA-256 hashes, passwords as Argon2id hashes.

A token is 32 random bytes, so a plain SHA-256 cannot be brute-forced and lets the API
look a token up by its hash in one indexed query. Passwords are low-entropy and get Argon2id
(``argon2-cffi``) at OWASP's recommended minimum: 19 MiB of memory, 2 iterations, 1 lane
(about 0.1 s per check here; scrypt at OWASP's N=2^17 took over a second, which the app's
sign-in cannot afford). Hashes are PHC strings (``$argon2id$v=19$m=19456,t=2,p=1$salt$hash``),
so the parameters travel with each hash and can be raised later.

Hashes made by earlier releases (``scrypt$salt$hash``, scrypt N=2^14, r=8, p=1, below OWASP's
minimum) still verify; :func:`check_password` then returns a new Argon2id hash for the caller to
store, so they are replaced at each user's next sign-in (:mod:`lupus_store.metadata.sign_in`).

Example:
    >>> token = new_token(); token.startswith("lps_")
    True
    >>> verify_password("s3cret", hash_password("s3cret"))
    True
    >>> hash_password("s3cret").startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    True
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import NamedTuple

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

TOKEN_PREFIX = "lps_"
#: OWASP Password Storage Cheat Sheet, Argon2id: m=19 MiB, t=2, p=1.
PASSWORDS = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1, hash_len=32, salt_len=16, type=Type.ID)
_LEGACY_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def new_token() -> str:
    """A fresh bearer token: ``lps_`` + 43 URL-safe characters (256 bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Hex SHA-256 of a token: what the database stores and looks up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class PasswordCheck(NamedTuple):
    """Whether a password matched, and the hash to store instead of the old one (None: keep it)."""

    ok: bool
    new_hash: str | None = None


def hash_password(password: str) -> str:
    """An Argon2id PHC string for ``password`` (a fresh random salt each time)."""
    return PASSWORDS.hash(password)


def check_password(password: str, stored: str | None) -> PasswordCheck:
    """Check ``password`` against a stored hash (constant-time compare).

    When it matches a hash of an older kind (scrypt) or weaker parameters, ``new_hash`` is a
    hash at today's parameters to store in its place.

    >>> old = legacy_scrypt_hash("pw")
    >>> check = check_password("pw", old)
    >>> check.ok, check.new_hash.startswith("$argon2id$")
    (True, True)
    >>> check_password("wrong", old)
    PasswordCheck(ok=False, new_hash=None)
    """
    if not stored:
        return PasswordCheck(False)
    if stored.startswith("scrypt$"):
        if not _legacy_scrypt_matches(password, stored):
            return PasswordCheck(False)
        return PasswordCheck(True, hash_password(password))
    try:
        PASSWORDS.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return PasswordCheck(False)
    return PasswordCheck(True, hash_password(password) if PASSWORDS.check_needs_rehash(stored) else None)


def verify_password(password: str, stored: str | None) -> bool:
    """True if ``password`` matches ``stored`` (an Argon2id hash, or a scrypt hash of an earlier release)."""
    return check_password(password, stored).ok


# Checked when there is no user or no hash, so that an unknown name costs as long as a wrong password.
_DUMMY_HASH = PASSWORDS.hash(secrets.token_urlsafe(16))


def waste_a_check(password: str) -> None:
    """Spend one password check's time on nothing (for unknown users: no timing difference)."""
    check_password(password, _DUMMY_HASH)


def legacy_scrypt_hash(password: str) -> str:
    """A hash as releases before Argon2id made them (for tests of the upgrade path)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, **_LEGACY_SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def _legacy_scrypt_matches(password: str, stored: str) -> bool:
    try:
        _, salt_b64, digest_b64 = stored.split("$", 2)
        salt, expected = base64.b64decode(salt_b64, validate=True), base64.b64decode(digest_b64, validate=True)
    except ValueError:
        return False
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, **_LEGACY_SCRYPT)
    return hmac.compare_digest(digest, expected)
