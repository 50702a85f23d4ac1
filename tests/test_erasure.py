"""`logs erase --user` reaches every store that holds the user's pseudonym: the prompt log, the containment
state (a rate limit on them, its audit) and the incident store (the timeline of the incident that limited
them), on SQLite files and on a fleet's one PostgreSQL database, where naming the log is enough."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_ai_incident import names
from otel_ai_incident.cli import main
from otel_ai_incident.containment.state import PlannedAction, open_containment_state
from otel_ai_incident.incidents.model import EventKind
from otel_ai_incident.incidents.sql_store import open_incident_store
from otel_ai_incident.names import ContainmentActionName as Action
from otel_ai_incident.promptlog.backends import open_store
from otel_ai_incident.promptlog.pseudonym import Pseudonymizer
from otel_ai_incident.promptlog.store import LogQuery
from promptlog_support import NEW_KEY, make_entry

USER = "mallory@example.com"


def _populate(log_url: str, containment_url: str, incidents_url: str) -> str:
    """The user's turns, a rate limit on them applied by an incident, and a bystander's turn; the pseudonym."""
    pseudonym = Pseudonymizer(NEW_KEY).pseudonymize(USER)
    log = open_store(log_url)
    log.write(
        [
            make_entry(0, user_pseudonym=pseudonym),
            make_entry(1, user_pseudonym=pseudonym),
            make_entry(2, user_pseudonym="someone-else"),
        ]
    )
    log.close()
    incidents = open_incident_store(incidents_url)
    incident = incidents.open_for_group(
        "g", title="t", incident_type="jailbreak_wave", severity="p1", signals=["safety_classifier_block_rate"], at=1.0
    )
    incidents.add_event(
        incident.id, EventKind.CONTAINMENT_APPLIED, 2.0, {"action": "rate_limit_user", "target": pseudonym}
    )
    incidents.close()
    state = open_containment_state(containment_url)
    limit = PlannedAction(Action.RATE_LIMIT_USER, pseudonym, {"rate_per_s": 0.1, "burst": 1}, ttl_s=3600)
    assert state.apply(limit, actor="receiver", incident_id=incident.id, key=f"fp|{pseudonym}")
    state.close()
    return pseudonym


def _check_erased(log_url: str, containment_url: str, incidents_url: str, pseudonym: str) -> None:
    log = open_store(log_url)
    assert [e.entry.user_pseudonym for e in log.query(LogQuery())] == ["someone-else"]
    log.close()
    state = open_containment_state(containment_url)
    assert state.read().entries == ()
    assert all(pseudonym not in repr(record) for record in state.audit(limit=1000))
    state.close()
    incidents = open_incident_store(incidents_url)
    [incident] = incidents.list()
    assert pseudonym not in repr(incidents.get(incident.id))
    incidents.close()


@pytest.fixture(autouse=True)
def key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(names.ENV_PSEUDONYM_KEY, NEW_KEY.decode())
    for variable in (names.ENV_PSEUDONYM_KEY_FILE, names.ENV_PROMPT_LOG, names.ENV_CONTAINMENT, names.ENV_INCIDENTS):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)


def test_one_command_erases_the_user_from_every_store_of_a_fleet(postgres_url: str, capsys) -> None:
    pseudonym = _populate(postgres_url, postgres_url, postgres_url)
    assert main(["logs", "erase", "--prompt-log", postgres_url, "--user", USER]) == 0
    report = capsys.readouterr().out
    assert report.startswith("erased 2 prompt-log entries; containment state: 1 rate limits lifted"), report
    assert "incidents: 1 timeline events" in report and pseudonym not in report
    _check_erased(postgres_url, postgres_url, postgres_url, pseudonym)


def test_sqlite_stores_are_found_where_they_are_configured(tmp_path: Path, monkeypatch, capsys) -> None:
    log, state, incidents = (f"sqlite:///{tmp_path / name}" for name in ("log.db", "c.db", "i.db"))
    pseudonym = _populate(log, state, incidents)
    monkeypatch.setenv(names.ENV_CONTAINMENT, state)
    assert main(["logs", "erase", "--prompt-log", log, "--user", USER, "--incidents", incidents]) == 0
    assert "1 rate limits lifted" in capsys.readouterr().out
    _check_erased(log, state, incidents, pseudonym)


def test_stores_that_do_not_exist_are_reported_not_created(tmp_path: Path, capsys) -> None:
    log = f"sqlite:///{tmp_path / 'log.db'}"
    store = open_store(log)
    store.write([make_entry(0, user_pseudonym=Pseudonymizer(NEW_KEY).pseudonymize(USER))])
    store.close()
    assert main(["logs", "erase", "--prompt-log", log, "--user", USER]) == 0
    assert capsys.readouterr().out.strip() == "erased 1 prompt-log entries; no containment state; no incident store"
    assert not (tmp_path / "ai_containment.db").exists() and not (tmp_path / "ai_incidents.db").exists()
