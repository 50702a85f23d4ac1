"""The containment state's contract, run against every backend (SQLite and PostgreSQL): revisions,
exactly-once keys (also from several threads and processes at once), approvals, lifts, expiry, the audit
log, shared rate-limit buckets and erasure. New behaviour of the state is tested here, for every backend."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from otel_ai_incident.containment.state import (
    ERASED_MARKER,
    Change,
    ContainmentState,
    ErasureReport,
    PlannedAction,
    open_containment_state,
)
from otel_ai_incident.names import ContainmentActionName as Action
from otel_ai_incident.storage.errors import SchemaTooNewError
from otel_ai_incident.storage.sqlite import sqlite_path

KILL = PlannedAction(Action.KILL_SWITCH)
ALICE, BOB = "a1" * 16, "b2" * 16  # pseudonyms look like this (32 hex digits)


def limit(user: str, rate_per_s: float = 0.001, burst: float = 2, ttl_s: float | None = 3600) -> PlannedAction:
    return PlannedAction(Action.RATE_LIMIT_USER, user, {"rate_per_s": rate_per_s, "burst": burst}, ttl_s)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'containment.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def opened(url: str) -> Iterator[Callable[[], ContainmentState]]:
    """Opens more state objects on the same store (as more processes would), closing them afterwards."""
    states: list[ContainmentState] = []

    def open_one() -> ContainmentState:
        states.append(open_containment_state(url))
        return states[-1]

    yield open_one
    for state in states:
        state.close()


@pytest.fixture
def state(opened: Callable[[], ContainmentState]) -> ContainmentState:
    return opened()


def in_threads(count: int, work: Callable[[int], object]) -> list[object]:
    """Run `work(i)` in `count` threads released together; their results (or exceptions) in order."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as error:
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


# -- applying, revisions, audit ------------------------------------------------------------------------------


def test_apply_bumps_revision_and_is_audited_with_actor_and_incident(state: ContainmentState) -> None:
    assert state.revision() == 0
    assert state.apply(KILL, actor="alert:abc", incident_id="INC-1")
    view = state.read()
    assert view.revision == 1
    [entry] = view.entries
    assert (entry.action, entry.target, entry.incident_id, entry.applied_by) == (
        Action.KILL_SWITCH,
        None,
        "INC-1",
        "alert:abc",
    )
    [record] = state.audit()
    assert (record.change, record.actor, record.incident_id, record.revision) == (
        Change.APPLIED,
        "alert:abc",
        "INC-1",
        1,
    )


def test_every_change_moves_the_revision_by_one_and_audit_only_writes_do_not(state: ContainmentState) -> None:
    state.apply(KILL, actor="a", incident_id=None)
    pending_id = state.request_approval(PlannedAction(Action.DISABLE_TOOL, "search"), actor="a", incident_id=None)
    assert state.revision() == 2
    state.record(Change.DRY_RUN, KILL, actor="a", incident_id=None)
    assert state.revision() == 2
    assert pending_id is not None
    state.approve(pending_id, actor="bob")
    state.lift(Action.KILL_SWITCH, None, actor="carol", reason="done")
    assert state.revision() == 4
    assert [r.revision for r in state.audit()] == [4, 3, 2, 2, 1]
    assert [r.change for r in state.audit()] == [
        Change.LIFTED,
        Change.APPROVED,
        Change.DRY_RUN,
        Change.PENDING,
        Change.APPLIED,
    ]


def test_audit_is_newest_first_and_limited(state: ContainmentState) -> None:
    for tool in ("a", "b", "c"):
        state.apply(PlannedAction(Action.DISABLE_TOOL, tool), actor="x", incident_id=None)
    assert [r.target for r in state.audit(limit=2)] == ["c", "b"]


def test_changed_since_reads_only_when_the_revision_moved(state: ContainmentState) -> None:
    assert state.changed_since(0) is None
    empty = state.changed_since(-1)
    assert empty is not None and (empty.revision, empty.entries) == (0, ())
    state.apply(KILL, actor="a", incident_id=None)
    view = state.changed_since(0)
    assert view is not None and view.revision == 1 and len(view.entries) == 1
    assert state.changed_since(1) is None


def test_same_action_and_target_replaces(state: ContainmentState) -> None:
    state.apply(PlannedAction(Action.TIGHTEN_GUARDRAIL, None, {"threshold": 0.5}), actor="a", incident_id=None)
    state.apply(PlannedAction(Action.TIGHTEN_GUARDRAIL, None, {"threshold": 0.3}), actor="b", incident_id="I")
    [entry] = state.read().entries
    assert (entry.params, entry.applied_by, entry.incident_id) == ({"threshold": 0.3}, "b", "I")


