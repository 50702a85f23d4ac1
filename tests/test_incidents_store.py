"""The incident store: one live incident per group, merged signals, idempotent timeline, lifecycle."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_ai_incident.incidents.model import (
    EventKind,
    IncidentRCA,
    IncidentStatus,
    Replay,
    ReplayRun,
    RootCauseCategory,
)
from otel_ai_incident.incidents.store import SqliteIncidentStore


@pytest.fixture
def store(tmp_path: Path) -> SqliteIncidentStore:
    return SqliteIncidentStore(tmp_path / "incidents.db")


def _open(store: SqliteIncidentStore, severity: str = "p2", signals: tuple[str, ...] = ("a",)):
    return store.open_for_group("{}:{alertname=\"X\"}", title="X fired", incident_type="data_leakage",
                                severity=severity, signals=signals, at=1000.0)


def test_one_live_incident_per_group_merging_signals_and_severity(store: SqliteIncidentStore) -> None:
    first = _open(store)
    second = _open(store, severity="p1", signals=("b",))
    assert second.id == first.id
    stored = store.get(first.id)
    assert stored is not None
    assert (stored.severity, stored.signals, stored.status) == ("p1", ("a", "b"), IncidentStatus.OPEN)
    assert len(store.list()) == 1


def test_timeline_is_ordered_by_event_time_and_deduplicated(store: SqliteIncidentStore) -> None:
    incident = _open(store)
    assert store.add_event(incident.id, EventKind.NOTIFIED, 1010.0, {"receiver": "r"}, key="n1")
    assert not store.add_event(incident.id, EventKind.NOTIFIED, 1010.0, {"receiver": "r"}, key="n1")
    store.add_event(incident.id, EventKind.MONITORING_FIRED, 1000.0)
    stored = store.get(incident.id)
    assert [e.kind for e in stored.timeline] == [EventKind.MONITORING_FIRED, EventKind.NOTIFIED]
    assert stored.timeline[1].detail == {"receiver": "r"}


def test_lifecycle(store: SqliteIncidentStore) -> None:
    incident = _open(store)
    assert store.transition(incident.id, IncidentStatus.CONTAINED, 1.0, "receiver")
    assert not store.transition(incident.id, IncidentStatus.OPEN, 2.0, "receiver")
    assert store.transition(incident.id, IncidentStatus.RESOLVED, 3.0, "receiver")
    assert store.record_rca(_rca(incident.id), 3.5)
    assert store.transition(incident.id, IncidentStatus.CLOSED, 4.0, "alice")
    assert not store.transition(incident.id, IncidentStatus.OPEN, 5.0, "receiver")
    assert store.get(incident.id).timeline[-1].detail == {"from": "resolved", "to": "closed", "by": "alice"}
    # A closed incident is final: the group's next alert opens a new one.
    assert _open(store).id != incident.id
    assert [i.status for i in store.list(status=IncidentStatus.CLOSED)] == [IncidentStatus.CLOSED]


def test_json_shape(store: SqliteIncidentStore) -> None:
    incident = _open(store)
    store.add_event(incident.id, EventKind.NOTIFIED, 1.0)
    data = store.get(incident.id).to_json()
    assert data["status"] == "open" and data["signals"] == ["a"]
    assert data["timeline"] == [{"kind": "notified", "at": 1.0, "detail": {}}]
    assert store.get("INC-missing") is None


def _rca(incident_id: str) -> IncidentRCA:
    return IncidentRCA(incident_id, "data_leakage", RootCauseCategory.PROMPT_FAILURE, "prompt lacked a rule",
                       ("new prompt rolled out",), ("add the rule",), True, "prompt review")


def test_closing_needs_a_root_cause_and_a_closed_one_is_final(store: SqliteIncidentStore) -> None:
    incident = _open(store)
    assert not store.transition(incident.id, IncidentStatus.CLOSED, 2.0, "alice")
    assert store.record_rca(_rca(incident.id), 3.0)
    assert store.transition(incident.id, IncidentStatus.CLOSED, 4.0, "alice")
    assert not store.record_rca(_rca(incident.id), 5.0)
    stored = store.get(incident.id)
    assert stored.rca == _rca(incident.id)
    assert [e.kind for e in stored.timeline] == [EventKind.RCA_RECORDED, EventKind.STATUS_CHANGED]
    assert stored.to_json()["rca"]["root_cause_category"] == "prompt_failure"


def test_replays_round_trip(store: SqliteIncidentStore) -> None:
    incident = _open(store)
    replay = Replay("L1", 7.0, "m", "redact", ReplayRun("aa", "at [EMAIL]", "redact", ("EMAIL",)),
                    ReplayRun("bb", "no", "allow"))
    assert store.record_replay(incident.id, replay)
    assert not store.record_replay("INC-missing", replay)
    stored = store.get(incident.id)
    assert stored.replays == (replay,) and replay.reproduced and replay.prompts_differ
    assert stored.timeline[-1].detail == {"log_id": "L1", "reproduced": True}
