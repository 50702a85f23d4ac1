"""The console's pages and actions under /ui: login, the incident list, an incident, and what operators do.

Every page needs a session (else it redirects to the login); every POST needs the session's CSRF token (else
403, changing nothing), and all but logout need the operator role. Actions go through the same store calls as
the CLI (`containment approve|lift`, `incidents rca|close`) and are recorded with the name typed at login.
Reading a held turn's text is the one place message text appears; it is put on the incident's timeline (who,
which turn) before the text is sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from otel_ai_incident.containment.state import ContainmentState
from otel_ai_incident.containment.targets import PromptLogTargetFinder
from otel_ai_incident.containment.tokens import Role
from otel_ai_incident.incidents import rca
from otel_ai_incident.incidents.model import EventKind, IncidentStatus, RootCauseCategory
from otel_ai_incident.incidents.store import IncidentStore
from otel_ai_incident.names import ContainmentActionName as Action
from otel_ai_incident.promptlog.store import LogQuery
from otel_ai_incident.server.auth import RoleCredentials
from otel_ai_incident.server.console import views
from otel_ai_incident.server.console.forms import ConsoleError, LoginRequired, lines, read_form
from otel_ai_incident.server.console.pages import Pages
from otel_ai_incident.server.console.session import (
    LOGIN_COOKIE,
    LOGIN_TTL_S,
    SESSION_COOKIE,
    SESSION_TTL_S,
    Session,
    Sessions,
)

PREFIX = "/ui"
MAX_NAME = 80
# What a redirect after an action says; keyed so no request text is ever echoed into the page.
DONE = {
    "approved": "Approved: the action is in force.",
    "lifted": "Lifted: the action is no longer in force.",
    "rca": "Root cause recorded.",
    "resolved": "Marked resolved.",
    "closed": "Closed. The incident's hold on the prompt log is released.",
}


@dataclass
class Console:
    """What the routes work with: the stores, who may log in, and how sessions are signed."""

    state: ContainmentState
    incidents: IncidentStore
    roles: RoleCredentials | None  # None: the receiver runs without auth (loopback only), everyone operates
    finder: PromptLogTargetFinder | None
    sessions: Sessions
    secure_cookies: bool = False
    clock: Callable[[], float] = time.time

    def role_secrets(self) -> dict[Role, str]:
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


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _incident_url(incident_id: str, done: str | None = None) -> str:
    return f"{PREFIX}/incidents/{quote(incident_id, safe='')}" + (f"?done={done}" if done else "")


def console_router(console: Console, pages: Pages) -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    def signed_in(request: Request) -> Session:
        session = console.session(request)
        if session is None:
            raise LoginRequired()
        return session

    async def acting(request: Request, *, operator: bool = True) -> tuple[Session, dict[str, str]]:
        """The session and form of a POST, after the checks every POST passes (403 when one fails)."""
        form = await read_form(request)
        session = console.session(request)
        if session is None:
            raise ConsoleError(403, "You are not logged in (or the session ended): log in again.")
        if not console.sessions.csrf_ok(session, form.get("csrf")):
            raise ConsoleError(403, "The form's security token is missing or wrong: reload the page and try again.")
        if operator and not session.can_act:
            raise ConsoleError(403, "Viewers can read the console but not act.")
        return session, form

    def page(template: str, session: Session | None, status: int = 200, **context: Any) -> Response:
        return pages.render(template, status, session=session, **context)

    def login_page(request: Request, error: str | None = None, status: int = 200) -> Response:
        nonce = console.sessions.login_nonce()
        response = page("login.html", None, status, csrf=console.sessions.login_csrf(nonce), error=error)
        console.set_cookie(response, request, LOGIN_COOKIE, nonce, LOGIN_TTL_S)
        return response

    @router.get("")
    @router.get("/")
    def home() -> Response:
        return _see_other(f"{PREFIX}/incidents")

    @router.get("/login")
    def login_form(request: Request) -> Response:
        if console.session(request) is not None:
            return _see_other(f"{PREFIX}/incidents")
        return login_page(request)

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await read_form(request)
        if not console.sessions.login_csrf_ok(request.cookies.get(LOGIN_COOKIE), form.get("csrf"), console.clock()):
            raise ConsoleError(403, "The login form expired or did not come from this console: open it again.")
        name = " ".join(form.get("name", "").split())
        if not name or len(name) > MAX_NAME or not name.isprintable():
            return login_page(request, f"Give your name (up to {MAX_NAME} characters) for the audit trail.", 422)
        role = console.login_role(form.get("token", "").strip())
        if role is None:
            return login_page(request, "That token does not open the console.", 401)
        cookie, _ = console.sessions.issue(role, name, console.role_secrets()[role], console.clock())
        response = _see_other(f"{PREFIX}/incidents")
        console.set_cookie(response, request, SESSION_COOKIE, cookie, SESSION_TTL_S)
        response.delete_cookie(LOGIN_COOKIE, path=PREFIX)
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        session, _ = await acting(request, operator=False)
        console.sessions.revoke(session, console.clock())
        response = _see_other(f"{PREFIX}/login")
        response.delete_cookie(SESSION_COOKIE, path=PREFIX, secure=console.secure(request), httponly=True)
        return response

    @router.get("/incidents")
    def incident_list(request: Request, status: str = "") -> Response:
        session = signed_in(request)
        try:
            wanted = IncidentStatus(status) if status else None
        except ValueError:
            raise ConsoleError(422, "Unknown status.") from None
        now = console.clock()
        rows = views.incident_rows(console.incidents, console.state, wanted, now)
        return page("incidents.html", session, rows=rows, now=now, chosen=wanted, statuses=list(IncidentStatus))

    def incident_page(incident_id: str) -> views.IncidentPage:
        finder = console.finder
        found = views.incident_page(
            console.incidents,
            console.state,
            finder.store if finder is not None else None,
            finder.evidence if finder is not None else None,
            incident_id,
            console.clock(),
        )
        if found is None:
            raise ConsoleError(404, "No such incident.")
        return found

    @router.get("/incidents/{incident_id}")
    def incident(incident_id: str, request: Request, done: str = "") -> Response:
        session = signed_in(request)
        found = incident_page(incident_id)
        return page(
            "incident.html",
            session,
            page=found,
            now=console.clock(),
            done=DONE.get(done),
            categories=list(RootCauseCategory),
            decisions=views.DECISIONS,
            guardrails=views.guardrail_rows(found.findings) if found.findings is not None else (),
            prompt_log=console.finder is not None,
        )

    @router.get("/incidents/{incident_id}/postmortem.md")
    def postmortem_markdown(incident_id: str, request: Request) -> Response:
        signed_in(request)
        found = incident_page(incident_id)
        filename = f"postmortem-{''.join(c for c in found.incident.id if c.isalnum() or c in '-_')}.md"
        return Response(
            found.postmortem,
            media_type="text/markdown; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
        )

    def live_incident(incident_id: str) -> None:
        if console.incidents.get(incident_id) is None:
            raise ConsoleError(404, "No such incident.")

    @router.post("/incidents/{incident_id}/approve")
    async def approve(incident_id: str, request: Request) -> Response:
        session, form = await acting(request)

        def run() -> None:
            live_incident(incident_id)
            pending = {str(p.id): p for p in console.state.pending() if p.incident_id == incident_id}
            chosen = pending.get(form.get("pending_id", ""))
            if chosen is None:
                raise ConsoleError(409, "That action is not waiting for approval (already approved?).")
            try:
                entry = console.state.approve(chosen.id, actor=_actor(session))
            except KeyError:
                raise ConsoleError(409, "That action was approved by someone else meanwhile.") from None
            console.incidents.add_event(
                incident_id,
                EventKind.CONTAINMENT_APPLIED,
                entry.applied_at,
                {"action": entry.action.value, "target": entry.target, "approved_by": session.name},
                key=f"approved|{chosen.id}",
            )
            console.incidents.transition(incident_id, IncidentStatus.CONTAINED, console.clock(), _actor(session))

        await run_in_threadpool(run)
        return _see_other(_incident_url(incident_id, "approved"))

    @router.post("/incidents/{incident_id}/lift")
    async def lift(incident_id: str, request: Request) -> Response:
        session, form = await acting(request)
        reason = form.get("reason", "").strip()
        if not reason:
            raise ConsoleError(422, "Say why the action is lifted: the reason goes to the audit log.")
        try:
            action = Action(form.get("action", ""))
        except ValueError:
            raise ConsoleError(422, "Unknown containment action.") from None
        target = form.get("target") or None

        def run() -> None:
            live_incident(incident_id)
            ours = any(
                e.action is action and e.target == target and e.incident_id == incident_id
                for e in console.state.read(console.clock()).entries
            )
            if not ours or not console.state.lift(action, target, actor=_actor(session), reason=reason):
                raise ConsoleError(409, "That action is not in force for this incident.")
            console.incidents.add_event(
                incident_id,
                EventKind.CONTAINMENT_LIFTED,
                console.clock(),
                {"action": action.value, "target": target, "by": session.name, "reason": reason},
            )

        await run_in_threadpool(run)
        return _see_other(_incident_url(incident_id, "lifted"))

    @router.post("/incidents/{incident_id}/rca")
    async def record_rca(incident_id: str, request: Request) -> Response:
        _, form = await acting(request)
        description = form.get("description", "").strip()
        try:
            category = RootCauseCategory(form.get("category", ""))
        except ValueError:
            raise ConsoleError(422, "Choose a root cause category.") from None
        if not description:
            raise ConsoleError(422, "Describe the root cause.")

        def run() -> None:
            rca.record_rca(
                console.incidents,
                incident_id,
                category=category,
                description=description,
                factors=lines(form.get("factors", "")),
                remediation=lines(form.get("remediation", "")),
                regression_test_added=form.get("regression_test_added") == "yes",
                recurrence_prevention=form.get("recurrence_prevention", "").strip(),
                at=console.clock(),
            )

        await _refusable(run)
        return _see_other(_incident_url(incident_id, "rca"))

    @router.post("/incidents/{incident_id}/status")
    async def change_status(incident_id: str, request: Request) -> Response:
        session, form = await acting(request)
        wanted = form.get("to", "")

        def run() -> None:
            live_incident(incident_id)
            now = console.clock()
            if wanted == IncidentStatus.CLOSED:
                log = console.finder.store if console.finder is not None else None
                rca.close(console.incidents, log, incident_id, by=_actor(session), at=now)
            elif wanted == IncidentStatus.RESOLVED:
                if not console.incidents.transition(incident_id, IncidentStatus.RESOLVED, now, _actor(session)):
                    raise ConsoleError(409, "The incident cannot be resolved from its current status.")
            else:
                raise ConsoleError(422, "Unknown status change.")

        await _refusable(run)
        return _see_other(_incident_url(incident_id, str(wanted)))

    @router.post("/incidents/{incident_id}/turns/{log_id}")
    async def open_turn(incident_id: str, log_id: str, request: Request) -> Response:
        session, _ = await acting(request)

        def run() -> Any:
            live_incident(incident_id)
            log = console.finder.store if console.finder is not None else None
            if log is None:
                raise ConsoleError(404, "The receiver has no prompt log.")
            held = {s.entry.log_id for s in log.query(LogQuery(incident_id=incident_id))}
            stored = log.get(log_id) if log_id in held else None
            if stored is None:
                raise ConsoleError(404, "That turn is not held for this incident.")
            # On the timeline before the text leaves: an opened turn is always accounted for.
            console.incidents.add_event(
                incident_id, EventKind.TURN_OPENED, console.clock(), {"log_id": log_id, "by": session.name}
            )
            return stored

        stored = await run_in_threadpool(run)
        return page("turn.html", session, incident_id=incident_id, stored=stored)

    return router


def _actor(session: Session) -> str:
    return f"{session.name} (console)"


async def _refusable(run: Callable[[], None]) -> None:
    """Run a store step; a refusal of `incidents.rca` (missing, closed, no root cause) becomes a 409 page."""
    try:
        await run_in_threadpool(run)
    except rca.Refused as refused:
        raise ConsoleError(409, str(refused)) from None