def test_entries_of_several_actions_and_targets(state: ContainmentState) -> None:
    state.apply(PlannedAction(Action.DISABLE_TOOL, "search"), actor="a", incident_id=None)
    state.apply(PlannedAction(Action.DISABLE_TOOL, "delete"), actor="a", incident_id=None)
    state.apply(PlannedAction(Action.RESTRICT_TO_READ_ONLY), actor="a", incident_id=None)
    assert sorted((e.action.value, e.target or "") for e in state.read().entries) == [
        ("disable_tool", "delete"),
        ("disable_tool", "search"),
        ("restrict_to_read_only", ""),
    ]


def test_state_survives_reopening(url: str) -> None:
    first = open_containment_state(url)
    first.apply(KILL, actor="a", incident_id=None)
    first.close()
    again = open_containment_state(url)
    try:
        assert again.read().revision == 1 and len(again.audit()) == 1
    finally:
        again.close()


def test_a_write_from_one_object_is_read_by_another(opened: Callable[[], ContainmentState]) -> None:
    writer, reader = opened(), opened()
    assert reader.changed_since(-1) is not None
    writer.apply(KILL, actor="a", incident_id=None)
    view = reader.changed_since(0)
    assert view is not None and [e.action for e in view.entries] == [Action.KILL_SWITCH]


# -- exactly-once keys ------------------------------------------------------------------------------------------


def test_a_used_key_changes_nothing(state: ContainmentState) -> None:
    assert state.apply(KILL, actor="a", incident_id=None, key="k")
    assert not state.apply(KILL, actor="a", incident_id=None, key="k")
    assert not state.record(Change.DRY_RUN, KILL, actor="a", incident_id=None, key="k")
    assert state.request_approval(KILL, actor="a", incident_id=None, key="k") is None
    assert state.revision() == 1
    assert len(state.audit()) == 1


def test_one_key_from_many_writers_at_once_acts_once(opened: Callable[[], ContainmentState]) -> None:
    writers = [opened() for _ in range(6)]
    results = in_threads(6, lambda i: writers[i].apply(KILL, actor=f"receiver-{i}", incident_id=None, key="n|k"))
    assert sorted(map(repr, results)) == ["False"] * 5 + ["True"]
    assert writers[0].revision() == 1
    assert len(writers[0].audit()) == 1


def test_concurrent_writers_get_one_revision_each(opened: Callable[[], ContainmentState]) -> None:
    writers = [opened() for _ in range(4)]
    tools = [f"tool-{i}-{j}" for i in range(4) for j in range(5)]

    def write(i: int) -> None:
        for j in range(5):
            writers[i].apply(
                PlannedAction(Action.DISABLE_TOOL, f"tool-{i}-{j}"), actor="a", incident_id=None, key=f"k-{i}-{j}"
            )

    assert in_threads(4, write) == [None] * 4
    assert writers[0].revision() == 20
    assert sorted(r.revision for r in writers[0].audit()) == list(range(1, 21))
    assert sorted(e.target or "" for e in writers[0].read().entries) == sorted(tools)


APPLY_IN_A_PROCESS = """
import sys
from otel_ai_incident.containment.state import PlannedAction, open_containment_state
from otel_ai_incident.names import ContainmentActionName as Action
state = open_containment_state(sys.argv[1])
state.revision()
print("ready", flush=True)
sys.stdin.readline()
print(state.apply(PlannedAction(Action.KILL_SWITCH), actor=sys.argv[2], incident_id=None, key="one-key"), flush=True)
"""


def test_one_key_from_two_processes_acts_once(url: str, state: ContainmentState) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", APPLY_IN_A_PROCESS, url, f"receiver-{i}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    try:
        for process in processes:
            assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        answers = sorted(process.communicate(timeout=30)[0].strip() for process in processes)
    finally:
        for process in processes:
            process.kill()
    assert answers == ["False", "True"]
    assert state.revision() == 1 and len(state.audit()) == 1


# -- approvals, lifts, expiry ---------------------------------------------------------------------------------


