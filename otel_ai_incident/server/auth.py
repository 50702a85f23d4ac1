"""Who may talk to the receiver: a secret per role, sent as a bearer token or as a basic-auth password.

Alertmanager's `http_config` can send either (`authorization.credentials_file` or `basic_auth.password_file`),
so both carry the secret; the basic-auth user name is not checked. Comparisons are constant-time. Which role
each endpoint needs is decided in `app`; the roles themselves are described in `containment.tokens`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from dataclasses import dataclass

from otel_ai_incident.containment.tokens import Role

LOOPBACK_NAMES = frozenset({"localhost"})


@dataclass(frozen=True)
class Credentials:
    token: str

    def allows(self, authorization: str | None) -> bool:
        """Whether an Authorization header carries the secret."""
        presented = presented_secret(authorization)
        return presented is not None and hmac.compare_digest(presented.encode("utf-8"), self.token.encode("utf-8"))


@dataclass(frozen=True)
class RoleCredentials:
    """One secret per role. `single(token)` gives every role the same secret: the set-up before roles.

    `viewer` (the console's read-only people) is None when nobody may log in as one: it never borrows another
    role's secret, or whoever holds that one could read every incident.
    """

    alerts: Credentials
    reader: Credentials
    operator: Credentials
    viewer: Credentials | None = None

    @classmethod
    def single(cls, token: str) -> RoleCredentials:
        shared = Credentials(token)
        return cls(alerts=shared, reader=shared, operator=shared)

    def allows(self, authorization: str | None, roles: tuple[Role, ...]) -> bool:
        """Whether an Authorization header carries the secret of one of `roles` (each one is compared)."""
        by_role = {Role.ALERTS: self.alerts, Role.READER: self.reader, Role.OPERATOR: self.operator}
        by_role |= {Role.VIEWER: self.viewer} if self.viewer is not None else {}
        return any([by_role[role].allows(authorization) for role in roles if role in by_role])  # no early exit

    def console_role(self, secret: str) -> Role | None:
        """Who a secret typed into the console's login form belongs to: operator, viewer, or nobody (None).

        The apps' and Alertmanager's secrets open nothing here, unless the operator shares one of them (a
        single-token set-up), in which case that secret is the operator's.
        """
        header = f"Bearer {secret}"
        if self.allows(header, (Role.OPERATOR,)):
            return Role.OPERATOR
        if self.allows(header, (Role.VIEWER,)):
            return Role.VIEWER
        return None


def presented_secret(authorization: str | None) -> str | None:
    """The secret an Authorization header carries (bearer token or basic-auth password), or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return value.strip()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
