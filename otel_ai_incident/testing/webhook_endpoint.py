"""A webhook endpoint for tests and benchmarks: a tiny HTTP server on a free loopback port recording what
it is sent, which can fail its first N requests or hang past the sender's timeout."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Endpoint:
    def __init__(self, *, fail_first: int = 0, hang_s: float = 0.0) -> None:
        self.fail_first = fail_first
        self.hang_s = hang_s
        self.received: list[dict[str, Any]] = []  # bodies answered 200
        self.requests = 0
        self.in_flight = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with endpoint._lock:
                    endpoint.requests += 1
                    endpoint.in_flight += 1
                    failing = endpoint.requests <= endpoint.fail_first
                try:
                    if endpoint.hang_s:
                        endpoint._stop.wait(endpoint.hang_s)
                        return  # no answer at all: the sender must have given up by now
                    if failing:
                        self.send_error(503)
                        return
                    with endpoint._lock:
                        endpoint.received.append(body)
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                finally:
                    with endpoint._lock:
                        endpoint.in_flight -= 1

            def log_message(self, *args: object) -> None:
                """Silent: tests read `received`, and a request log on stderr would only bury their output."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Endpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[str]:
        """The event of each message received (a JSON payload's `event`, a Slack message's context line)."""
        with self._lock:
            bodies = list(self.received)
        return [b["event"] if "event" in b else b["blocks"][-1]["elements"][0]["text"].split(" · ")[-1] for b in bodies]
