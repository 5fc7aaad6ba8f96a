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
import threading
import time
from collections import defaultdict, deque

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
}


def allowed(user: UserAccount, action: str) -> bool:
    """Whether the user's role may do ``action``."""
    return user.role == "admin" or user.role in PERMISSIONS[action]


class SessionSigner:
    """Issues and checks session cookies."""

    def __init__(self, key: bytes, max_age_s: int) -> None:
        self._key = hashlib.sha256(b"callqa-session\0" + key).digest()
        self.max_age_s = max_age_s

    def _mac(self, payload: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.new(self._key, payload, "sha256").digest()
                                        ).decode().rstrip("=")

    def issue(self, user: UserAccount, now: float | None = None) -> str:
        """A cookie value for ``user``."""
        exp = int((now or time.time()) + self.max_age_s)
        payload = json.dumps({"u": user.user_id, "t": user.credential_tag, "e": exp},
                             separators=(",", ":")).encode()
        body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        return f"{body}.{self._mac(payload)}"

    def user(self, cookie: str, users: UserDirectory, now: float | None = None) -> UserAccount:
        """The signed-in user of a cookie.

        Raises:
            AuthenticationError: forged, expired, for a disabled user or an old password.
        """
        try:
            body, mac = cookie.split(".", 1)
            payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except ValueError:
            raise AuthenticationError("malformed session") from None
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise AuthenticationError("bad session signature")
        data = json.loads(payload)
        if int(data["e"]) < (now or time.time()):
            raise AuthenticationError("session expired")
        try:
            user = users.get(str(data["u"]))
        except NotFoundError:
            raise AuthenticationError("session of a deleted user") from None
        if user.disabled or user.credential_tag != data["t"]:
            raise AuthenticationError("session no longer valid")
        return user


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
