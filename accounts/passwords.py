"""Passwords: Argon2id (argon2-cffi), rehashed on sign-in when the parameters change."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()
MIN_LENGTH = 10
# a hash to verify against when the account does not exist, so that both answers take as long
_DUMMY = _HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored or _DUMMY, password) and bool(stored)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _HASHER.check_needs_rehash(stored)


def problem(password: str) -> str | None:
    """Why a new password is refused (French), or None."""
    if len(password) < MIN_LENGTH:
        return f"Au moins {MIN_LENGTH} caractères."
    if len(password) > 200:
        return "Au plus 200 caractères."
    return None


def one_time_password() -> str:
    """A password to give once (printed by ``flask users create`` / ``make run``); the user changes it."""
    return secrets.token_urlsafe(12)
