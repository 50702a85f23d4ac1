"""Receivers side by side on one PostgreSQL (`otel-ai-incident serve` processes, as users run them): every
notification acted on exactly once whichever receiver or Alertmanager replica it came through, one incident
per alert episode, and the work of a receiver killed after acknowledging finished by the other."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import free_port
from otel_ai_incident.containment.state import open_containment_state
from otel_ai_incident.incidents.sql_store import open_incident_store
from otel_ai_incident.server.inbox.sql_store import open_inbox

TOKEN = "active-active-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _notification(index: int, group_key: str) -> dict[str, Any]:
    """A firing PII alert of its own (fingerprint, startsAt), in the group Alertmanager gave it."""
    return {
        "receiver": "otel-ai-incident",
        "status": "firing",
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "UserReportsHarmfulContentP1",
                    "severity": "p1",
                    "incident_type": "safety_violation",
                    "signal": "user_reports_harmful_content",
                    "case": str(index),
                },
                "annotations": {},
                "startsAt": f"2025-01-01T10:{index // 60:02d}:{index % 60:02d}Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090",
                "fingerprint": f"fp{index:04d}",
            }
        ],
    }


class Receivers:
    def __init__(self, tmp_path: Path, incidents_url: str) -> None:
        self.tmp_path = tmp_path
        self.incidents_url = incidents_url
        self.containment_url = incidents_url  # every store of the fleet in the one database
        self.token_file = tmp_path / "token"
        self.token_file.write_text(TOKEN)
        self.processes: list[subprocess.Popen[str]] = []

    def start(self, *, act_delay_s: float = 0.0, lease_s: float = 2.0) -> str:
        port = free_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "otel_ai_incident.cli",
                "serve",
                "--port",
                str(port),
                "--token-file",
                str(self.token_file),
                "--incidents",
                self.incidents_url,
                "--containment",
                self.containment_url,
                "--prompt-log",
                "sqlite:///" + str(self.tmp_path / "log.db"),
                "--claim-lease",
                str(lease_s),
            ],
            env={**os.environ, "AII_RECEIVER_ACT_DELAY": str(act_delay_s)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.processes.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                if httpx.get(url + "/healthz").status_code == 200:
                    return url
            except httpx.TransportError:
                time.sleep(0.05)
        pytest.fail("receiver did not start")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


@pytest.fixture
def receivers(tmp_path: Path, postgres_url: str) -> Iterator[Receivers]:
    group = Receivers(tmp_path, postgres_url)
    yield group
    group.stop()


def _wait_until_done(incidents_url: str, expected: int, timeout: float = 60) -> None:
    inbox = open_inbox(incidents_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if inbox.count(pending=True) == 0 and inbox.count(pending=False) >= expected:
                return
            time.sleep(0.1)
        pytest.fail(f"{inbox.count(pending=True)} notifications still pending")
    finally:
        inbox.close()


def test_every_notification_acted_on_once_across_receivers_and_replicas(receivers: Receivers) -> None:
    urls = [receivers.start(), receivers.start()]
    cases = 60
    posts = []
    for index in range(cases):
        # Two Alertmanager replicas deliver each alert, with their own group keys, one to each receiver.
        posts.append((urls[index % 2], _notification(index, f"am-a:{{case={index}}}")))
        posts.append((urls[(index + 1) % 2], _notification(index, f"am-b:{{}}:{{case={index}}}")))
        posts.append((urls[index % 2], copy.deepcopy(posts[-1][1])))  # and a retried delivery
    with ThreadPoolExecutor(8) as pool:
        statuses = list(
            pool.map(
                lambda post: httpx.post(post[0] + "/alertmanager", json=post[1], headers=AUTH, timeout=30).status_code,
                posts,
            )
        )
    assert statuses == [200] * len(posts)
    _wait_until_done(receivers.incidents_url, len(posts))

    incidents = open_incident_store(receivers.incidents_url)
    listed = incidents.list(limit=1000)
    assert len(listed) == cases  # one incident per alert episode, whatever the group key
    state = open_containment_state(receivers.containment_url)
    applied = [r for r in state.audit(limit=10_000) if r.change.value == "applied"]
    # The safety playbook's first action (tighten_guardrail) once per alert, never twice.
    assert sorted(r.incident_id for r in applied if r.action == "tighten_guardrail") == sorted(i.id for i in listed)
    incidents.close()
    state.close()


def test_work_of_a_receiver_killed_after_acknowledging_is_finished_by_the_other(receivers: Receivers) -> None:
    slow = receivers.start(act_delay_s=60, lease_s=1.5)  # acknowledges, then never gets to act
    cases = 20
    for index in range(cases):
        response = httpx.post(slow + "/alertmanager", json=_notification(index, f"g{index}"), headers=AUTH)
        assert response.status_code == 200
    receivers.processes[0].send_signal(signal.SIGKILL)
    receivers.processes[0].wait(timeout=10)
    killed_at = time.monotonic()
    receivers.start()
    _wait_until_done(receivers.incidents_url, cases, timeout=30)
    taken_over_in = time.monotonic() - killed_at
    incidents = open_incident_store(receivers.incidents_url)
    assert len(incidents.list(limit=100)) == cases
    incidents.close()
    assert taken_over_in < 15, taken_over_in


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("postgresql://app@127.0.0.1:1/aii", "receiver inbox at postgresql://app@127.0.0.1:1/aii: connection failed"),
        ("postgresql://app:secret@127.0.0.1:notaport/aii", "containment state: malformed PostgreSQL URL"),
    ],
)
def test_a_database_the_receiver_cannot_use_is_one_line_naming_the_store(tmp_path: Path, url: str, named: str) -> None:
    token = tmp_path / "token"
    token.write_text(TOKEN)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "otel_ai_incident.cli",
            "serve",
            "--token-file",
            str(token),
            "--incidents",
            url,
            "--containment",
            url,
            "--port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert named in done.stderr and "secret" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line and ": warning: " not in line]
    assert len(errors) == 1, done.stderr
