"""Users of the review app: roles, the tenants each may see, salted scrypt password hashes.

Passwords are hashed with the standard library's scrypt (no extra dependency) in a
self-describing format ``scrypt$n$r$p$salt$hash`` so the cost can be raised later without
invalidating stored hashes.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select

from qa_pipeline.errors import (
    AuthenticationError,
    NotFoundError,
    ReviewConflictError,
    ReviewError,
)
from qa_pipeline.store import Store
from qa_pipeline.store.guard import ScopedSession
from qa_pipeline.store.tables import Tenant, User, UserTenant

ROLES = ("admin", "supervisor", "qa_monitor", "trainer", "agent")
"""``admin`` manages users and sees everything in its tenants; ``supervisor`` reads
everything, decides disputes and exports; ``qa_monitor`` reviews items and decides disputes;
``trainer`` curates the case library; ``agent`` sees only their own calls and may dispute."""

_USER_ID = re.compile(r"^[a-z0-9][a-z0-9_.@-]{0,63}$")
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_MIN_PASSWORD_CHARS = 8


@dataclass(frozen=True, slots=True)
class UserAccount:
    """A user as the app sees it (never the password hash)."""

    user_id: str
    display_name: str
    role: str
    tenants: tuple[str, ...]
    agent_id: str = ""
    disabled: bool = False
    # A fingerprint of the password hash: sessions signed before a password change stop
    # working because theirs no longer matches.
    credential_tag: str = ""
    # The interface language they chose ("" : their tenant's default).
    language: str = ""


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R,
                            p=_SCRYPT_P, dklen=32)
    enc = base64.b64encode
    return (f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${enc(salt).decode()}$"
            f"{enc(digest).decode()}")


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a hash made by :func:`hash_password` (constant time)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                             r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def _tag(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


class UserDirectory:
    """Create, change and authenticate users of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, user_id: str, password: str, *, role: str, tenants: tuple[str, ...],
               display_name: str = "", agent_id: str = "") -> UserAccount:
        """Add a user.

        Raises:
            ReviewError: invalid id, role, password, an unknown tenant, an existing user,
                or an ``agent`` user without ``agent_id``.
        """
        if not _USER_ID.match(user_id):
            raise ReviewError(f"invalid user id {user_id!r}: use 1-64 lowercase letters, "
                              "digits, '_', '.', '@' or '-'")
        if role not in ROLES:
            raise ReviewError(f"unknown role {role!r}; valid roles: {', '.join(ROLES)}")
        if role == "agent" and not agent_id:
            raise ReviewError("an agent user needs the agent id their calls carry")
        _check_password(password)
        with self.store.admin_session() as s:
            if s.get(User, user_id) is not None:
                raise ReviewConflictError(f"user {user_id!r} already exists")
            self._check_tenants(s, tenants)
            s.add(User(id=user_id, display_name=display_name or user_id,
                       password_hash=hash_password(password), role=role, agent_id=agent_id,
                       disabled=False))
            s.flush()
            for t in sorted(set(tenants)):
                s.add(UserTenant(user_id=user_id, tenant_id=t))
        return self.get(user_id)

    def set_password(self, user_id: str, password: str) -> None:
        """Replace a user's password (their open sessions end)."""
        _check_password(password)
        with self.store.admin_session() as s:
            row = s.get(User, user_id)
            if row is None:
                raise NotFoundError(f"no user {user_id!r}")
            row.password_hash = hash_password(password)

    def set_disabled(self, user_id: str, disabled: bool) -> None:
        """Lock a user out (or let them back in)."""
        with self.store.admin_session() as s:
            row = s.get(User, user_id)
            if row is None:
                raise NotFoundError(f"no user {user_id!r}")
            row.disabled = disabled

    def set_language(self, user_id: str, language: str, *, valid: tuple[str, ...]) -> None:
        """Store the interface language a user chose ("" : back to the tenant's default),
        so every device they sign in on shows it.

        Raises:
            NotFoundError: no such user.
            ReviewError: a language not in ``valid``.
        """
        if language and language not in valid:
            raise ReviewError(f"unknown language {language!r}; valid: {', '.join(valid)}")
        with self.store.admin_session() as s:
            row = s.get(User, user_id)
            if row is None:
                raise NotFoundError(f"no user {user_id!r}")
            row.language = language

    def set_tenants(self, user_id: str, tenants: tuple[str, ...]) -> None:
        """Replace the tenants a user may see."""
        with self.store.admin_session() as s:
            if s.get(User, user_id) is None:
                raise NotFoundError(f"no user {user_id!r}")
            self._check_tenants(s, tenants)
            s.execute(delete(UserTenant).where(UserTenant.user_id == user_id))
            for t in sorted(set(tenants)):
                s.add(UserTenant(user_id=user_id, tenant_id=t))

    def get(self, user_id: str) -> UserAccount:
        """One user.

        Raises:
            NotFoundError: no such user.
        """
        with self.store.admin_session() as s:
            row = s.get(User, user_id)
            if row is None:
                raise NotFoundError(f"no user {user_id!r}")
            tenants = tuple(s.scalars(select(UserTenant.tenant_id)
                                      .where(UserTenant.user_id == user_id)
                                      .order_by(UserTenant.tenant_id)))
            return UserAccount(row.id, row.display_name, row.role, tenants, row.agent_id,
                               row.disabled, _tag(row.password_hash), row.language or "")

    def list(self) -> list[UserAccount]:
        """Every user, by id."""
        with self.store.admin_session() as s:
            ids = list(s.scalars(select(User.id).order_by(User.id)))
        return [self.get(i) for i in ids]

    def authenticate(self, user_id: str, password: str) -> UserAccount:
        """The user whose password this is.

        Raises:
            AuthenticationError: unknown user, wrong password or disabled user (one message
                for all three, so the reply does not reveal which user ids exist).
        """
        with self.store.admin_session() as s:
            row = s.get(User, user_id)
            stored = row.password_hash if row is not None else _dummy_hash()
            ok = verify_password(password, stored)  # hash even for unknown users: same time
            if row is None or not ok or row.disabled:
                raise AuthenticationError("wrong user name or password")
        return self.get(user_id)

    @staticmethod
    def _check_tenants(s: ScopedSession, tenants: tuple[str, ...]) -> None:
        if not tenants:
            raise ReviewError("a user needs at least one tenant")
        known = set(s.scalars(select(Tenant.id)))
        unknown = sorted(set(tenants) - known)
        if unknown:
            raise ReviewError(f"unknown tenant(s) {', '.join(unknown)}; known: "
                              f"{', '.join(sorted(known)) or '(none)'}")


def _check_password(password: str) -> None:
    if len(password) < _MIN_PASSWORD_CHARS:
        raise ReviewError(f"passwords need at least {_MIN_PASSWORD_CHARS} characters")


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_hex(8))
