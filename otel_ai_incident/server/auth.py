"""Who may talk to the receiver: a shared secret sent as a bearer token or as a basic-auth password.

Alertmanager's `http_config` can send either (`authorization.credentials_file` or `basic_auth.password_file`),
so both carry the same secret; the basic-auth user name is not checked. Comparisons are constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from dataclasses import dataclass

LOOPBACK_NAMES = frozenset({"localhost"})


@dataclass(frozen=True)
class Credentials:
    token: str

    def allows(self, authorization: str | None) -> bool:
        """Whether an Authorization header carries the secret."""
        if not authorization:
            return False
        scheme, _, value = authorization.partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer":
            return self._matches(value.strip())
        if scheme == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return False
            return self._matches(decoded.partition(":")[2])
        return False

    def _matches(self, presented: str) -> bool:
        return hmac.compare_digest(presented.encode("utf-8"), self.token.encode("utf-8"))


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
