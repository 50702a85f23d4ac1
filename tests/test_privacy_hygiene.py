"""Files that hold user data are created 0600; recorded text cannot drive a terminal nor inject HTML."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from otel_ai_incident.cli import main
from otel_ai_incident.containment.state import PlannedAction, SqliteContainmentState
from otel_ai_incident.incidents import regressions
from otel_ai_incident.incidents.model import EventKind
from otel_ai_incident.incidents.sql_store import open_incident_store
from otel_ai_incident.names import ContainmentActionName as Action
from otel_ai_incident.printable import for_markdown, for_terminal
from otel_ai_incident.promptlog.entry import PromptLogEntry
from otel_ai_incident.promptlog.sqlite import SqliteStore
from otel_ai_incident.server.inbox.sql_store import open_inbox
from processes import clean_env

HOSTILE = "\x1b[2J\x1b[1;1Hall clear\r\u202eevil<script>alert(1)</script>|"


@pytest.fixture(autouse=True)
def permissive_umask() -> None:
    previous = os.umask(0o022)  # the usual default: files 0644 unless created otherwise
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_databases_are_created_private_with_their_wal(tmp_path: Path) -> None:
    state = SqliteContainmentState(tmp_path / "containment.db")
    state.apply(PlannedAction(Action.KILL_SWITCH, None, {}, None), actor="t", incident_id=None)
    incidents = open_incident_store(f"sqlite:///{tmp_path / 'incidents.db'}")
    inbox = open_inbox(f"sqlite:///{tmp_path / 'incidents.db'}")
    inbox.count(pending=True)
    incidents.open_for_group("g", title="t", incident_type="data_leakage", severity="p1", signals=["s"], at=1.0)
    created = sorted(p.name for p in tmp_path.iterdir())
    assert "containment.db-wal" in created and "incidents.db-wal" in created
    assert {name: _mode(tmp_path / name) for name in created} == dict.fromkeys(created, 0o600)


def _log_with_a_turn(path: Path) -> None:
    log = SqliteStore(str(path))
    log.write(
        [
            PromptLogEntry(
                log_id="T1",
                timestamp=1_700_000_000.0,
                user_pseudonym="p",
                pseudonym_key_id="k1",
                session_id="s",
                model="m",
                user_message="my mail is a@example.com",
                assistant_response="ok",
                system_prompt_hash=None,
            )
        ]
    )
    log.close()


def test_exports_and_post_mortems_are_private(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _log_with_a_turn(tmp_path / "log.db")
    assert _mode(tmp_path / "log.db") == 0o600
    (tmp_path / "existing.jsonl").write_text("old\n")  # a file left 0644 is narrowed when written again
    log = f"sqlite:///{tmp_path / 'log.db'}"
    for out in ("export.jsonl", "existing.jsonl"):
        assert main(["logs", "export", "--prompt-log", log, "--out", str(tmp_path / out)]) == 0
        assert _mode(tmp_path / out) == 0o600
    incidents = open_incident_store(f"sqlite:///{tmp_path / 'incidents.db'}")
    incident = incidents.open_for_group(
        "g", title="leak", incident_type="data_leakage", severity="p1", signals=["s"], at=1.0
    )
    url = f"sqlite:///{tmp_path / 'incidents.db'}"
    main(["postmortem", incident.id, "--incidents", url, "--out", str(tmp_path / "pm.md")])
    assert _mode(tmp_path / "pm.md") == 0o600
    exported = regressions.export(SqliteStore(str(tmp_path / "log.db")), incident.id, tmp_path / "regressions")
    assert _mode(exported.cases_file) == _mode(exported.test_file) == 0o600


def test_containment_status_escapes_control_characters(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    state = SqliteContainmentState(db)
    state.apply(PlannedAction(Action.DISABLE_TOOL, HOSTILE, {}, None), actor="alertmanager", incident_id=None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "otel_ai_incident.cli",
            "containment",
            "status",
            "--containment",
            f"sqlite:///{tmp_path / 'c.db'}",
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        check=True,
    )
    assert "\x1b" not in done.stdout and "\r" not in done.stdout and "\u202e" not in done.stdout
    assert "\\x1b[2J\\x1b[1;1Hall clear\\x0d\\u202eevil" in done.stdout


def test_incidents_show_escapes_and_the_post_mortem_shows_html_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'incidents.db'}"
    incidents = open_incident_store(url)
    incident = incidents.open_for_group(
        "g", title=HOSTILE, incident_type="data_leakage", severity="p1", signals=[HOSTILE], at=1.0
    )
    incidents.add_event(incident.id, EventKind.MONITORING_FIRED, 2.0, {"alertname": HOSTILE})
    main(["incidents", "show", incident.id, "--incidents", url])
    shown = capsys.readouterr().out
    assert "\x1b" not in shown and "\r" not in shown and "\u202e" not in shown
    assert shown.count("\\x1b[2J") == 3  # title, signals, event
    main(["postmortem", incident.id, "--incidents", url])
    markdown = capsys.readouterr().out
    assert "<script>" not in markdown and "\x1b" not in markdown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markdown
    assert "evil&lt;script&gt;alert(1)&lt;/script&gt;\\|" in markdown  # in a table cell, the pipe too


def test_the_escapes_leave_ordinary_text_alone() -> None:
    ordinary = 'Ünïcode 名前 — it\'s "fine" (a|b)'
    assert for_terminal(ordinary) == ordinary
    assert for_markdown("a < b & c") == "a &lt; b &amp; c"
    assert for_terminal("line\nnext\ttab") == "line\\x0anext\\x09tab"
