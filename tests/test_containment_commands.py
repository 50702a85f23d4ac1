"""`otel-ai-incident containment status|lift|approve` on the state itself, SQLite or PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_ai_incident.cli import main
from otel_ai_incident.containment.state import Change, ContainmentState, PlannedAction, open_containment_state
from otel_ai_incident.demo.services import free_port
from otel_ai_incident.incidents.model import EventKind, IncidentStatus
from otel_ai_incident.incidents.sql_store import open_incident_store
from otel_ai_incident.names import ContainmentActionName as Action


@pytest.fixture(params=["sqlite", "postgresql"])
def state(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ContainmentState]:
    """The state the commands find through AII_CONTAINMENT."""
    url = f"sqlite:///{tmp_path / 'c.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    monkeypatch.setenv("AII_CONTAINMENT", url)
    state = open_containment_state(url)
    yield state
    state.close()


def test_status_lists_entries_and_pending(state: ContainmentState, capsys: pytest.CaptureFixture) -> None:
    state.apply(PlannedAction(Action.KILL_SWITCH), actor="alert:fp", incident_id="INC-1")
    state.request_approval(PlannedAction(Action.DISABLE_TOOL, "search"), actor="alert:fp", incident_id="INC-1")
    assert main(["containment", "status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [e["action"] for e in data["entries"]] == ["kill_switch"]
    assert [(p["action"], p["target"]) for p in data["pending"]] == [("disable_tool", "search")]
    assert main(["containment", "status"]) == 0
    text = capsys.readouterr().out
    assert "kill_switch (whole app) incident=INC-1" in text and "#1 disable_tool search" in text


def test_approve_then_lift(state: ContainmentState, capsys: pytest.CaptureFixture) -> None:
    pending_id = state.request_approval(PlannedAction(Action.DISABLE_TOOL, "search"), actor="a", incident_id=None)
    assert main(["containment", "approve", str(pending_id), "--by", "bob"]) == 0
    assert [(e.target, e.applied_by) for e in state.read().entries] == [("search", "bob")]
    assert main(["containment", "approve", str(pending_id), "--by", "bob"]) == 1
    assert "no pending containment action" in capsys.readouterr().err
    assert (
        main(["containment", "lift", "disable_tool", "--target", "search", "--reason", "patched", "--by", "carol"]) == 0
    )
    assert state.read().entries == ()
    assert (state.audit(limit=1)[0].change, state.audit(limit=1)[0].actor) == (Change.LIFTED, "carol")
    assert main(["containment", "lift", "kill_switch", "--reason", "x", "--by", "carol"]) == 1
    assert "not in force" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [["containment", "lift", "kill_switch"], ["containment", "lift", "nuke", "--reason", "r", "--by", "b"]]
)
def test_lift_needs_a_known_action_a_reason_and_a_name(state: ContainmentState, argv: list[str]) -> None:
    assert main(argv) == 2


@pytest.mark.parametrize(
    "command",
    [["serve"], ["containment"], ["containment", "status"], ["containment", "lift"], ["containment", "approve"]],
)
def test_every_command_has_help(command: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as caught:
        main([*command, "--help"])
    assert caught.value.code == 0
    assert "usage: otel-ai-incident" in capsys.readouterr().out


def test_an_unreachable_database_is_one_clear_error(capsys: pytest.CaptureFixture) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    assert main(["containment", "status", "--containment", url]) == 1
    error = capsys.readouterr().err
    assert error.startswith(
        f"otel-ai-incident: error: StoreUnavailableError: containment state at {url}: connection failed"
    )
    assert len(error.strip().splitlines()) == 1
    assert main(["containment", "approve", "1", "--by", "bob", "--containment", "postgresql://x@h/db?bogus=1"]) == 1
    assert "containment state: malformed PostgreSQL URL" in capsys.readouterr().err


def test_approve_and_lift_go_on_the_incident(state: ContainmentState, tmp_path: Path) -> None:
    incidents_url = f"sqlite:///{tmp_path / 'incidents.db'}"
    incidents = open_incident_store(incidents_url)
    try:
        incident = incidents.open_for_group(
            "g", title="PII in output", incident_type="data_leakage", severity="p1", signals=["pii"], at=1000.0
        )
        pending_id = state.request_approval(PlannedAction(Action.KILL_SWITCH), actor="a", incident_id=incident.id)
        assert main(["containment", "approve", str(pending_id), "--by", "bob", "--incidents", incidents_url]) == 0
        argv = [
            "containment",
            "lift",
            "kill_switch",
            "--reason",
            "fixed",
            "--by",
            "carol",
            "--incidents",
            incidents_url,
        ]
        assert main(argv) == 0
        found = incidents.get(incident.id)
        assert found is not None and found.status is IncidentStatus.CONTAINED
        decided = [(e.kind, e.detail) for e in found.timeline if e.kind.value.startswith("containment_")]
        assert decided == [
            (EventKind.CONTAINMENT_APPLIED, {"action": "kill_switch", "target": None, "approved_by": "bob"}),
            (EventKind.CONTAINMENT_LIFTED, {"action": "kill_switch", "target": None, "by": "carol", "reason": "fixed"}),
        ]
    finally:
        incidents.close()


def test_a_named_incident_store_that_does_not_exist_changes_nothing(
    state: ContainmentState, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    pending_id = state.request_approval(PlannedAction(Action.KILL_SWITCH), actor="a", incident_id="INC-1")
    missing = f"sqlite:///{tmp_path / 'typo.db'}"
    assert main(["containment", "approve", str(pending_id), "--by", "bob", "--incidents", missing]) == 1
    assert "no incident store" in capsys.readouterr().err
    assert state.read().entries == () and [p.id for p in state.pending()] == [pending_id]
    assert not (tmp_path / "typo.db").exists()
