"""The incident console: the receiver's incidents in a browser, at /ui, served by the receiver itself.

Server-rendered pages (Jinja templates, one small stylesheet and script, all from this package: no CDN) for
the on-call person: the incident list, an incident's timeline, blast radius, guardrail assessment, containment
to approve or lift, the root cause form, replays and the post-mortem draft. Operators log in with the operator
token and act; viewers log in with the viewer token and only read. `mount_console` adds it to the receiver app.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from otel_ai_incident.containment.state import ContainmentState
from otel_ai_incident.containment.targets import PromptLogTargetFinder
from otel_ai_incident.incidents.store import IncidentStore
from otel_ai_incident.server.auth import RoleCredentials
from otel_ai_incident.server.console.actions import action_routes
from otel_ai_incident.server.console.context import PREFIX, Console
from otel_ai_incident.server.console.forms import ConsoleError, LoginRequired
from otel_ai_incident.server.console.pages import Pages
from otel_ai_incident.server.console.routes import page_routes
from otel_ai_incident.server.console.session import Sessions

STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True)
class ConsoleSettings:
    """`secret` signs sessions (None: one drawn per process, see `session.read_secret`); `secure_cookies`
    marks cookies Secure even when the request arrived over plain HTTP (a TLS proxy in front)."""

    secret: bytes | None = None
    secure_cookies: bool = False


def mount_console(
    app: FastAPI,
    *,
    state: ContainmentState,
    incidents: IncidentStore,
    roles: RoleCredentials | None,
    finder: PromptLogTargetFinder | None,
    settings: ConsoleSettings,
) -> None:
    pages = Pages()
    console = Console(
        state=state,
        incidents=incidents,
        roles=roles,
        finder=finder,
        sessions=Sessions.signed_with(settings.secret),
        secure_cookies=settings.secure_cookies,
    )

    async def refused(request: Request, error: Exception) -> Response:
        assert isinstance(error, ConsoleError)
        return pages.render(
            "error.html", error.status, session=console.session(request), code=error.status, message=error.message
        )

    async def to_login(request: Request, error: Exception) -> Response:
        return RedirectResponse(f"{PREFIX}/login", status_code=303)

    app.add_exception_handler(ConsoleError, refused)
    app.add_exception_handler(LoginRequired, to_login)
    app.include_router(page_routes(console, pages))
    app.include_router(action_routes(console, pages))
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="console-static")
