"""What every console route works with: the stores, who may log in, sessions and cookies, and the POST checks.

Every page needs a session (`signed_in`, else the login page); every POST passes `acting`: a session, its CSRF
token in the form (else 403, before anything is read from or written to a store), and, for all but logout, the
operator role.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from otel_ai_incident.containment.state import ContainmentState
from otel_ai_incident.containment.targets import PromptLogTargetFinder
from otel_ai_incident.containment.tokens import Role
from otel_ai_incident.incidents.store import IncidentStore
from otel_ai_incident.promptlog.evidence import SignalEvidence
from otel_ai_incident.promptlog.store import PromptLogStore
from otel_ai_incident.server.auth import RoleCredentials
from otel_ai_incident.server.console.forms import ConsoleError, LoginRequired, read_form
from otel_ai_incident.server.console.session import SESSION_COOKIE, Session, Sessions

PREFIX = "/ui"


@dataclass
class Console:
    """The stores, who may log in, and how sessions are signed."""

    state: ContainmentState
    incidents: IncidentStore
    roles: RoleCredentials | None  # None: the receiver runs without auth (loopback only), everyone operates
    finder: PromptLogTargetFinder | None
    sessions: Sessions
    secure_cookies: bool = False
    clock: Callable[[], float] = time.time

    @property
    def prompt_log(self) -> PromptLogStore | None:
        return self.finder.store if self.finder is not None else None

    @property
    def evidence(self) -> SignalEvidence | None:
        return self.finder.evidence if self.finder is not None else None

    def role_secrets(self) -> dict[Role, str]:
        """Each console role's current secret (a session opened under another one is void)."""
        if self.roles is None:
            return {Role.OPERATOR: ""}
        secrets = {Role.OPERATOR: self.roles.operator.token}
        if self.roles.viewer is not None:
            secrets[Role.VIEWER] = self.roles.viewer.token
        return secrets

    def login_role(self, secret: str) -> Role | None:
        return Role.OPERATOR if self.roles is None else self.roles.console_role(secret)

    def session(self, request: Request) -> Session | None:
        return self.sessions.read(request.cookies.get(SESSION_COOKIE), self.role_secrets(), self.clock())

    def signed_in(self, request: Request) -> Session:
        """The session of a page request; without one, the answer is the login page (`LoginRequired`)."""
        session = self.session(request)
        if session is None:
            raise LoginRequired()
        return session

    async def acting(self, request: Request, *, operator: bool = True) -> tuple[Session, dict[str, str]]:
        """The session and form of a POST, after the checks every POST passes (403 when one fails)."""
        form = await read_form(request)
        session = self.session(request)
        if session is None:
            raise ConsoleError(403, "You are not logged in (or the session ended): log in again.")
        if not self.sessions.csrf_ok(session, form.get("csrf")):
            raise ConsoleError(403, "The form's security token is missing or wrong: reload the page and try again.")
        if operator and not session.can_act:
            raise ConsoleError(403, "Viewers can read the console but not act.")
        return session, form

    def secure(self, request: Request) -> bool:
        return self.secure_cookies or request.url.scheme == "https"

    def set_cookie(self, response: Response, request: Request, name: str, value: str, max_age: float) -> None:
        response.set_cookie(
            name,
            value,
            max_age=int(max_age),
            path=PREFIX,
            secure=self.secure(request),
            httponly=True,
            samesite="strict",
        )


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def incident_url(incident_id: str, done: str | None = None) -> str:
    return f"{PREFIX}/incidents/{quote(incident_id, safe='')}" + (f"?done={done}" if done else "")
