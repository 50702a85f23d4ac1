"""The console's pages under /ui: login and logout, the incident list, an incident and its post-mortem.

Pages only read (the blast radius assessment aside, which holds the turns it counts, as `incidents show`
does); what changes anything is in `actions`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from otel_ai_incident.incidents.model import IncidentStatus, RootCauseCategory
from otel_ai_incident.server.console import views
from otel_ai_incident.server.console.actions import DONE
from otel_ai_incident.server.console.context import PREFIX, Console, see_other
from otel_ai_incident.server.console.forms import ConsoleError, read_form
from otel_ai_incident.server.console.pages import Pages
from otel_ai_incident.server.console.session import LOGIN_COOKIE, LOGIN_TTL_S, SESSION_COOKIE, SESSION_TTL_S, Session

MAX_NAME = 80


def page_routes(console: Console, pages: Pages) -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

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
        return see_other(f"{PREFIX}/incidents")

    @router.get("/login")
    def login_form(request: Request) -> Response:
        if console.session(request) is not None:
            return see_other(f"{PREFIX}/incidents")
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
        response = see_other(f"{PREFIX}/incidents")
        console.set_cookie(response, request, SESSION_COOKIE, cookie, SESSION_TTL_S)
        response.delete_cookie(LOGIN_COOKIE, path=PREFIX)
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        session, _ = await console.acting(request, operator=False)
        console.sessions.revoke(session, console.clock())
        response = see_other(f"{PREFIX}/login")
        response.delete_cookie(SESSION_COOKIE, path=PREFIX, secure=console.secure(request), httponly=True)
        return response

    @router.get("/incidents")
    def incident_list(request: Request, status: str = "") -> Response:
        session = console.signed_in(request)
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
        session = console.signed_in(request)
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
        )

    @router.get("/incidents/{incident_id}/postmortem.md")
    def postmortem_markdown(incident_id: str, request: Request) -> Response:
        console.signed_in(request)
        found = incident_page(incident_id)
        filename = f"postmortem-{''.join(c for c in found.incident.id if c.isalnum() or c in '-_')}.md"
        return Response(
            found.postmortem,
            media_type="text/markdown; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
        )

    return router
