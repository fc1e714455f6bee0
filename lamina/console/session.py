"""Console logins: an access key id and its secret, posted once, become a session cookie.

No secret ever travels in a URL; the cookie is random, HttpOnly, SameSite=Strict, scoped to
``/console`` and lives in memory only (a restart logs everyone out). With no access keys
configured (dev mode) the console is open, like the rest of the API.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable, Mapping

COOKIE = "lamina_console"
TTL_S = 12 * 3600
MAX_SESSIONS = 1000


class Sessions:
    """Issued session tokens → (access key id, expiry)."""

    def __init__(self, keys: Mapping[str, str], clock: Callable[[], float] = time.time) -> None:
        self._keys = keys
        self._clock = clock
        self._live: dict[str, tuple[str, float]] = {}

    @property
    def required(self) -> bool:
        return bool(self._keys)

    def login(self, key_id: str, secret: str) -> str | None:
        """A new session token for valid credentials, else None."""
        expected = self._keys.get(key_id)
        if expected is None or not hmac.compare_digest(expected.encode(), secret.encode()):
            return None
        now = self._clock()
        self._live = {t: v for t, v in self._live.items() if v[1] > now}
        if len(self._live) >= MAX_SESSIONS:  # bounded: the oldest session goes
            del self._live[min(self._live, key=lambda t: self._live[t][1])]
        token = secrets.token_urlsafe(32)
        self._live[token] = (key_id, now + TTL_S)
        return token

    def check(self, cookie_header: str) -> bool:
        """True when the request may see the console."""
        if not self.required:
            return True
        token = cookie_value(cookie_header, COOKIE)
        if token is None:
            return False
        entry = self._live.get(token)
        if entry is None or entry[1] <= self._clock():
            self._live.pop(token, None)
            return False
        return True

    def credentials(self, cookie_header: str) -> tuple[str, str] | None:
        """The logged-in access key and its secret (what the console's jobs sign with);
        None in dev mode or without a live session."""
        token = cookie_value(cookie_header, COOKIE)
        entry = self._live.get(token) if token is not None else None
        if entry is None or entry[0] not in self._keys:
            return None
        return entry[0], self._keys[entry[0]]

    def logout(self, cookie_header: str) -> None:
        token = cookie_value(cookie_header, COOKIE)
        if token is not None:
            self._live.pop(token, None)


def cookie_value(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value
    return None


def set_cookie(token: str) -> str:
    return f"{COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={TTL_S}"


def clear_cookie() -> str:
    return f"{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0"
