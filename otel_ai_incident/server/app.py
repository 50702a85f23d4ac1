"""The webhook receiver as a FastAPI app: acknowledge fast and durably, act later, expose the state.

`POST /alertmanager` checks credentials, size, JSON and schema, commits the raw notification to the inbox
and answers 200; the worker acts on it afterwards. Anything refused gets a 4xx with a JSON `detail` and
changes nothing. The app object is built from its stores so tests (and embedders) drive it directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, TypeVar

from fastapi import Depends, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import HTTPException
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import ClientDisconnect

from otel_ai_incident.containment.actions import ActionSettings, Executor
from otel_ai_incident.containment.playbooks import DEFAULT_PLAYBOOKS, ContainmentPlaybook, playbooks_by_incident_type
from otel_ai_incident.containment.remote import etag
from otel_ai_incident.containment.state import ContainmentState
from otel_ai_incident.containment.targets import PromptLogTargetFinder, TargetFinder
from otel_ai_incident.containment.tokens import Role
from otel_ai_incident.incidents import decisions
from otel_ai_incident.incidents.model import IncidentStatus
from otel_ai_incident.incidents.store import IncidentStore
from otel_ai_incident.names import ContainmentActionName as Action
from otel_ai_incident.server.alertmanager import Notification
from otel_ai_incident.server.auth import Credentials, RoleCredentials
from otel_ai_incident.server.console import ConsoleSettings, mount_console
from otel_ai_incident.server.inbox.group_commit import GroupCommit
from otel_ai_incident.server.inbox.store import InboxStore
from otel_ai_incident.server.metrics import ReceiverMetrics
from otel_ai_incident.server.notify.config import NotifyConfig
from otel_ai_incident.server.notify.deliver import Notifier
from otel_ai_incident.server.processor import NotificationProcessor
from otel_ai_incident.server.prune import DEFAULT_PRUNING, PruneSchedule
from otel_ai_incident.server.worker import DEFAULT_LEASE_S, Worker

#: How long the oldest accepted notification may wait before /healthz says the receiver is failing.
DEFAULT_STALE_AFTER_S = 60.0

MAX_BODY_BYTES = 1024 * 1024
#: Deeper JSON is refused with a 400: Alertmanager's payload is 4 levels deep, and deep nesting only costs.
MAX_JSON_DEPTH = 32
_Model = TypeVar("_Model", bound=BaseModel)


class LiftRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Action
    target: str | None = None
    reason: str = Field(min_length=1)
    by: str = Field(min_length=1)


class _Refused(Exception):
    """A request refused with a status and a reason (also the `reason` label of the rejection counter)."""

    def __init__(self, status: int, reason: str, detail: Any) -> None:
        self.status, self.reason, self.detail = status, reason, detail


def _too_deep_refusal() -> _Refused:
    return _Refused(400, "too_deep", f"JSON nested deeper than {MAX_JSON_DEPTH} levels")


async def _read_model(request: Request, model: type[_Model]) -> tuple[_Model, str]:
    """The body parsed into `model`, and its text; refuses oversize, non-JSON and invalid bodies."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _Refused(413, "too_large", f"body over {MAX_BODY_BYTES} bytes")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise _Refused(413, "too_large", f"body over {MAX_BODY_BYTES} bytes")
            chunks.append(chunk)
    except ClientDisconnect:  # the client left, or sent its body too slowly (server.connections)
        raise _Refused(400, "disconnected", "the body was not received") from None
    try:
        text = b"".join(chunks).decode("utf-8")
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError) as error:
        raise _Refused(400, "malformed_json", f"body is not JSON: {error}") from None
    except RecursionError:  # the decoder's own guard, for nesting far beyond the limit
        raise _too_deep_refusal() from None
    if _too_deep(data, MAX_JSON_DEPTH):
        raise _too_deep_refusal()
    try:
        return model.model_validate(data), text
    except ValidationError as error:
        details = error.errors(include_url=False, include_input=False, include_context=False)
        raise _Refused(422, "invalid", details) from None


