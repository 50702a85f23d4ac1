"""The receiver's own containment file replaced by a restore while `otel-ai-incident serve` runs.

An operator restores an older copy with `os.replace` (a new inode at the same path). The receiver must work
on the restored file from then on: what `GET /v1/containment` serves, the alerts it acts on and the lifts it
applies all land there, and a gate polling the endpoint sees the change (the ETag's identity is new, so a
restored revision number it has seen before is not answered 304). The replaced file is kept reachable
through a hard link to prove nothing more was written to it.
"""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from otel_ai_incident.containment.gate import open_gate
from otel_ai_incident.containment.registry import Registry
from otel_ai_incident.demo.services import Receiver
from test_server import notification, wait_for

TOKEN = "state-restore-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NOTIFICATIONS = 100


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    service = Receiver(tmp_path)
    service.start(
        "--containment",
        f"sqlite:///{tmp_path / 'c.db'}",
        "--incidents",
        f"sqlite:///{tmp_path / 'i.db'}",
        "--token-file",
        str(token_file),
    )
    try:
        yield service
    finally:
        service.stop()


def _post_alert(url: str) -> str:
    """Post a P1 data-leakage alert; the id of the incident it opened, once its kill switch is applied."""
    known = _incident_ids(url)
    response = httpx.post(f"{url}/alertmanager", json=notification("data_leakage"), headers=AUTH, timeout=10)
    assert response.status_code == 200, response.text
    wait_for(lambda: _incident_ids(url) - known, timeout=20)
    [opened] = _incident_ids(url) - known
    wait_for(lambda: opened in _kill_switch_incidents(url), timeout=20)
    return opened


def _incident_ids(url: str) -> set[str]:
    listed = httpx.get(f"{url}/v1/incidents", headers=AUTH, params={"limit": 1000}, timeout=10).json()
    return {i["id"] for i in listed["incidents"]}


def _kill_switch_incidents(url: str) -> set[str]:
    view = httpx.get(f"{url}/v1/containment", headers=AUTH, timeout=10).json()
    return {e["incident_id"] for e in view["entries"] if e["action"] == "kill_switch"}


def _lift(url: str) -> None:
    body = {"action": "kill_switch", "reason": "restore test", "by": "oncall"}
    response = httpx.post(f"{url}/v1/containment/lift", json=body, headers=AUTH, timeout=10)
    assert response.status_code == 200, response.text


def _audit(path: Path) -> list[tuple[str, str | None]]:
    """(change, incident id) of the kill-switch audit records in the file at `path`, oldest first."""
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as conn:
        query = "SELECT change, incident_id FROM audit WHERE action = 'kill_switch' ORDER BY id"
        return conn.execute(query).fetchall()


def _backup(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite file, as a backup tool takes it."""
    with sqlite3.connect(source) as live, sqlite3.connect(target) as copy:
        live.backup(copy)
    live.close()
    copy.close()


def test_a_restored_state_file_takes_the_alerts_the_lifts_and_the_gates(receiver: Receiver, tmp_path: Path) -> None:
    state = tmp_path / "c.db"
    first = _post_alert(receiver.url)
    _backup(state, tmp_path / "restore.db")  # the older copy: kill switch of `first` in force
    _lift(receiver.url)
    etag_before = httpx.get(f"{receiver.url}/v1/containment", headers=AUTH).headers["etag"]

    gate = open_gate(receiver.url, token=TOKEN, registry=Registry(), refresh_interval_s=0.05)
    try:
        assert gate.turn_blocked(None) is None
        os.link(state, tmp_path / "replaced.db")  # keep the replaced file to look into it afterwards
        os.replace(tmp_path / "restore.db", state)

        # The restored kill switch is served again, under a new identity, and the gate enforces it.
        wait_for(lambda: gate.turn_blocked(None) == ("kill_switch", None), timeout=10)
        assert _kill_switch_incidents(receiver.url) == {first}
        etag_after = httpx.get(f"{receiver.url}/v1/containment", headers=AUTH).headers["etag"]
        assert etag_after.split("-")[0] != etag_before.split("-")[0]

        # An alert and a lift after the restore act on the restored file.
        _lift(receiver.url)
        wait_for(lambda: gate.turn_blocked(None) is None, timeout=10)
        second = _post_alert(receiver.url)
        wait_for(lambda: gate.turn_blocked(None) == ("kill_switch", None), timeout=10)
    finally:
        gate.close()

    assert _audit(state) == [("applied", first), ("lifted", None), ("applied", second)]
    assert _audit(tmp_path / "replaced.db") == [("applied", first), ("lifted", None)]  # nothing more went there
    assert receiver.process is not None and receiver.process.poll() is None


def test_notifications_arriving_as_the_file_is_restored_are_acted_on_once_in_it(
    receiver: Receiver, tmp_path: Path
) -> None:
    state, url = tmp_path / "c.db", receiver.url
    first = _post_alert(url)
    _backup(state, tmp_path / "restore.db")
    os.link(state, tmp_path / "replaced.db")
    known = _incident_ids(url)
    os.replace(tmp_path / "restore.db", state)
    answers = [
        httpx.post(f"{url}/alertmanager", json=notification("data_leakage"), headers=AUTH, timeout=10).status_code
        for _ in range(NOTIFICATIONS)
    ]
    wait_for(lambda: httpx.get(f"{url}/healthz").json()["pending_notifications"] == 0, timeout=60)
    opened = _incident_ids(url) - known
    applied = Counter(incident for change, incident in _audit(state) if change == "applied")
    runs = [applied[incident] for incident in opened]
    acknowledged, acted_on = answers.count(200), sum(r >= 1 for r in runs)
    lost, twice = acknowledged - acted_on, sum(r > 1 for r in runs)
    print(f"restored state file: acknowledged {acknowledged}, acted on {acted_on}, lost {lost}, twice {twice}")
    assert (acknowledged, acted_on, lost, twice) == (NOTIFICATIONS, NOTIFICATIONS, 0, 0)
    assert len(opened) == NOTIFICATIONS and applied[first] == 1  # the restored file's own history stays
    assert not opened & {incident for _, incident in _audit(tmp_path / "replaced.db")}
