"""Password hashing with argon2id (argon2-cffi): the only code that sees a password in clear."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from pipeline.common.i18n import _

# argon2-cffi's RFC 9106 "low memory" profile: argon2id, t=3, 64 MiB, 4 lanes.
_HASHER = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4, hash_len=32, salt_len=16)
# Verified when the name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY = _HASHER.hash("fieldrec: no such account")

MIN_LENGTH = 10
MAX_LENGTH = 1024


class WeakPassword(ValueError):
    """The password is too short, too long or has control characters."""


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(_("a password needs at least {min_length} characters").format(min_length=MIN_LENGTH))
    if len(password) > MAX_LENGTH:
        raise WeakPassword(_("a password has at most {max_length} characters").format(max_length=MAX_LENGTH))
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        raise WeakPassword(_("a password must not contain control characters"))


def hash_password(password: str) -> str:
    """The argon2id encoded hash (algorithm, parameters, salt and hash in one string)."""
    check_strength(password)
    return _HASHER.hash(password)


def verify_password(encoded: str | None, password: str) -> bool:
    """True when ``password`` matches ``encoded``; a missing hash costs the same time and fails."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _HASHER.verify(encoded or _DUMMY, password) and encoded is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
