"""The demo's stack as a fleet on 127.0.0.1: PostgreSQL, app replicas, receivers side by side, an Alertmanager
cluster and one Prometheus scraping every replica.

Each part is what a deployment runs: the replicas are separate processes configured only through the
environment (`AII_PROMPT_LOG`, `AII_CONTAINMENT`: one PostgreSQL; `AII_PSEUDONYM_KEY_FILE`: one key for the
fleet), the receivers are `otel-ai-incident serve` processes on the same PostgreSQL, and both Alertmanagers,
gossiping as one cluster, post every notification to every receiver.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import signal
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from otel_ai_incident import names
from otel_ai_incident.demo.bot import Reply, Request
from otel_ai_incident.demo.postgres import PostgresServer
from otel_ai_incident.demo.services import Alertmanager, Prometheus, Receiver, Service, free_port
from otel_ai_incident.demo.stack import APP_JOB, DEMO_TIMING, RECEIVER_JOB, check_binaries, write_demo_playbooks
from otel_ai_incident.generate import alertmanager as alertmanager_config
from otel_ai_incident.generate import artefacts
from otel_ai_incident.signals import DEMO, AlertSeverity

REPLICAS = 3
RECEIVERS = 2
ALERTMANAGERS = 2
# A receiver killed mid-run holds its claims this long before the other takes its work over.
CLAIM_LEASE_S = 3.0


def _call(url: str, body: dict[str, Any] | None = None, token: str | None = None, timeout: float = 5) -> Any:
    """GET `url` (POST `body` as JSON when given); the JSON answer."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=timeout) as answer:
        return json.load(answer)


class Replica(Service):
    """One app replica (`python -m otel_ai_incident.demo.replica`) with its HTTP API and its /metrics."""

    def __init__(self, workdir: Path, name: str) -> None:
        super().__init__(name, workdir)
        self.metrics_port = free_port()

    def start(self, env: dict[str, str], timeout: float = 30) -> Replica:
        argv = [sys.executable, "-m", "otel_ai_incident.demo.replica", "--name", self.name]
        argv += ["--port", str(self.port), "--metrics-port", str(self.metrics_port)]
        self._start(argv, "/healthz", timeout, env=env)
        return self


class RemoteBot:
    """The driver's bot: each request goes to the next replica, as a load balancer spreads them."""

    def __init__(self, replicas: list[Replica]) -> None:
        self._urls = itertools.cycle([r.url for r in replicas])
        self._lock = threading.Lock()

    def handle(self, request: Request) -> Reply:
        with self._lock:
            url = next(self._urls)
        body = {
            "user_id": request.user_id,
            "session_id": request.session_id,
            "kind": request.kind,
            "order_id": request.order_id,
        }
        answer = _call(url + "/turn", body)
        return Reply(answer["text"], answer["contained_by"], answer["threshold"], answer["replica"])


@dataclass
class FleetStack:
    """Start with `start()`, always `stop()` (idempotent; leaves no process or cluster behind)."""

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="aii-fleet-")))
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    postgres: PostgresServer | None = None
    database_url: str = ""
    replicas: list[Replica] = field(default_factory=list)
    receivers: list[Receiver] = field(default_factory=list)
    alertmanagers: list[Alertmanager] = field(default_factory=list)
    prometheus: Prometheus | None = None
    bot: RemoteBot | None = None
    killed: set[int] = field(default_factory=set)

    # Every store of the fleet is in the one PostgreSQL database, each in a schema of its own.
    @property
    def containment_url(self) -> str:
        return self.database_url

    @property
    def incidents_url(self) -> str:
        return self.database_url

    @property
    def prompt_log_url(self) -> str:
        return self.database_url

    def start(self) -> None:
        check_binaries()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.postgres = PostgresServer(durable=True).start()
        self.database_url = self.postgres.create_database("aii_fleet")
        token_file = self._secret("webhook.token", self.token)
        key_file = self._secret("pseudonym.key", secrets.token_hex(32))  # one key for the whole fleet
        signals = artefacts.catalogue(None, DEMO)
        artefacts.write(artefacts.render_all(signals, DEMO), self.workdir)

        for index in range(RECEIVERS):
            receiver = Receiver(self.workdir, f"receiver-{index}")
            self.receivers.append(receiver)
            receiver.start(
                "--token-file",
                str(token_file),
                "--containment",
                self.database_url,
                "--incidents",
                self.database_url,
                "--prompt-log",
                self.database_url,
                "--claim-lease",
                str(CLAIM_LEASE_S),
                "--playbooks",
                str(write_demo_playbooks(self.workdir)),
            )
        env = {
            names.ENV_PROMPT_LOG: self.database_url,
            names.ENV_CONTAINMENT: self.database_url,
            names.ENV_PSEUDONYM_KEY_FILE: str(key_file),
        }
        for index in range(REPLICAS):
            replica = Replica(self.workdir, f"app-{index}")
            self.replicas.append(replica)
            replica.start(env)
        self.bot = RemoteBot(self.replicas)

        config = alertmanager_config.config(
            signals,
            urls=[f"{r.url}/alertmanager" for r in self.receivers],
            credentials_file=str(token_file),
            timings=dict.fromkeys(AlertSeverity, DEMO_TIMING),
        )
        self.alertmanagers = [Alertmanager(self.workdir, f"alertmanager-{i}") for i in range(ALERTMANAGERS)]
        for manager in self.alertmanagers:
            manager.start(config, peers=[m.cluster_port for m in self.alertmanagers if m is not manager])
        self.prometheus = Prometheus(self.workdir).start(
            {
                APP_JOB: [f"127.0.0.1:{r.metrics_port}" for r in self.replicas],
                RECEIVER_JOB: [f"127.0.0.1:{r.port}" for r in self.receivers],
            },
            rule_files=[self.workdir / artefacts.RULES],
            alertmanager_urls=[m.url for m in self.alertmanagers],
        )

    def _secret(self, name: str, value: str) -> Path:
        path = self.workdir / name
        path.write_text(value + "\n")
        os.chmod(path, 0o600)
        return path

    def report_user_feedback(self, *, kind: str, severity: str, session_id: str) -> None:
        _call(self.replicas[0].url + "/report", {"kind": kind, "severity": severity, "session_id": session_id})

    def receiver_api(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """The control API of the first receiver still alive (they share one state)."""
        error: Exception | None = None
        for index, receiver in enumerate(self.receivers):
            if index in self.killed:
                continue
            try:
                return _call(receiver.url + path, body, self.token)
            except (urllib.error.URLError, OSError) as failed:
                error = failed
        raise RuntimeError(f"no receiver answers {path}: {error}")

    def kill_receiver(self, index: int) -> None:
        """SIGKILL, as a node failure: no shutdown, whatever it held is left to the other receiver."""
        process = self.receivers[index].process
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        self.killed.add(index)

    def stop(self) -> None:
        services: list[Service] = [*([self.prometheus] if self.prometheus else []), *self.alertmanagers]
        for service in [*services, *self.replicas, *self.receivers]:
            service.stop()
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None
