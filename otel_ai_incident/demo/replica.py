"""One replica of the demo's app, in a process of its own: the support bot behind a small HTTP API.

The fleet demo runs several, as a Deployment runs replicas. Each instruments itself with `instrument()`
configured from the environment only (`AII_PROMPT_LOG`, `AII_CONTAINMENT`, `AII_PSEUDONYM_KEY_FILE`: the
fleet's shared stores and key), serves its own /metrics, and answers:

    POST /turn    {"user_id", "session_id", "kind", "order_id"} -> {"text", "contained_by", "threshold", "replica"}
    POST /report  {"kind", "severity", "session_id"}            -> {"reported": true}
    GET  /healthz                                               -> {"replica": NAME}

    python -m otel_ai_incident.demo.replica --name app-0 --port 8000 --metrics-port 9464
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import otel_ai_incident as aii
from otel_ai_incident.demo.bot import Request, SupportBot
from otel_ai_incident.demo.stack import APP_JOB


def _handler(name: str, bot: SupportBot) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._answer(200, {"replica": name})
            else:
                self._answer(404, {"detail": "not found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path == "/turn":
                    reply = bot.handle(
                        Request(body["user_id"], body["session_id"], body["kind"], int(body["order_id"]))
                    )
                    answer = {"text": reply.text, "contained_by": reply.contained_by, "threshold": reply.threshold}
                    self._answer(200, {**answer, "replica": name})
                elif self.path == "/report":
                    aii.report_user_feedback(
                        kind=body["kind"], severity=body["severity"], session_id=body["session_id"]
                    )
                    self._answer(200, {"reported": True})
                else:
                    self._answer(404, {"detail": "not found"})
            except (KeyError, ValueError, TypeError) as error:
                self._answer(400, {"detail": f"bad request: {error!r}"})

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the demo prints what matters."""

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="this replica's name, returned with every reply")
    parser.add_argument("--port", type=int, required=True, help="the HTTP API's port on 127.0.0.1")
    parser.add_argument("--metrics-port", type=int, required=True, help="/metrics port on 127.0.0.1")
    args = parser.parse_args(argv)

    handle = aii.instrument(service_name=APP_JOB, prometheus_host="127.0.0.1", prometheus_port=args.metrics_port)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), _handler(args.name, SupportBot()))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    try:
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        handle.shutdown(timeout=2.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