def _too_deep(data: Any, limit: int) -> bool:
    """Whether `data` nests containers more than `limit` levels (iteratively: no recursion to exhaust)."""
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, (dict, list)):
            if depth > limit:
                return True
            children = value.values() if isinstance(value, dict) else value
            pending.extend((child, depth + 1) for child in children)
    return False


def create_app(
    *,
    state: ContainmentState,
    incidents: IncidentStore,
    inbox: InboxStore,
    credentials: RoleCredentials | Credentials | None,
    playbooks: Sequence[ContainmentPlaybook] = DEFAULT_PLAYBOOKS,
    finder: TargetFinder | None = None,
    settings: ActionSettings | None = None,
    act_delay_s: float = 0.0,
    lease_s: float = DEFAULT_LEASE_S,
    stale_after_s: float = DEFAULT_STALE_AFTER_S,
    console: ConsoleSettings | None = None,
    notify: NotifyConfig | None = None,
    pruning: PruneSchedule = DEFAULT_PRUNING,
) -> FastAPI:
    """The receiver. `credentials=None` disables auth (the CLI allows it only on loopback); one `Credentials`
    serves every role. Alertmanager posts with the `alerts` secret; `GET /v1/containment` takes the `reader`
    or `operator` one; lifting and the incidents API take the `operator` one, so an app holding the reader
    secret can neither lift its own containment nor post alerts.

    Several receivers may share one inbox and one set of stores (PostgreSQL): each acts on what it claims.
    `/healthz` answers 503 when the worker is not running, the oldest unfinished notification has waited
    longer than `stale_after_s` (the stores are failing, or no receiver is working), the inbox cannot be
    written or read, or this receiver's last attempt to act on a notification failed.

    The incident console is served at /ui (`server.console`): operators and viewers log in there with their
    token; its pages read the prompt log through `finder` when that is a `PromptLogTargetFinder`.

    Beside the worker, a `Notifier` pushes the incident store's outbox to the targets of `notify` (none:
    the updates are marked done unsent, so give every receiver sharing a store the same notify file).

    The worker and the notifier delete the inbox's and the outbox's finished work once it is older than
    `pruning.keep_s`, at start and then every `pruning.every_s` (`server.prune`).
    """
    metrics = ReceiverMetrics(state, inbox, incidents)
    processor = NotificationProcessor(
        executor=Executor(state, finder, settings),
        incidents=incidents,
        inbox=inbox,
        playbooks=playbooks_by_incident_type(tuple(playbooks)),
        metrics=metrics,
    )
    worker = Worker(inbox, processor, metrics, act_delay_s, lease_s=lease_s, pruning=pruning)
    notifier = Notifier(incidents, notify or NotifyConfig(), metrics, owner=worker.owner, pruning=pruning)
    group_commit = GroupCommit(inbox)
    tasks: list[asyncio.Task[None]] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks.extend((asyncio.create_task(worker.run()), asyncio.create_task(notifier.run())))
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        group_commit.close()

    app = FastAPI(title="otel-ai-incident receiver", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.worker = worker
    app.state.notifier = notifier
    app.state.metrics = metrics

    @app.exception_handler(_Refused)
    async def refused(request: Request, error: _Refused) -> JSONResponse:
        metrics.rejected.labels(error.reason).inc()
        return JSONResponse({"detail": error.detail}, status_code=error.status)

    roles = RoleCredentials.single(credentials.token) if isinstance(credentials, Credentials) else credentials

    def allowed(*allowed_roles: Role) -> list[Any]:
        """A dependency refusing requests without the secret of one of `allowed_roles` (401)."""

        def authorized(request: Request) -> None:
            if roles is not None and not roles.allows(request.headers.get("authorization"), allowed_roles):
                metrics.rejected.labels("unauthorized").inc()
                raise HTTPException(
                    401,
                    f"missing or wrong credentials (needs the {' or '.join(r.value for r in allowed_roles)} token)",
                    headers={"WWW-Authenticate": 'Bearer realm="otel-ai-incident"'},
                )

        return [Depends(authorized)]

    @app.post("/alertmanager", dependencies=allowed(Role.ALERTS))
    async def alertmanager(request: Request) -> dict[str, Any]:
        started = time.perf_counter()
        notification, body = await _read_model(request, Notification)
        try:
            notification_id = await asyncio.wrap_future(group_commit.submit(body, time.time()))
        except Exception as error:  # not stored: a 5xx makes Alertmanager retry
            metrics.rejected.labels("store_failed").inc()
            return JSONResponse({"detail": f"notification not stored: {error}"}, status_code=503)
        worker.wake()
        metrics.notifications.labels(notification.status).inc()
        metrics.ack_seconds.observe(time.perf_counter() - started)
        return {"status": "accepted", "id": notification_id}

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        problems = []
        if not tasks or tasks[0].done():
            problems.append("worker not running")
        if group_commit.failing:
            problems.append("the inbox cannot be written: notifications are refused with 503")
        if worker.failing is not None:
            problems.append(worker.failing)
        if len(tasks) < 2 or tasks[1].done():
            problems.append("notifier not running")
        try:
            pending = inbox.count(pending=True)
            oldest = inbox.oldest_pending()
        except Exception as error:
            return JSONResponse({"status": "failing", "problems": [f"inbox unreadable: {error}"]}, status_code=503)
        waited = 0.0 if oldest is None else max(0.0, time.time() - oldest)
        if waited > stale_after_s:
            problems.append(f"oldest pending notification waited {waited:.0f}s")
        body = {
            "status": "failing" if problems else "ok",
            "pending_notifications": pending,
            "oldest_pending_age_s": round(waited, 3),
            "problems": problems,
            "worker": worker.owner,
        }
        return JSONResponse(body, status_code=503 if problems else 200)

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/containment", dependencies=allowed(Role.READER, Role.OPERATOR))
    def containment(request: Request) -> Response:
        identity = state.identity()
        if request.headers.get("if-none-match") == etag(state.revision(), identity):
            return Response(status_code=304)
        view = state.read()
        return JSONResponse(view.to_json(), headers={"ETag": etag(view.revision, identity)})

    @app.post("/v1/containment/lift", dependencies=allowed(Role.OPERATOR))
    async def lift(request: Request) -> dict[str, Any]:
        body, _ = await _read_model(request, LiftRequest)
        lifted = await run_in_threadpool(
            lambda: decisions.lift(
                state, incidents, body.action, body.target, actor=body.by, reason=body.reason, at=time.time()
            )
        )
        if not lifted:
            raise HTTPException(404, f"{body.action.value} on {body.target or 'the whole app'} is not in force")
        return {"lifted": True, "revision": state.revision()}

    @app.get("/v1/incidents", dependencies=allowed(Role.OPERATOR))
    def list_incidents(status: IncidentStatus | None = None, limit: int = 100) -> Mapping[str, Any]:
        if not 1 <= limit <= 1000:
            raise HTTPException(422, "limit must be between 1 and 1000")
        return {"incidents": [i.to_json() for i in incidents.list(status=status, limit=limit)]}

    @app.get("/v1/incidents/{incident_id}", dependencies=allowed(Role.OPERATOR))
    def get_incident(incident_id: str) -> Mapping[str, Any]:
        incident = incidents.get(incident_id)
        if incident is None:
            raise HTTPException(404, f"no incident {incident_id}")
        return incident.to_json()

    mount_console(
        app,
        state=state,
        incidents=incidents,
        roles=roles,
        finder=finder if isinstance(finder, PromptLogTargetFinder) else None,
        settings=console or ConsoleSettings(),
    )
    return app
