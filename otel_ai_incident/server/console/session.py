"""Console sessions: a signed cookie naming who logged in, and the CSRF token every form must carry.

The cookie holds the role, the name typed at login (the audit trail's "who"), an expiry and a fingerprint of
the role's secret, signed with HMAC-SHA256, so no session table is needed and receivers sharing a configured
secret accept each other's sessions; a rotated secret ends every session opened with the old one. The CSRF
token is derived from the session id (a synchronizer token tied to the session): a page of another site cannot
read it, so a form it forges is refused. Before login, the form's token is tied to a short-lived nonce cookie
instead, so a login cannot be forged either (login CSRF would put a victim in the attacker's session).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from otel_ai_incident.containment.tokens import Role

SESSION_COOKIE = "aii_console_session"
LOGIN_COOKIE = "aii_console_login"
#: One on-call shift; then the operator types the token again.
SESSION_TTL_S = 12 * 3600.0
LOGIN_TTL_S = 3600.0
MIN_SECRET_BYTES = 32


@dataclass(frozen=True)
class Session:
    id: str
    role: Role
    name: str
    expires_at: float
    csrf: str

    @property
    def can_act(self) -> bool:
        return self.role is Role.OPERATOR


def read_secret(path: str | Path) -> bytes:
    """A configured signing secret (surrounding whitespace dropped); OSError, or ValueError when too short."""
    secret = Path(path).read_bytes().strip()
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the console secret in {path} has {len(secret)} bytes; at least {MIN_SECRET_BYTES} needed")
    return secret


class Sessions:
    """Issues and checks session cookies and CSRF tokens under one signing secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"the console secret needs at least {MIN_SECRET_BYTES} bytes")
        self._secret = secret
        self._revoked: dict[str, float] = {}  # session id -> its expiry, so the set prunes itself
        self._lock = threading.Lock()

    @classmethod
    def signed_with(cls, secret: bytes | None) -> Sessions:
        """Signed with `secret`, or with one drawn now (sessions then end with the process)."""
        return cls(secrets.token_bytes(MIN_SECRET_BYTES) if secret is None else secret)

    def _mac(self, purpose: str, value: str) -> str:
        digest = hmac.new(self._secret, f"{purpose}|{value}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def fingerprint(self, role_secret: str) -> str:
        """Stands for the role's secret in the cookie, without revealing it."""
        return self._mac("role-secret", role_secret)[:22]

    def issue(self, role: Role, name: str, role_secret: str, now: float | None = None) -> tuple[str, Session]:
        """A new session: the cookie value and what it says."""
        session_id = secrets.token_urlsafe(18)
        expires_at = (time.time() if now is None else now) + SESSION_TTL_S
        payload = {"i": session_id, "r": role.value, "n": name, "e": expires_at, "k": self.fingerprint(role_secret)}
        body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
        return f"{body}.{self._mac('session', body)}", self._session(session_id, role, name, expires_at)

    def _session(self, session_id: str, role: Role, name: str, expires_at: float) -> Session:
        return Session(session_id, role, name, expires_at, self._mac("csrf", session_id))

    def read(self, cookie: str | None, role_secrets: dict[Role, str], now: float | None = None) -> Session | None:
        """The session a cookie carries, or None: unsigned, tampered, expired, logged out, or opened with a
        secret that is no longer the role's (`role_secrets`: each console role's current secret)."""
        if not cookie or "." not in cookie:
            return None
        body, _, mac = cookie.partition(".")
        if not hmac.compare_digest(mac.encode(), self._mac("session", body).encode()):
            return None
        try:
            payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            role, expires_at = Role(payload["r"]), float(payload["e"])
            session_id, name, key = str(payload["i"]), str(payload["n"]), str(payload["k"])
        except (binascii.Error, ValueError, KeyError, TypeError):
            return None
        now = time.time() if now is None else now
        if expires_at <= now or role not in role_secrets:
            return None
        if not hmac.compare_digest(key.encode(), self.fingerprint(role_secrets[role]).encode()):
            return None
        with self._lock:
            if session_id in self._revoked:
                return None
        return self._session(session_id, role, name, expires_at)

    def revoke(self, session: Session, now: float | None = None) -> None:
        """Log out: this process refuses the cookie from now on (the browser is also told to drop it)."""
        now = time.time() if now is None else now
        with self._lock:
            self._revoked = {i: e for i, e in self._revoked.items() if e > now}
            self._revoked[session.id] = session.expires_at

    @staticmethod
    def csrf_ok(session: Session, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented.encode(), session.csrf.encode())

    def login_nonce(self) -> str:
        return secrets.token_urlsafe(18) + "." + str(int(time.time()))

    def login_csrf(self, nonce: str) -> str:
        return self._mac("login", nonce)

    def login_csrf_ok(self, nonce: str | None, presented: str | None, now: float | None = None) -> bool:
        """Whether the login form came from our page, opened by this browser within LOGIN_TTL_S."""
        if not nonce or presented is None:
            return False
        issued = nonce.rpartition(".")[2]
        now = time.time() if now is None else now
        if not issued.isdigit() or now - int(issued) > LOGIN_TTL_S:
            return False
        return hmac.compare_digest(presented.encode(), self.login_csrf(nonce).encode())