def test_pending_until_approved(state: ContainmentState) -> None:
    planned = PlannedAction(Action.RATE_LIMIT_USER, "u1", {"rate_per_s": 1, "burst": 1}, ttl_s=60)
    pending_id = state.request_approval(planned, actor="alert:f", incident_id="INC-2")
    assert pending_id is not None
    assert state.read().entries == ()
    [pending] = state.pending()
    assert pending.planned == planned and (pending.incident_id, pending.requested_by) == ("INC-2", "alert:f")
    entry = state.approve(pending_id, actor="bob")
    assert entry.applied_by == "bob" and entry.incident_id == "INC-2"
    assert entry.expires_at == pytest.approx(time.time() + 60, abs=5)
    assert state.pending() == []
    assert [e.target for e in state.read().entries] == ["u1"]
    assert state.audit(limit=1)[0].change is Change.APPROVED
    with pytest.raises(KeyError):
        state.approve(pending_id, actor="bob")
    with pytest.raises(KeyError):
        state.approve(pending_id + 1000, actor="bob")


def test_two_approvers_at_once_apply_once(opened: Callable[[], ContainmentState]) -> None:
    approvers = [opened() for _ in range(4)]
    pending_id = approvers[0].request_approval(PlannedAction(Action.DISABLE_TOOL, "t"), actor="a", incident_id=None)
    assert pending_id is not None
    results = in_threads(4, lambda i: approvers[i].approve(pending_id, actor=f"human-{i}"))
    assert sum(isinstance(r, KeyError) for r in results) == 3
    assert [r.change for r in approvers[0].audit()].count(Change.APPROVED) == 1


def test_lift_removes_and_records_who_and_why(state: ContainmentState) -> None:
    tool = PlannedAction(Action.DISABLE_TOOL, "delete_record")
    state.apply(tool, actor="a", incident_id=None)
    assert not state.lift(Action.DISABLE_TOOL, "other_tool", actor="alice", reason="x")
    assert state.lift(Action.DISABLE_TOOL, "delete_record", actor="alice", reason="fixed in 1.2")
    assert state.read().entries == ()
    latest = state.audit()[0]
    assert (latest.change, latest.actor, latest.detail["reason"]) == (Change.LIFTED, "alice", "fixed in 1.2")
    assert state.revision() == 2
    assert not state.lift(Action.DISABLE_TOOL, "delete_record", actor="alice", reason="again")


def test_dry_run_is_audited_without_a_change(state: ContainmentState) -> None:
    assert state.record(Change.DRY_RUN, KILL, actor="a", incident_id="INC-3", detail={"why": "dry"})
    assert state.revision() == 0 and state.read().entries == ()
    record = state.audit()[0]
    assert (record.change, record.detail) == (Change.DRY_RUN, {"params": {}, "why": "dry"})


def test_expired_entries_are_not_in_force(state: ContainmentState) -> None:
    state.apply(limit("u1", ttl_s=60), actor="a", incident_id=None)
    assert len(state.read().entries) == 1
    assert state.read(now=time.time() + 61).entries == ()
    state.apply(limit("u2", ttl_s=0.2), actor="a", incident_id=None)
    time.sleep(0.25)
    assert [e.target for e in state.read().entries] == ["u1"]


# -- shared rate-limit buckets --------------------------------------------------------------------------------


def test_a_bucket_gives_its_burst_then_says_when_the_next_token_comes(state: ContainmentState) -> None:
    assert state.take_token(ALICE, 0.5, 2).taken
    assert state.take_token(ALICE, 0.5, 2).taken
    refused = state.take_token(ALICE, 0.5, 2)
    assert not refused.taken and 1.5 < refused.retry_after_s <= 2.0
    assert state.take_token(BOB, 0.5, 2).taken  # a bucket per target


def test_a_bucket_refills_at_its_rate(state: ContainmentState) -> None:
    assert state.take_token(ALICE, 10, 1).taken
    assert not state.take_token(ALICE, 10, 1).taken
    time.sleep(0.15)
    assert state.take_token(ALICE, 10, 1).taken


def test_a_bucket_is_shared_by_every_writer(opened: Callable[[], ContainmentState]) -> None:
    replicas = [opened() for _ in range(3)]
    results = in_threads(3, lambda i: [replicas[i].take_token(ALICE, 0.001, 10).taken for _ in range(10)])
    assert sum(sum(r) for r in results) == 10  # type: ignore[arg-type]


