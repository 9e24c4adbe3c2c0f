"""Signing a local user in with a password: one check shared by every front door (the app today,
any API sign-in later), with the transparent upgrade of older password hashes.

Example:
    >>> import tempfile
    >>> from lupus_store.metadata import MetadataDB, User
    >>> from lupus_store.metadata.secrets import legacy_scrypt_hash
    >>> db = MetadataDB(f"sqlite:///{tempfile.mkdtemp()}/meta.db"); db.upgrade()
    >>> with db.session() as s:
    ...     s.add(User(username="alice", password_hash=legacy_scrypt_hash("correct horse")))
    >>> sign_in(db, "alice", "correct horse") is not None
    True
    >>> with db.session() as s:  # the scrypt hash was replaced by an Argon2id one
    ...     s.scalar(select(User.password_hash)).startswith("$argon2id$")
    True
"""

from __future__ import annotations

from sqlalchemy import select, update

from lupus_store.metadata.database import MetadataDB
from lupus_store.metadata.models import User
from lupus_store.metadata.secrets import check_password, waste_a_check


def sign_in(db: MetadataDB, username: str, password: str) -> int | None:
    """The id of the active local user whose password matches, else None.

    Unknown, inactive and password-less users get the same answer after the same work (one
    password check), so the answer and its timing do not tell which names exist. A password
    stored under an older hash or weaker parameters is re-hashed and stored on success.
    """
    with db.session() as session:
        row = session.execute(
            select(User.id, User.password_hash, User.is_active).where(User.username == username)
        ).first()
    if row is None or not row.is_active or not row.password_hash:
        waste_a_check(password)
        return None
    check = check_password(password, row.password_hash)
    if not check.ok:
        return None
    if check.new_hash is not None:
        with db.session() as session:
            # Only if nobody changed the password meanwhile (a reset must not be undone by an old sign-in).
            session.execute(update(User).where(User.id == row.id, User.password_hash == row.password_hash)
                            .values(password_hash=check.new_hash))  # fmt: skip
    return row.id
