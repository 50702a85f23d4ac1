"""The receiver as users run it (`otel-ai-incident serve` in its own process): start-up rules and crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import free_port
from otel_ai_incident.containment.state import SqliteContainmentState
from otel_ai_incident.server.inbox.sql_store import open_inbox

TOKEN = "crash-test-token"
PAYLOAD = {
    "receiver": "otel-ai-incident",
    "status": "firing",
    "version": "4",
    "groupKey": '{}:{crash="1"}',
    "truncatedAlerts": 0,
    "groupLabels": {},
    "commonLabels": {},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "PiiDetectionInOutput",
                "severity": "p1",
                "incident_type": "data_leakage",
                "signal": "pii_detection_in_output",
            },
            "annotations": {},
            "startsAt": "2025-01-01T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090",
            "fingerprint": "c0ffee",
        }
    ],
}


def _serve(tmp_path: Path, port: int, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "otel_ai_incident.cli",
            "serve",
            "--port",
            str(port),
            "--containment",
            f"sqlite:///{tmp_path / 'c.db'}",
            "--incidents",
            f"sqlite:///{tmp_path / 'i.db'}",
            *extra,
        ],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_healthy(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        try:
            if httpx.get(url + "/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    pytest.fail("receiver did not start")


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen]]:
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def test_a_crash_between_storing_and_acting_is_finished_after_restart(
    tmp_path: Path, token_file: Path, processes: list[subprocess.Popen]
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = _serve(
        tmp_path, port, "--token-file", str(token_file), "--claim-lease", "1", env={"AII_RECEIVER_ACT_DELAY": "60"}
    )
    processes.append(first)
    _wait_healthy(url, first)
    response = httpx.post(url + "/alertmanager", json=PAYLOAD, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    state, inbox = SqliteContainmentState(tmp_path / "c.db"), open_inbox(f"sqlite:///{tmp_path / 'i.db'}")
    assert inbox.count(pending=True) == 1  # stored before the 200 ...
    assert state.read().entries == ()  # ... and not acted on yet
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)

    second = _serve(tmp_path, port, "--token-file", str(token_file))
    processes.append(second)
    _wait_healthy(url, second)
    deadline = time.monotonic() + 10
    while not state.read().entries and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [e.action.value for e in state.read().entries] == ["kill_switch"]
    assert inbox.count(pending=True) == 0


def test_refuses_to_start_without_credentials(tmp_path: Path, processes: list[subprocess.Popen]) -> None:
    env = {"AII_WEBHOOK_TOKEN": "", "AII_WEBHOOK_TOKEN_FILE": ""}
    for extra in ((), ("--insecure-no-auth", "--host", "0.0.0.0")):
        process = _serve(tmp_path, free_port(), *extra, env=env)
        processes.append(process)
        assert process.wait(timeout=20) == 2
        assert "no credentials" in process.stderr.read()
    assert not (tmp_path / "c.db").exists()


def test_insecure_mode_on_loopback(tmp_path: Path, processes: list[subprocess.Popen]) -> None:
    port = free_port()
    process = _serve(tmp_path, port, "--insecure-no-auth", env={"AII_WEBHOOK_TOKEN": "", "AII_WEBHOOK_TOKEN_FILE": ""})
    processes.append(process)
    _wait_healthy(f"http://127.0.0.1:{port}", process)
    assert httpx.post(f"http://127.0.0.1:{port}/alertmanager", json=PAYLOAD).status_code == 200
