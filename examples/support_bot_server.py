"""The instrumented support bot as a web app, to run as several worker processes (needs the `server` extra).

Each worker calls `instrument()` when it imports this module. With AII_METRICS_DIR set, every worker leaves its
metrics in that directory and the one holding the /metrics port (OTEL_EXPORTER_PROMETHEUS_PORT, default 9464)
serves them all, so Prometheus scrapes one target that counts every worker's turns (docs/fleet-metrics.md):

    AII_METRICS_DIR=/tmp/support-bot-metrics uvicorn support_bot_server:app --app-dir examples --workers 4
    curl -s -XPOST localhost:8000/turns -H 'content-type: application/json' -d '{"kind": "leak"}'
    curl -s localhost:9464/metrics | grep ai_turns_total

`kind` is one of the demo bot's request kinds (chat, lookup, refund, leak, jailbreak, ...): it decides what the
fake model answers. The reply names the worker that answered.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pydantic import BaseModel

import otel_ai_incident as aii
from otel_ai_incident.demo.bot import MESSAGES, Request, SupportBot

handle = aii.instrument(service_name="support-bot")
bot = SupportBot()


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    yield
    # uvicorn ends a worker by raising SIGTERM again once it has stopped, so atexit handlers never run there:
    # flush here, or the worker's last second of metrics and prompt-log entries is lost.
    handle.shutdown()


app = FastAPI(title="support bot", lifespan=lifespan)


class TurnRequest(BaseModel):
    kind: str = "chat"
    user_id: str = "customer@example.com"
    session_id: str = "s-1"
    order_id: int = 4711


class TurnReply(BaseModel):
    text: str
    contained_by: str | None
    worker_pid: int


@app.post("/turns")
def turn(request: TurnRequest) -> TurnReply:
    kind = request.kind if request.kind in MESSAGES else "chat"
    reply = bot.handle(Request(request.user_id, request.session_id, kind, request.order_id))
    return TurnReply(text=reply.text, contained_by=reply.contained_by, worker_pid=os.getpid())
