"""Least privilege: one secret per role, checked at start, and a gate that needs only to read the state."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from conftest import free_port
from otel_ai_incident.containment.gate import open_gate
from otel_ai_incident.containment.state import PlannedAction, SqliteContainmentState
from otel_ai_incident.incidents.sql_store import open_incident_store
from otel_ai_incident.names import ContainmentActionName as Action
from otel_ai_incident.server.app import create_app
from otel_ai_incident.server.auth import Credentials, RoleCredentials
from otel_ai_incident.server.inbox.sql_store import open_inbox
from processes import clean_env
from test_server import wait_for
from test_server_crash import PAYLOAD, _wait_healthy
from unprivileged import run_as_nobody

ALERTS, READER, OPERATOR = "alerts-token-0123456789", "reader-token-0123456789", "operator-token-0123456789"
ROLES = RoleCredentials(alerts=Credentials(ALERTS), reader=Credentials(READER), operator=Credentials(OPERATOR))
LIFT = {"action": "kill_switch", "reason": "test", "by": "test"}
KILL = PlannedAction(Action.KILL_SWITCH, None, {}, None)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[str, SqliteContainmentState]]:
    state = SqliteContainmentState(tmp_path / "c.db")
    incidents_url = f"sqlite:///{tmp_path / 'i.db'}"
    app = create_app(
        state=state, incidents=open_incident_store(incidents_url), inbox=open_inbox(incidents_url), credentials=ROLES
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started)
    yield f"http://127.0.0.1:{port}", state
    server.should_exit = True
    thread.join(timeout=10)


def test_each_role_reaches_only_its_endpoints(receiver: tuple[str, SqliteContainmentState]) -> None:
    url, state = receiver
    state.apply(KILL, actor="test", incident_id=None)
    for token, expected in [
        (ALERTS, {"post": 200, "read": 401, "lift": 401, "incidents": 401}),
        (READER, {"post": 401, "read": 200, "lift": 401, "incidents": 401}),
        (OPERATOR, {"post": 401, "read": 200, "lift": 200, "incidents": 200}),
    ]:
        state.apply(KILL, actor="test", incident_id=None)
        headers = _bearer(token)
        seen = {
            "post": httpx.post(url + "/alertmanager", json=PAYLOAD, headers=headers).status_code,
            "read": httpx.get(url + "/v1/containment", headers=headers).status_code,
            "lift": httpx.post(url + "/v1/containment/lift", json=LIFT, headers=headers).status_code,
            "incidents": httpx.get(url + "/v1/incidents", headers=headers).status_code,
        }
        assert seen == expected, token


def test_a_contained_app_cannot_lift_its_own_kill_switch(
    receiver: tuple[str, SqliteContainmentState], tmp_path: Path
) -> None:
    url, state = receiver
    state.apply(KILL, actor="test", incident_id=None)
    env = clean_env(AII_CONTAINMENT=url, AII_READER_TOKEN=READER)
    lift = [sys.executable, "-m", "otel_ai_incident.cli", "containment", "lift", "kill_switch", "--by", "app"]
    done = subprocess.run([*lift, "--reason", "x"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1 and "401" in done.stderr
    assert state.read().entries  # still in force
    gate = open_gate(url, token=READER, refresh_interval_s=0.05)
    try:
        assert gate.turn_blocked(None) == ("kill_switch", None)  # the reader token reads the state
    finally:
        gate.close()
    operator_env = clean_env(AII_CONTAINMENT=url, AII_OPERATOR_TOKEN=OPERATOR)
    done = subprocess.run([*lift, "--reason", "x"], env=operator_env, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not state.read().entries


def test_a_single_webhook_token_still_serves_every_role(tmp_path: Path) -> None:
    state = SqliteContainmentState(tmp_path / "c.db")
    incidents_url = f"sqlite:///{tmp_path / 'i.db'}"
    app = create_app(
        state=state,
        incidents=open_incident_store(incidents_url),
        inbox=open_inbox(incidents_url),
        credentials=Credentials(ALERTS),
    )
    state.apply(KILL, actor="test", incident_id=None)
    with TestClient(app) as client:
        assert client.get("/v1/containment", headers=_bearer(ALERTS)).status_code == 200
        assert client.post("/v1/containment/lift", json=LIFT, headers=_bearer(ALERTS)).status_code == 200
        assert client.get("/v1/containment", headers=_bearer(READER)).status_code == 401


def _serve_exit(tmp_path: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "otel_ai_incident.cli", "serve", "--port", str(free_port())]
    command += ["--containment", f"sqlite:///{tmp_path / 'c.db'}", "--incidents", f"sqlite:///{tmp_path / 'i.db'}"]
    return subprocess.run([*command, *extra], env=env, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"AII_WEBHOOK_TOKEN": "short"}, "at least 16"),
        ({"AII_WEBHOOK_TOKEN": "has a space in the middle"}, "visible ASCII"),
        ({"AII_WEBHOOK_TOKEN": ALERTS, "AII_READER_TOKEN": ALERTS}, "must differ"),
        ({"AII_READER_TOKEN": READER}, "not Alertmanager's"),
        ({"AII_WEBHOOK_TOKEN": ALERTS, "AII_OPERATOR_TOKEN_FILE": "/nonexistent/token"}, "operator token"),
        ({"AII_WEBHOOK_TOKEN": ALERTS, "AII_OPERATOR_TOKEN": OPERATOR, "AII_VIEWER_TOKEN": OPERATOR}, "must differ"),
        ({"AII_VIEWER_TOKEN": "viewer-token-0123456789"}, "not Alertmanager's"),
        ({"AII_WEBHOOK_TOKEN": ALERTS, "AII_CONSOLE_SECRET_FILE": "/nonexistent/secret"}, "/nonexistent/secret"),
    ],
)
def test_tokens_are_checked_at_start(tmp_path: Path, settings: dict[str, str], message: str) -> None:
    done = _serve_exit(tmp_path, clean_env(**settings))
    assert done.returncode == 2
    assert message in done.stderr
    assert not [value for name, value in settings.items() if "FILE" not in name and value in done.stderr]


def _gate_as_nobody(state_path: Path, fail_closed: bool = False) -> subprocess.CompletedProcess[str]:
    code = (
        "from otel_ai_incident.containment.gate import open_gate\n"
        f"gate = open_gate('sqlite:///{state_path}', load_timeout_s=0.5, fail_closed={fail_closed})\n"
        "print(gate.turn_blocked(None))\n"
    )
    return run_as_nobody(code, cwd="/")


@pytest.mark.parametrize("writer_open", [True, False], ids=["receiver running", "receiver stopped"])
def test_an_app_that_may_only_read_the_state_enforces_a_kill_switch(writer_open: bool) -> None:
    directory = Path(tempfile.mkdtemp(prefix="aii-readonly-"))
    try:
        directory.chmod(0o755)  # others may enter, not create files
        state = SqliteContainmentState(directory / "containment.db")
        state.apply(KILL, actor="test", incident_id=None)
        if not writer_open:
            state.close()  # the WAL and its index are removed: nobody cannot create them
        (directory / "containment.db").chmod(0o444)  # read access granted, write access not
        for log in directory.glob("containment.db-*"):
            log.chmod(0o644)
        done = _gate_as_nobody(directory / "containment.db")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "('kill_switch', None)"
        assert "read-only" in done.stderr
        if writer_open:
            for log in directory.glob("containment.db-*"):
                log.chmod(0o600)  # the state readable, its pending changes not: a loud failure, not a guess
            done = _gate_as_nobody(directory / "containment.db", fail_closed=True)
            assert done.stdout.strip() == "('kill_switch', None)"
            assert "could not be loaded" in done.stderr and "fail closed" in done.stderr
            state.close()
    finally:
        shutil.rmtree(directory)


def test_a_single_webhook_token_starts_with_a_migration_warning(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "otel_ai_incident.cli", "serve", "--port", str(port)]
    command += ["--containment", f"sqlite:///{tmp_path / 'c.db'}", "--incidents", f"sqlite:///{tmp_path / 'i.db'}"]
    process = subprocess.Popen(
        command, env=clean_env(AII_WEBHOOK_TOKEN=ALERTS), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", process)
        headers = _bearer(ALERTS)
        assert httpx.get(f"http://127.0.0.1:{port}/v1/containment", headers=headers).status_code == 200
    finally:
        process.kill()
        _, stderr = process.communicate(timeout=10)
    assert "reader, operator requests use Alertmanager's token" in stderr
    assert ALERTS not in stderr