def test_applying_or_lifting_a_limit_starts_a_full_bucket(state: ContainmentState) -> None:
    state.apply(limit(ALICE, burst=1), actor="a", incident_id=None)
    assert state.take_token(ALICE, 0.001, 1).taken
    assert not state.take_token(ALICE, 0.001, 1).taken
    state.apply(limit(ALICE, burst=1), actor="a", incident_id=None)
    assert state.take_token(ALICE, 0.001, 1).taken
    state.lift(Action.RATE_LIMIT_USER, ALICE, actor="a", reason="r")
    assert state.take_token(ALICE, 0.001, 1).taken


# -- erasure --------------------------------------------------------------------------------------------------


def test_erase_removes_the_users_and_keeps_everyone_else(state: ContainmentState) -> None:
    state.apply(limit(ALICE), actor="alert:f", incident_id="INC-1", key=f"n1|rate_limit_user|{ALICE}")
    state.apply(limit(BOB), actor="alert:f", incident_id="INC-1", key=f"n1|rate_limit_user|{BOB}")
    state.request_approval(limit(ALICE), actor="alert:g", incident_id="INC-2", key=f"n2|rate_limit_user|{ALICE}")
    state.record(
        Change.DRY_RUN,
        PlannedAction(Action.KILL_SWITCH),
        actor="a",
        incident_id=None,
        detail={"users": [ALICE, "someone-else"], "note": f"seen {ALICE} twice"},
    )
    state.apply(KILL, actor="a", incident_id=None)
    state.take_token(ALICE, 0.001, 2)
    before = state.revision()

    report = state.erase([ALICE, ""], actor="logs erase", reason="GDPR Art. 17 request 42")

    assert report == ErasureReport(rate_limits=1, pending=1, audit_records=3, keys=2)
    assert report.total == 7
    assert state.revision() == before + 1
    assert sorted((e.action.value, e.target or "") for e in state.read().entries) == [
        ("kill_switch", ""),
        ("rate_limit_user", BOB),
    ]
    assert state.pending() == []
    records = state.audit(limit=1000)
    assert ALICE not in json.dumps([(r.target, dict(r.detail), r.actor) for r in records])
    assert BOB in json.dumps([r.target for r in records])
    dry_run = next(r for r in records if r.change is Change.DRY_RUN)
    assert dry_run.detail["users"] == [ERASED_MARKER, "someone-else"]
    assert dry_run.detail["note"] == f"seen {ERASED_MARKER} twice"
    erased = records[0]
    assert (erased.change, erased.actor) == (Change.ERASED, "logs erase")
    assert erased.detail == {"reason": "GDPR Art. 17 request 42", "users": 1, **report.to_json()}
    assert state.take_token(ALICE, 0.001, 2).taken  # the bucket went with the user
    # An exactly-once key that named the user is kept, without the name, and still claims its notification.
    assert not state.apply(limit(BOB), actor="a", incident_id=None, key=f"n1|rate_limit_user|{BOB}")


def test_erasing_nobody_known_is_audited_and_changes_nothing_in_force(state: ContainmentState) -> None:
    state.apply(limit(BOB), actor="a", incident_id=None)
    assert state.erase([ALICE], actor="logs erase", reason="request") == ErasureReport()
    assert state.revision() == 1
    assert [e.target for e in state.read().entries] == [BOB]
    assert state.audit(limit=1)[0].change is Change.ERASED


# -- opening ---------------------------------------------------------------------------------------------------


def test_unsupported_and_malformed_urls_name_the_store() -> None:
    with pytest.raises(ValueError, match="containment state: unsupported URL 'mysql://x'"):
        open_containment_state("mysql://x")
    with pytest.raises(ValueError, match="containment state: malformed PostgreSQL URL"):
        open_containment_state("postgresql://u@h/db?bogus=1")


def test_sqlite_urls() -> None:
    assert sqlite_path("sqlite:///ai.db") == Path("ai.db")
    assert sqlite_path("sqlite:////var/lib/ai.db") == Path("/var/lib/ai.db")
    with pytest.raises(ValueError, match="not a SQLite URL"):
        sqlite_path("postgres://x")


def test_postgres_refuses_a_schema_newer_than_the_package(postgres_url: str) -> None:
    import psycopg

    first = open_containment_state(postgres_url)
    assert first.revision() == 0  # creates the schema
    first.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE aii_containment.schema_version SET version = 99")
    state = open_containment_state(postgres_url)
    try:
        with pytest.raises(SchemaTooNewError, match="containment state: schema 'aii_containment' is at version 99"):
            state.revision()
    finally:
        state.close()
