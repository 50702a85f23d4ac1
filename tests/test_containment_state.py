"""The durable containment state: revisions, idempotent writes, approvals, lifts, expiry and the audit log."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from otel_ai_incident.containment.state import (
    Change,
    PlannedAction,
    SqliteContainmentState,
    sqlite_path,
)
from otel_ai_incident.names import ContainmentActionName as Action

KILL = PlannedAction(Action.KILL_SWITCH)


@pytest.fixture
def state(tmp_path: Path) -> SqliteContainmentState:
    return SqliteContainmentState(tmp_path / "containment.db")


def test_apply_bumps_revision_and_is_audited_with_actor_and_incident(state: SqliteContainmentState) -> None:
    assert state.revision() == 0
    assert state.apply(KILL, actor="alert:abc", incident_id="INC-1")
    view = state.read()
    assert view.revision == 1
    [entry] = view.entries
    assert (entry.action, entry.target, entry.incident_id, entry.applied_by) == (
        Action.KILL_SWITCH, None, "INC-1", "alert:abc")
    [record] = state.audit()
    assert (record.change, record.actor, record.incident_id, record.revision) == (
        Change.APPLIED, "alert:abc", "INC-1", 1)


def test_a_used_key_changes_nothing(state: SqliteContainmentState) -> None:
    assert state.apply(KILL, actor="a", incident_id=None, key="k")
    assert not state.apply(KILL, actor="a", incident_id=None, key="k")
    assert not state.record(Change.DRY_RUN, KILL, actor="a", incident_id=None, key="k")
    assert state.request_approval(KILL, actor="a", incident_id=None, key="k") is None
    assert state.revision() == 1
    assert len(state.audit()) == 1


def test_lift_removes_and_records_who_and_why(state: SqliteContainmentState) -> None:
    tool = PlannedAction(Action.DISABLE_TOOL, "delete_record")
    state.apply(tool, actor="a", incident_id=None)
    assert not state.lift(Action.DISABLE_TOOL, "other_tool", actor="alice", reason="x")
    assert state.lift(Action.DISABLE_TOOL, "delete_record", actor="alice", reason="fixed in 1.2")
    assert state.read().entries == ()
    latest = state.audit()[0]
    assert (latest.change, latest.actor, latest.detail["reason"]) == (Change.LIFTED, "alice", "fixed in 1.2")
    assert state.revision() == 2


def test_same_action_and_target_replaces(state: SqliteContainmentState) -> None:
    state.apply(PlannedAction(Action.TIGHTEN_GUARDRAIL, None, {"threshold": 0.5}), actor="a", incident_id=None)
    state.apply(PlannedAction(Action.TIGHTEN_GUARDRAIL, None, {"threshold": 0.3}), actor="b", incident_id=None)
    [entry] = state.read().entries
    assert entry.params == {"threshold": 0.3}


def test_pending_until_approved(state: SqliteContainmentState) -> None:
    planned = PlannedAction(Action.RATE_LIMIT_USER, "u1", {"rate_per_s": 1, "burst": 1}, ttl_s=60)
    pending_id = state.request_approval(planned, actor="alert:f", incident_id="INC-2")
    assert pending_id is not None
    assert state.read().entries == ()
    [pending] = state.pending()
    assert pending.planned == planned
    entry = state.approve(pending_id, actor="bob")
    assert entry.applied_by == "bob" and entry.incident_id == "INC-2"
    assert entry.expires_at == pytest.approx(time.time() + 60, abs=5)
    assert state.pending() == []
    assert [e.target for e in state.read().entries] == ["u1"]
    with pytest.raises(KeyError):
        state.approve(pending_id, actor="bob")


def test_dry_run_is_audited_without_a_change(state: SqliteContainmentState) -> None:
    assert state.record(Change.DRY_RUN, KILL, actor="a", incident_id="INC-3")
    assert state.revision() == 0 and state.read().entries == ()
    assert state.audit()[0].change is Change.DRY_RUN


def test_expired_entries_are_not_in_force(state: SqliteContainmentState) -> None:
    state.apply(PlannedAction(Action.RATE_LIMIT_USER, "u1", {}, ttl_s=60), actor="a", incident_id=None)
    assert len(state.read().entries) == 1
    assert state.read(now=time.time() + 61).entries == ()


def test_changed_since_reads_only_when_the_revision_moved(state: SqliteContainmentState) -> None:
    assert state.changed_since(0) is None
    state.apply(KILL, actor="a", incident_id=None)
    view = state.changed_since(0)
    assert view is not None and view.revision == 1
    assert state.changed_since(1) is None


def test_state_survives_reopening(tmp_path: Path) -> None:
    first = SqliteContainmentState(tmp_path / "c.db")
    first.apply(KILL, actor="a", incident_id=None)
    first.close()
    assert SqliteContainmentState.from_url(f"sqlite:///{tmp_path / 'c.db'}").read().revision == 1


def test_sqlite_urls() -> None:
    assert sqlite_path("sqlite:///ai.db") == Path("ai.db")
    assert sqlite_path("sqlite:////var/lib/ai.db") == Path("/var/lib/ai.db")
    with pytest.raises(ValueError, match="not a SQLite URL"):
        sqlite_path("postgres://x")
