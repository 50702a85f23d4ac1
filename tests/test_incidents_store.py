"""The incident store's contract, run on every backend: one live incident per group and per alert episode,
merged signals, idempotent timeline, lifecycle, erasure, and the same answers from several processes."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator

import pytest

from otel_ai_incident.incidents import schema, sql_store
from otel_ai_incident.incidents.model import (
    BlastRadius,
    EventKind,
    IncidentRCA,
    IncidentStatus,
    Replay,
    ReplayRun,
    RootCauseCategory,
)
from otel_ai_incident.incidents.sql_store import open_incident_store
from otel_ai_incident.incidents.store import ERASED, IncidentStore, episode_key
from otel_ai_incident.storage.sqlite import migrate


@pytest.fixture
def store(store_url: str) -> Iterator[IncidentStore]:
    store = open_incident_store(store_url)
    yield store
    store.close()


def _open(
    store: IncidentStore,
    severity: str = "p2",
    signals: tuple[str, ...] = ("a",),
    group: str = '{}:{alertname="X"}',
    episodes: tuple[str, ...] = (),
):
    return store.open_for_group(
        group,
        episodes=episodes,
        title="X fired",
        incident_type="data_leakage",
        severity=severity,
        signals=signals,
        at=1000.0,
    )


def test_one_live_incident_per_group_merging_signals_and_severity(store: IncidentStore) -> None:
    first = _open(store)
    second = _open(store, severity="p1", signals=("b",))
    assert second.id == first.id
    stored = store.get(first.id)
    assert stored is not None
    assert (stored.severity, stored.signals, stored.status) == ("p1", ("a", "b"), IncidentStatus.OPEN)
    assert len(store.list()) == 1


def test_timeline_is_ordered_by_event_time_and_deduplicated(store: IncidentStore) -> None:
    incident = _open(store)
    assert store.add_event(incident.id, EventKind.NOTIFIED, 1010.0, {"receiver": "r"}, key="n1")
    assert not store.add_event(incident.id, EventKind.NOTIFIED, 1010.0, {"receiver": "r"}, key="n1")
    store.add_event(incident.id, EventKind.MONITORING_FIRED, 1000.0)
    stored = store.get(incident.id)
    assert [e.kind for e in stored.timeline] == [EventKind.MONITORING_FIRED, EventKind.NOTIFIED]
    assert stored.timeline[1].detail == {"receiver": "r"}


def test_lifecycle(store: IncidentStore) -> None:
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


def test_json_shape(store: IncidentStore) -> None:
    incident = _open(store)
    store.add_event(incident.id, EventKind.NOTIFIED, 1.0)
    data = store.get(incident.id).to_json()
    assert data["status"] == "open" and data["signals"] == ["a"]
    assert data["timeline"] == [{"kind": "notified", "at": 1.0, "detail": {}}]
    assert store.get("INC-missing") is None


def _rca(incident_id: str) -> IncidentRCA:
    return IncidentRCA(
        incident_id,
        "data_leakage",
        RootCauseCategory.PROMPT_FAILURE,
        "prompt lacked a rule",
        ("new prompt rolled out",),
        ("add the rule",),
        True,
        "prompt review",
    )


def test_closing_needs_a_root_cause_and_a_closed_one_is_final(store: IncidentStore) -> None:
    incident = _open(store)
    assert not store.transition(incident.id, IncidentStatus.CLOSED, 2.0, "alice")
    assert store.record_rca(_rca(incident.id), 3.0)
    assert store.transition(incident.id, IncidentStatus.CLOSED, 4.0, "alice")
    assert not store.record_rca(_rca(incident.id), 5.0)
    stored = store.get(incident.id)
    assert stored.rca == _rca(incident.id)
    assert [e.kind for e in stored.timeline] == [EventKind.RCA_RECORDED, EventKind.STATUS_CHANGED]
    assert stored.to_json()["rca"]["root_cause_category"] == "prompt_failure"


def test_a_closed_incident_keeps_the_blast_radius_counted_at_the_close(store: IncidentStore) -> None:
    incident = _open(store)
    radius = BlastRadius(1000.0, 1900.0, users=3, sessions=4, entries=5, signals_without_evidence=("user_report",))
    assert store.transition(incident.id, IncidentStatus.CONTAINED, 1.0, "receiver", blast_radius=radius)
    assert store.get(incident.id).blast_radius is None  # only a close keeps it
    assert not store.transition(incident.id, IncidentStatus.CLOSED, 2.0, "alice", blast_radius=radius)  # no RCA
    assert store.get(incident.id).blast_radius is None
    store.record_rca(_rca(incident.id), 3.0)
    assert store.transition(incident.id, IncidentStatus.CLOSED, 4.0, "alice", blast_radius=radius)
    closed = store.get(incident.id)
    assert (closed.status, closed.blast_radius) == (IncidentStatus.CLOSED, radius)
    assert [i.blast_radius for i in store.list()] == [radius]
    assert closed.to_json()["blast_radius"] == {
        "since": 1000.0,
        "until": 1900.0,
        "users": 3,
        "sessions": 4,
        "entries": 5,
        "signals_without_evidence": ["user_report"],
    }
    other = _open(store, group="other")
    store.record_rca(_rca(other.id), 5.0)
    assert store.transition(other.id, IncidentStatus.CLOSED, 6.0, "bob")  # closed without a prompt log
    assert store.get(other.id).blast_radius is None and store.get(other.id).to_json()["blast_radius"] is None


def test_replays_round_trip(store: IncidentStore) -> None:
    incident = _open(store)
    replay = Replay(
        "L1", 7.0, "m", "redact", ReplayRun("aa", "at [EMAIL]", "redact", ("EMAIL",)), ReplayRun("bb", "no", "allow")
    )
    assert store.record_replay(incident.id, replay)
    assert not store.record_replay("INC-missing", replay)
    stored = store.get(incident.id)
    assert stored.replays == (replay,) and replay.reproduced and replay.prompts_differ
    assert stored.timeline[-1].detail == {"log_id": "L1", "reproduced": True}


def test_one_incident_per_alert_episode_whatever_the_group(store: IncidentStore) -> None:
    """Two Alertmanager replicas (or two receivers' configs) group the same firing differently."""
    episode = episode_key("fp1", 1000.0)
    first = _open(store, group="am-a:{}", episodes=(episode,))
    second = _open(store, group="am-b:{}", episodes=(episode, episode_key("fp2", 1001.0)), signals=("b",))
    assert second.id == first.id and second.signals == ("a", "b")
    # The new episode is now the incident's too: a third group carrying only it lands there as well.
    assert _open(store, group="am-c:{}", episodes=(episode_key("fp2", 1001.0),)).id == first.id
    # The same alert firing again later is a new episode: once the incident is closed, a new incident.
    store.record_rca(_rca(first.id), 1.0)
    store.transition(first.id, IncidentStatus.CLOSED, 2.0, "alice")
    assert _open(store, group="am-a:{}", episodes=(episode,)).id != first.id


def test_receivers_racing_on_one_alert_open_one_incident(store_url: str) -> None:
    """Separate store objects (as separate receiver processes have) opening for the same episode at once."""
    stores = [open_incident_store(store_url) for _ in range(6)]
    episode = episode_key("race", 5.0)
    barrier = threading.Barrier(len(stores))
    ids: list[str] = []

    def open_one(index: int) -> None:
        barrier.wait()
        ids.append(_open(stores[index], group=f"group-{index}", episodes=(episode,)).id)

    threads = [threading.Thread(target=open_one, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == len(stores) and len(set(ids)) == 1
    assert len(stores[0].list()) == 1
    for each in stores:
        each.close()


def test_an_id_collision_takes_another_id(store: IncidentStore, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = iter(["INC-20250101-aaaaaaaaaa", "INC-20250101-aaaaaaaaaa", "INC-20250101-bbbbbbbbbb"])
    monkeypatch.setattr(sql_store, "new_incident_id", lambda now: next(ids))
    first = _open(store, group="g1")
    second = _open(store, group="g2")
    assert (first.id, second.id) == ("INC-20250101-aaaaaaaaaa", "INC-20250101-bbbbbbbbbb")


def test_incident_ids_carry_40_random_bits() -> None:
    ids = {sql_store.new_incident_id(0.0) for _ in range(20_000)}
    assert len(ids) == 20_000
    assert all(len(i.rsplit("-", 1)[1]) == 10 for i in ids)


def test_forgetting_a_pseudonym_erases_it_from_the_timeline(store: IncidentStore) -> None:
    incident = _open(store)
    store.add_event(incident.id, EventKind.CONTAINMENT_APPLIED, 1.0, {"action": "rate_limit_user", "target": "p-1"})
    store.add_event(incident.id, EventKind.CONTAINMENT_APPLIED, 2.0, {"action": "rate_limit_user", "target": "p-2"})
    assert store.forget_pseudonyms(["p-1", "p-404"]) == 1
    targets = [e.detail["target"] for e in store.get(incident.id).timeline]
    assert targets == [ERASED, "p-2"]


def test_reopening_sees_what_was_written(store_url: str) -> None:
    first = open_incident_store(store_url)
    incident = _open(first)
    first.add_event(incident.id, EventKind.NOTIFIED, 3.0, key="k")
    first.close()
    again = open_incident_store(store_url)
    assert [e.kind for e in again.get(incident.id).timeline] == [EventKind.NOTIFIED]
    assert not again.add_event(incident.id, EventKind.NOTIFIED, 3.0, key="k")
    again.close()


def test_a_file_from_before_versioning_is_adopted(tmp_path) -> None:
    """Incident files written before the schema was versioned keep their incidents and gain the new table."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE incidents (id TEXT PRIMARY KEY, group_key TEXT NOT NULL, title TEXT NOT NULL,"
        " incident_type TEXT NOT NULL, severity TEXT NOT NULL, signals TEXT NOT NULL, status TEXT NOT NULL,"
        " opened_at REAL NOT NULL, updated_at REAL NOT NULL);"
        "INSERT INTO incidents VALUES ('INC-old', 'g', 't', 'data_leakage', 'p1', '[\"a\"]', 'open', 1, 1);"
    )
    conn.close()
    store = open_incident_store(f"sqlite:///{path}")
    assert _open(store, group="g", episodes=(episode_key("f", 1.0),)).id == "INC-old"
    store.close()


def test_a_file_of_the_previous_version_gains_the_blast_radius(tmp_path) -> None:
    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, schema.COMPONENT, schema.SQLITE_MIGRATIONS[:2])
    conn.execute("INSERT INTO incidents VALUES ('INC-v2', 'g', 't', 'data_leakage', 'p1', '[\"a\"]', 'open', 1, 1)")
    conn.close()
    store = open_incident_store(f"sqlite:///{path}")
    store.record_rca(_rca("INC-v2"), 2.0)
    radius = BlastRadius(1.0, 3.0, users=1, sessions=1, entries=2)
    assert store.transition("INC-v2", IncidentStatus.CLOSED, 3.0, "alice", blast_radius=radius)
    assert store.get("INC-v2").blast_radius == radius
    store.close()


def test_the_incident_commands_work_on_every_backend(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`incidents list|show|rca|close --incidents URL`, as the on-call runs them against a fleet's database."""
    from otel_ai_incident.cli import main

    store = open_incident_store(store_url)
    incident = _open(store, severity="p1")
    store.close()
    base = ["--incidents", store_url, "--prompt-log", "sqlite:///nowhere-at-all.db"]
    assert main(["incidents", "list", *base, "--json"]) == 0
    assert [i["id"] for i in json.loads(capsys.readouterr().out)] == [incident.id]
    rca = ["--category", "prompt_failure", "--description", "the prompt lacked a rule"]
    assert main(["incidents", "rca", incident.id, *base, *rca]) == 0
    assert main(["incidents", "close", incident.id, *base, "--by", "alice"]) == 0
    capsys.readouterr()
    assert main(["incidents", "show", incident.id, *base, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "closed"
