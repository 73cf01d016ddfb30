"""Sessions, sign-in throttling and CSRF tokens of the review service (in memory, per process).

A session is a random 256-bit token in an HttpOnly, SameSite=Strict cookie; the server keeps only
its SHA-256, so a leaked memory dump or log line cannot be replayed. Sessions end after
``session_idle_minutes`` without a request and after ``session_max_hours`` in any case; a restart
of the service signs everyone out. Every form carries the session's CSRF token (the sign-in form a
token bound to a pre-session cookie), compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

SESSION_COOKIE = "fieldrec_session"
LOGIN_COOKIE = "fieldrec_login"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


@dataclass
class Session:
    user_id: str
    csrf: str
    created: datetime
    last_seen: datetime
    flash: list[str] = field(default_factory=list)     # messages for the next page shown


class Sessions:
    def __init__(self, idle: timedelta, longest: timedelta):
        self.idle, self.longest = idle, longest
        self._by_digest: dict[str, Session] = {}
        self._lock = threading.Lock()

    def start(self, user_id: str, now: datetime) -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        session = Session(user_id, secrets.token_urlsafe(32), now, now)
        with self._lock:
            self._by_digest[_digest(token)] = session
        return token, session

    def get(self, token: str | None, now: datetime) -> tuple[Session | None, bool]:
        """The live session for ``token`` (its idle clock restarted), and whether one just expired."""
        if not token or len(token) > 100:
            return None, False
        key = _digest(token)
        with self._lock:
            session = self._by_digest.get(key)
            if session is None:
                return None, False
            if now - session.last_seen > self.idle or now - session.created > self.longest:
                del self._by_digest[key]
                return None, True
            session.last_seen = now
            return session, False

    def end(self, token: str | None) -> None:
        if token:
            with self._lock:
                self._by_digest.pop(_digest(token), None)

    def end_user(self, user_id: str) -> None:
        with self._lock:
            for key in [k for k, s in self._by_digest.items() if s.user_id == user_id]:
                del self._by_digest[key]


class Throttle:
    """At most ``limit`` failures per key (a name, an address) within ``window``; then refused."""

    def __init__(self, limit: int, window: timedelta):
        self.limit, self.window = limit, window
        self._failures: dict[str, deque] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: datetime) -> deque:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def blocked(self, keys: list[str], now: datetime) -> bool:
        with self._lock:
            return any(len(self._recent(k, now)) >= self.limit for k in keys)

    def fail(self, keys: list[str], now: datetime) -> None:
        with self._lock:
            for k in keys:
                self._recent(k, now).append(now)
            if len(self._failures) > 100_000:           # bounded memory under a spray of names
                for k in [k for k, v in self._failures.items() if not v][:50_000]:
                    del self._failures[k]

    def clear(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
