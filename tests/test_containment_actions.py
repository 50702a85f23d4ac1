"""Executing playbooks against the state: targets from data, modes, and exactly-once per notification."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_ai_incident.containment.actions import ActionSettings, AlertContext, Executor, Outcome
from otel_ai_incident.containment.playbooks import PlaybookMode, playbooks_by_incident_type
from otel_ai_incident.containment.state import Change, SqliteContainmentState
from otel_ai_incident.names import ContainmentActionName as Action

PLAYBOOKS = playbooks_by_incident_type()


class Finder:
    def __init__(self, users: list[str], tool: str | None = None) -> None:
        self.users, self.tool, self.calls = users, tool, []

    def top_users(self, since: float, until: float, limit: int, signal: str | None = None) -> list[str]:
        self.calls.append(("top_users", since, until, limit))
        return self.users[:limit]

    def most_anomalous_tool(self, since: float, until: float) -> str | None:
        self.calls.append(("most_anomalous_tool", since, until))
        return self.tool


@pytest.fixture
def state(tmp_path: Path) -> SqliteContainmentState:
    return SqliteContainmentState(tmp_path / "c.db")


def _alert(**labels: str) -> AlertContext:
    return AlertContext("fp1", labels, starts_at=10_000.0, until=10_600.0)


def _run(executor: Executor, incident_type: str, mode: PlaybookMode, alert: AlertContext | None = None):
    return executor.run(PLAYBOOKS[incident_type], alert or _alert(), mode=mode, incident_id="INC-1", key="fp1|t|firing")


def test_auto_applies_the_primary_and_leaves_secondaries_pending(state: SqliteContainmentState) -> None:
    results = _run(Executor(state), "safety_violation", PlaybookMode.AUTO)
    assert [(r.action, r.outcome) for r in results] == [
        (Action.TIGHTEN_GUARDRAIL, Outcome.APPLIED),
        (Action.ROLLBACK_PROMPT, Outcome.PENDING),
    ]
    [entry] = state.read().entries
    assert entry.params == {"threshold": 0.3} and entry.target is None and entry.applied_by == "alert:fp1"
    assert [p.planned.action for p in state.pending()] == [Action.ROLLBACK_PROMPT]


def test_guardrail_label_names_the_guardrail(state: SqliteContainmentState) -> None:
    _run(Executor(state), "safety_violation", PlaybookMode.AUTO, _alert(guardrail="toxicity"))
    assert state.read().entries[0].target == "toxicity"


def test_rate_limit_users_come_from_the_finder_over_the_alert_window(state: SqliteContainmentState) -> None:
    finder = Finder(["p-a", "p-b"])
    settings = ActionSettings(lookback_s=300, rate_limit_ttl_s=60)
    results = _run(Executor(state, finder, settings), "jailbreak_wave", PlaybookMode.AUTO)
    assert [(r.target, r.outcome) for r in results[:2]] == [("p-a", Outcome.APPLIED), ("p-b", Outcome.APPLIED)]
    assert finder.calls[0] == ("top_users", 9_700.0, 10_600.0, settings.max_users)
    entries = state.read().entries
    assert {e.target for e in entries} == {"p-a", "p-b"}
    assert all(e.expires_at is not None and e.params["burst"] == settings.burst for e in entries)


def test_without_a_finder_rate_limit_is_recorded_not_guessed(state: SqliteContainmentState) -> None:
    results = _run(Executor(state), "jailbreak_wave", PlaybookMode.AUTO)
    assert (results[0].action, results[0].outcome) == (Action.RATE_LIMIT_USER, Outcome.NO_TARGET)
    assert state.read().entries == ()
    assert any(r.change is Change.NO_TARGET for r in state.audit())


def test_disable_tool_prefers_the_alert_label(state: SqliteContainmentState) -> None:
    finder = Finder([], tool="search")
    executor = Executor(state, finder)
    executor.run(
        PLAYBOOKS["agentic_harm"],
        _alert(gen_ai_tool_name="delete_record"),
        mode=PlaybookMode.AUTO,
        incident_id=None,
        key="a",
    )
    assert state.pending()[0].planned.target == "delete_record"
    executor.run(PLAYBOOKS["agentic_harm"], _alert(), mode=PlaybookMode.AUTO, incident_id=None, key="b")
    assert state.pending()[1].planned.target == "search"


def test_dry_run_changes_nothing(state: SqliteContainmentState) -> None:
    results = _run(Executor(state), "data_leakage", PlaybookMode.DRY_RUN)
    assert results[0].outcome is Outcome.DRY_RUN
    assert state.read().entries == () and state.pending() == []


def test_approve_mode_makes_everything_pending(state: SqliteContainmentState) -> None:
    _run(Executor(state), "agentic_harm", PlaybookMode.APPROVE, _alert(gen_ai_tool_name="t"))
    assert state.read().entries == ()
    assert [p.planned.action for p in state.pending()] == [Action.RESTRICT_TO_READ_ONLY, Action.DISABLE_TOOL]


def test_running_twice_acts_once(state: SqliteContainmentState) -> None:
    executor = Executor(state, Finder(["p-a"]))
    _run(executor, "data_leakage", PlaybookMode.AUTO)
    revision = state.revision()
    again = _run(executor, "data_leakage", PlaybookMode.AUTO)
    assert {r.outcome for r in again} == {Outcome.DUPLICATE}
    assert state.revision() == revision


class BrokenFinder(Finder):
    """A prompt log that cannot be read (corrupt, newer schema, database down) until `fixed`."""

    def __init__(self) -> None:
        super().__init__(["p-a"])
        self.fixed = False

    def top_users(self, since: float, until: float, limit: int, signal: str | None = None) -> list[str]:
        if not self.fixed:
            raise OSError("prompt log unreadable")
        return super().top_users(since, until, limit, signal)


def test_a_failing_lookup_fails_its_action_only_and_a_rerun_finishes_it(state: SqliteContainmentState) -> None:
    finder = BrokenFinder()
    executor = Executor(state, finder)
    first = _run(executor, "jailbreak_wave", PlaybookMode.AUTO)
    assert [(r.action, r.outcome) for r in first] == [
        (Action.RATE_LIMIT_USER, Outcome.FAILED),
        (Action.TIGHTEN_GUARDRAIL, Outcome.PENDING),
        (Action.ROLLBACK_PROMPT, Outcome.PENDING),
    ]
    assert "prompt log unreadable" in (first[0].error or "")
    finder.fixed = True
    again = _run(executor, "jailbreak_wave", PlaybookMode.AUTO)
    assert [(r.action, r.target, r.outcome) for r in again] == [
        (Action.RATE_LIMIT_USER, "p-a", Outcome.APPLIED),
        (Action.TIGHTEN_GUARDRAIL, None, Outcome.DUPLICATE),
        (Action.ROLLBACK_PROMPT, None, Outcome.DUPLICATE),
    ]
    assert [e.action for e in state.read().entries] == [Action.RATE_LIMIT_USER]
