"""Sessions and access control of the review app.

A session is a signed cookie (HMAC-SHA256 over user id, expiry and a fingerprint of the
password hash, so a password change ends old sessions). Every tenant route checks the user
may see that tenant and answers 404 when not, exactly as for a tenant that does not exist,
so ids of other tenants' data cannot be probed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import defaultdict, deque
from typing import Any

from qa_pipeline.errors import AuthenticationError, NotFoundError
from qa_pipeline.review.users import UserAccount, UserDirectory

COOKIE = "callqa_session"

# What each role may do (admin may do everything).
PERMISSIONS: dict[str, frozenset[str]] = {
    "view": frozenset({"supervisor", "qa_monitor", "trainer", "agent"}),
    "review": frozenset({"supervisor", "qa_monitor"}),
    "dispute": frozenset({"supervisor", "agent"}),
    "decide": frozenset({"supervisor", "qa_monitor"}),
    "calibration": frozenset({"supervisor", "qa_monitor", "trainer"}),
    "cases": frozenset({"supervisor", "qa_monitor", "trainer"}),
    "tag": frozenset({"supervisor", "trainer"}),
    "dashboard": frozenset({"supervisor", "qa_monitor", "trainer", "agent"}),
    "export": frozenset({"supervisor"}),
    # Set up and close blind calibration sessions (invited monitors score with "review").
    "sessions": frozenset({"supervisor"}),
}


def allowed(user: UserAccount, action: str) -> bool:
    """Whether the user's role may do ``action``."""
    return user.role == "admin" or user.role in PERMISSIONS[action]


class SessionSigner:
    """Issues and checks session cookies.

    Each cookie carries a random session id; :meth:`revoke` (sign-out) ends that session on
    the server at once, so a copied cookie stops working even before it expires. Revoked
    ids are kept in this process until the cookie's own expiry (run the app as one
    process, as ``qa-pipeline serve`` does).
    """

    def __init__(self, key: bytes, max_age_s: int) -> None:
        self._key = hashlib.sha256(b"callqa-session\0" + key).digest()
        self.max_age_s = max_age_s
        self._revoked: dict[str, int] = {}
        self._lock = threading.Lock()

    def _mac(self, payload: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.new(self._key, payload, "sha256").digest()
                                        ).decode().rstrip("=")

    def issue(self, user: UserAccount, now: float | None = None) -> str:
        """A cookie value for ``user``."""
        exp = int((now or time.time()) + self.max_age_s)
        payload = json.dumps({"u": user.user_id, "t": user.credential_tag, "e": exp,
                              "s": secrets.token_urlsafe(12)},
                             separators=(",", ":")).encode()
        body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        return f"{body}.{self._mac(payload)}"

    def user(self, cookie: str, users: UserDirectory, now: float | None = None) -> UserAccount:
        """The signed-in user of a cookie.

        Raises:
            AuthenticationError: forged, expired, for a disabled user or an old password.
        """
        data = self._verified(cookie)
        if int(data["e"]) < (now or time.time()):
            raise AuthenticationError("session expired")
        with self._lock:
            if str(data.get("s", "")) in self._revoked:
                raise AuthenticationError("signed out")
        try:
            user = users.get(str(data["u"]))
        except NotFoundError:
            raise AuthenticationError("session of a deleted user") from None
        if user.disabled or user.credential_tag != data["t"]:
            raise AuthenticationError("session no longer valid")
        return user

    def revoke(self, cookie: str, now: float | None = None) -> None:
        """End the session of ``cookie`` (a forged or malformed cookie is ignored)."""
        try:
            data = self._verified(cookie)
        except AuthenticationError:
            return
        t = now or time.time()
        with self._lock:
            # Forget ids whose cookies have expired anyway: the set stays bounded.
            for sid in [k for k, exp in self._revoked.items() if exp < t]:
                del self._revoked[sid]
            self._revoked[str(data.get("s", ""))] = int(data["e"])

    def _verified(self, cookie: str) -> dict[str, Any]:
        """The payload of a cookie whose signature holds.

        Any malformed value (non-ASCII, bad base64, not JSON, missing fields) is an
        :class:`AuthenticationError`, never a server error.
        """
        try:
            body, mac = cookie.split(".", 1)
            payload = base64.urlsafe_b64decode(body.encode("ascii") + b"=" * (-len(body) % 4))
            ok = hmac.compare_digest(mac.encode("ascii"), self._mac(payload).encode("ascii"))
        except (ValueError, UnicodeError):
            raise AuthenticationError("malformed session") from None
        if not ok:
            raise AuthenticationError("bad session signature")
        try:
            data = json.loads(payload)
            if not isinstance(data, dict):
                raise TypeError("not an object")
            int(data["e"]), str(data["u"]), str(data["t"])
        except (ValueError, TypeError, KeyError):
            raise AuthenticationError("malformed session") from None
        return data


class LoginThrottle:
    """At most ``attempts`` failed logins per user id within ``window_s``; then that id is
    refused until the window has passed (slows password guessing).
    """

    def __init__(self, attempts: int, window_s: float) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def blocked(self, user_id: str, now: float | None = None) -> bool:
        """Whether this id must wait."""
        t = now or time.monotonic()
        with self._lock:
            q = self._failures[user_id]
            while q and t - q[0] > self.window_s:
                q.popleft()
            return len(q) >= self.attempts

    def failed(self, user_id: str, now: float | None = None) -> None:
        """Count a failed attempt."""
        with self._lock:
            self._failures[user_id].append(now or time.monotonic())

    def succeeded(self, user_id: str) -> None:
        """Forget the failures of an id that signed in."""
        with self._lock:
            self._failures.pop(user_id, None)
