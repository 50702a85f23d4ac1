"""The demo's stack on 127.0.0.1: receiver, instrumented app, Prometheus and Alertmanager, in one temp dir.

Everything is what a user would run: the rules come from the generator's demo profile, Alertmanager's
configuration from the same function as the committed example, the receiver is `otel-ai-incident serve`,
and the app is the example support bot instrumented by `instrument()`.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import otel_ai_incident as aii
from otel_ai_incident import names
from otel_ai_incident.demo.bot import SupportBot
from otel_ai_incident.demo.services import Alertmanager, Prometheus, Receiver, find_binary
from otel_ai_incident.generate import alertmanager as alertmanager_config
from otel_ai_incident.generate import artefacts
from otel_ai_incident.generate.alertmanager import Timing
from otel_ai_incident.names import IncidentType
from otel_ai_incident.signals import DEMO, AlertSeverity

# Alertmanager timings for the demo: notify a second after an alert fires, re-notify groups quickly.
DEMO_TIMING = Timing(group_wait="1s", group_interval="5s", repeat_interval="1h")
APP_JOB = "support-bot"
RECEIVER_JOB = "otel-ai-incident-receiver"


def write_demo_playbooks(workdir: Path) -> Path:
    """Every default playbook in auto mode: in production p2 playbooks wait for a human's approval."""
    path = workdir / "playbooks.yml"
    path.write_text(yaml.safe_dump({"playbooks": {t.value: {"mode": "auto"} for t in IncidentType}}))
    return path


def check_binaries() -> None:
    """Raise MissingBinary (with the install command) before anything starts."""
    for name in ("prometheus", "alertmanager"):
        find_binary(name)


@dataclass
class DemoStack:
    """Start with `start()`, always `stop()` (it is idempotent and leaves no process behind)."""

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="aii-demo-")))
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    receiver: Receiver | None = None
    prometheus: Prometheus | None = None
    alertmanager: Alertmanager | None = None
    app: aii.Instrumentation | None = None
    dashboard: dict[str, Any] = field(default_factory=dict)
    #: The app the demo's traffic goes to: the example bot, in this process.
    bot: SupportBot = field(default_factory=SupportBot)

    @staticmethod
    def report_user_feedback(*, kind: str, severity: str, session_id: str) -> None:
        aii.report_user_feedback(kind=kind, severity=severity, session_id=session_id)

    @property
    def containment_url(self) -> str:
        return f"sqlite:///{self.workdir / 'containment.db'}"

    @property
    def incidents_url(self) -> str:
        return f"sqlite:///{self.workdir / 'incidents.db'}"

    @property
    def prompt_log_url(self) -> str:
        return f"sqlite:///{self.workdir / 'prompt_log.db'}"

    def start(self) -> None:
        check_binaries()
        self.workdir.mkdir(parents=True, exist_ok=True)
        token_file = self.workdir / "webhook.token"
        token_file.write_text(self.token + "\n")
        os.chmod(token_file, 0o600)
        signals = artefacts.catalogue(None, DEMO)
        files = artefacts.render_all(signals, DEMO)
        artefacts.write(files, self.workdir)
        self.dashboard = json.loads(files[artefacts.DASHBOARD])

        self.receiver = Receiver(self.workdir).start(
            "--token-file",
            str(token_file),
            "--containment",
            self.containment_url,
            "--incidents",
            self.incidents_url,
            "--playbooks",
            str(write_demo_playbooks(self.workdir)),
            "--prompt-log",
            self.prompt_log_url,
        )
        # The demo's pseudonyms under a key of its own, kept with the rest of its files.
        os.environ.setdefault(names.ENV_PSEUDONYM_KEY_FILE, str(self.workdir / "pseudonym.key"))
        self.app = aii.instrument(
            service_name=APP_JOB,
            prometheus_host="127.0.0.1",
            prometheus_port=0,
            containment=self.containment_url,
            prompt_log=self.prompt_log_url,
        )
        app_address = self.app.prometheus_address
        if app_address is None:
            raise RuntimeError("the app's /metrics endpoint did not start")
        self.alertmanager = Alertmanager(self.workdir).start(
            alertmanager_config.config(
                signals,
                urls=[f"{self.receiver.url}/alertmanager"],
                credentials_file=str(token_file),
                timings=dict.fromkeys(AlertSeverity, DEMO_TIMING),
            )
        )
        self.prometheus = Prometheus(self.workdir).start(
            {APP_JOB: [f"{app_address[0]}:{app_address[1]}"], RECEIVER_JOB: [f"127.0.0.1:{self.receiver.port}"]},
            rule_files=[self.workdir / artefacts.RULES],
            alertmanager_urls=[self.alertmanager.url],
        )

    def receiver_api(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call the receiver's control API with the demo's token (GET, or POST when `body` is given)."""
        assert self.receiver is not None
        request = urllib.request.Request(
            self.receiver.url + path,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)

    def stop(self) -> None:
        for service in (self.prometheus, self.alertmanager, self.receiver):
            if service is not None:
                service.stop()
        if self.app is not None:
            self.app.shutdown(timeout=2.0)
            self.app = None
