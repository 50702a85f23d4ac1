"""What operators do from an incident page: approve and lift containment, record the root cause, resolve and
close, and open a held turn.

Each goes through the same store calls as the CLI (`containment approve|lift`, `incidents rca|close`) and is
recorded with the name typed at login (audit log and incident timeline). Opening a turn is the one place
message text appears; who opened which turn is put on the incident's timeline before the text is sent.
Every route first passes `Console.acting` (session, CSRF token, operator role), so a refused POST has read
and changed nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from otel_ai_incident.incidents import decisions, rca
from otel_ai_incident.incidents.model import EventKind, IncidentStatus, RootCauseCategory
from otel_ai_incident.names import ContainmentActionName as Action
from otel_ai_incident.promptlog.store import LogQuery
from otel_ai_incident.server.console.context import PREFIX, Console, incident_url, see_other
from otel_ai_incident.server.console.forms import ConsoleError, lines
from otel_ai_incident.server.console.pages import Pages
from otel_ai_incident.server.console.session import Session

# What the incident page says after an action; keyed, so no request text is ever echoed into the page.
DONE = {
    "approved": "Approved: the action is in force.",
    "lifted": "Lifted: the action is no longer in force.",
    "rca": "Root cause recorded.",
    "resolved": "Marked resolved.",
    "closed": "Closed. The incident's hold on the prompt log is released.",
}


def action_routes(console: Console, pages: Pages) -> APIRouter:
    router = APIRouter(prefix=f"{PREFIX}/incidents/{{incident_id}}", include_in_schema=False)

    def existing(incident_id: str) -> None:
        if console.incidents.get(incident_id) is None:
            raise ConsoleError(404, "No such incident.")

    @router.post("/approve")
    async def approve(incident_id: str, request: Request) -> Response:
        session, form = await console.acting(request)

        def run() -> None:
            existing(incident_id)
            pending = {str(p.id): p for p in console.state.pending() if p.incident_id == incident_id}
            chosen = pending.get(form.get("pending_id", ""))
            if chosen is None:
                raise ConsoleError(409, "That action is not waiting for approval (already approved?).")
            try:
                decisions.approve(
                    console.state, console.incidents, chosen.id, actor=_actor(session), at=console.clock()
                )
            except KeyError:
                raise ConsoleError(409, "That action was approved by someone else meanwhile.") from None

        await run_in_threadpool(run)
        return see_other(incident_url(incident_id, "approved"))

    @router.post("/lift")
    async def lift(incident_id: str, request: Request) -> Response:
        session, form = await console.acting(request)
        reason = form.get("reason", "").strip()
        if not reason:
            raise ConsoleError(422, "Say why the action is lifted: the reason goes to the audit log.")
        try:
            action = Action(form.get("action", ""))
        except ValueError:
            raise ConsoleError(422, "Unknown containment action.") from None
        target = form.get("target") or None

        def run() -> None:
            existing(incident_id)
            lifted = decisions.lift(
                console.state,
                console.incidents,
                action,
                target,
                actor=_actor(session),
                reason=reason,
                at=console.clock(),
                incident_id=incident_id,
            )
            if not lifted:
                raise ConsoleError(409, "That action is not in force for this incident.")

        await run_in_threadpool(run)
        return see_other(incident_url(incident_id, "lifted"))

    @router.post("/rca")
    async def record_rca(incident_id: str, request: Request) -> Response:
        _, form = await console.acting(request)
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
        return see_other(incident_url(incident_id, "rca"))

    @router.post("/status")
    async def change_status(incident_id: str, request: Request) -> Response:
        session, form = await console.acting(request)
        wanted = form.get("to", "")

        def run() -> None:
            existing(incident_id)
            now = console.clock()
            if wanted == IncidentStatus.CLOSED:
                rca.close(
                    console.incidents, console.prompt_log, console.evidence, incident_id, by=_actor(session), at=now
                )
            elif wanted == IncidentStatus.RESOLVED:
                if not console.incidents.transition(incident_id, IncidentStatus.RESOLVED, now, _actor(session)):
                    raise ConsoleError(409, "The incident cannot be resolved from its current status.")
            else:
                raise ConsoleError(422, "Unknown status change.")

        await _refusable(run)
        return see_other(incident_url(incident_id, wanted))

    @router.post("/turns/{log_id}")
    async def open_turn(incident_id: str, log_id: str, request: Request) -> Response:
        session, _ = await console.acting(request)

        def run() -> Any:
            existing(incident_id)
            log = console.prompt_log
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
        return pages.render("turn.html", session=session, incident_id=incident_id, stored=stored)

    return router


def _actor(session: Session) -> str:
    """How the audit log and the timeline name someone acting from the console."""
    return f"{session.name} (console)"


async def _refusable(run: Callable[[], None]) -> None:
    """Run a store step; a refusal of `incidents.rca` (missing, closed, no root cause) becomes a 409 page."""
    try:
        await run_in_threadpool(run)
    except rca.Refused as refused:
        raise ConsoleError(409, str(refused)) from None
