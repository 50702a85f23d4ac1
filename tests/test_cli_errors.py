"""How every command fails: one `otel-ai-incident: error: ...` line on stderr, or, for a command given --json,
one JSON object `{"error": {"type", "message"}}` on stdout with nothing on stderr; the exit status is the same
either way."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from otel_ai_incident.cli import main
from otel_ai_incident.containment.state import SqliteContainmentState
from otel_ai_incident.incidents.sql_store import open_incident_store
from otel_ai_incident.promptlog.sqlite import SqliteStore
from processes import clean_env
from test_incidents_investigation import MIX, OLD_PROMPT

FAKE_LLM = "otel_ai_incident.incidents.fake_llm:llm"


@pytest.fixture
def stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An empty incident store, a prompt log with turns, a containment state, a corrupt file; run from an empty
    directory with no AII_* setting, so nothing is found by accident."""
    for variable in ("AII_INCIDENTS", "AII_PROMPT_LOG", "AII_CONTAINMENT"):
        monkeypatch.delenv(variable, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    open_incident_store(f"sqlite:///{tmp_path / 'incidents.db'}").close()
    log = SqliteStore(str(tmp_path / "log.db"))
    log.write(MIX)
    log.close()
    SqliteContainmentState(tmp_path / "containment.db").close()
    (tmp_path / "corrupt.db").write_bytes(b"this is not a database, and it is long enough to look like a file" * 20)
    return {
        "incidents": f"sqlite:///{tmp_path / 'incidents.db'}",
        "log": f"sqlite:///{tmp_path / 'log.db'}",
        "containment": f"sqlite:///{tmp_path / 'containment.db'}",
        "corrupt": f"sqlite:///{tmp_path / 'corrupt.db'}",
        "missing": f"sqlite:///{tmp_path / 'typo.db'}",
    }


# (command, expected error type, expected exit status, text the message holds); {name} is a store above.
FAILURES = [
    (["incidents", "list", "--incidents", "{missing}"], "no_store", 1, "typo.db"),
    (["incidents", "list", "--incidents", "{corrupt}"], "store_error", 2, "DatabaseError"),
    (["incidents", "show", "INC-nope", "--incidents", "{incidents}"], "not_found", 1, "no incident INC-nope"),
    (["containment", "status", "--containment", "{missing}"], "no_store", 1, "typo.db"),
    (["containment", "status", "--containment", "{corrupt}"], "store_error", 1, "corrupt.db"),
    (["replay", "NOPE", "--llm", FAKE_LLM, "--prompt-log", "{log}"], "not_found", 1, "no prompt-log entry NOPE"),
    (["replay", "T01", "--llm", "no_such_module:llm", "--prompt-log", "{log}"], "invalid", 1, "no_such_module"),
    (["replay", "T01", "--llm", FAKE_LLM, "--prompt-log", "{missing}"], "no_store", 1, "--prompt-log"),
    (["incidents", "list", "--status", "bogus"], "usage", 2, "invalid choice: 'bogus'"),
    (["replay", "T01", "--prompt-log", "{log}"], "usage", 2, "--llm"),
]


@pytest.mark.parametrize(("command", "kind", "status", "text"), FAILURES, ids=lambda v: str(v))
def test_a_failure_is_one_json_object_on_stdout_with_json_and_one_line_on_stderr_without(
    stores: dict[str, str], command: list[str], kind: str, status: int, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [part.format(**stores) for part in command]
    prompt = Path("prompt.txt")
    prompt.write_text(OLD_PROMPT)
    if argv[0] == "replay":
        argv += ["--prompt", str(prompt), "--no-record"]

    assert main([*argv, "--json"]) == status
    out, err = capsys.readouterr()
    assert err == ""
    assert json.loads(out) == {"error": {"type": kind, "message": json.loads(out)["error"]["message"]}}
    assert text in json.loads(out)["error"]["message"] and len(out.splitlines()) == 1

    assert main(argv) == status
    out, err = capsys.readouterr()
    assert out == ""
    last = err.splitlines()[-1]
    assert last.startswith("otel-ai-incident: error: ") and text in last
    if kind == "usage":
        assert err.startswith("usage: otel-ai-incident ")  # argparse's usage, then the one error line
    else:
        assert len(err.splitlines()) == 1
    assert sorted(p.name for p in Path.cwd().iterdir()) == ["prompt.txt"]  # nothing created on the way


def test_the_message_is_the_same_in_both_forms(stores: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["incidents", "show", "INC-nope", "--incidents", stores["incidents"]]
    main(argv)
    line = capsys.readouterr().err.strip()
    main([*argv, "--json"])
    assert line == "otel-ai-incident: error: " + json.loads(capsys.readouterr().out)["error"]["message"]


def test_a_successful_json_command_prints_no_error_object(
    stores: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["incidents", "list", "--incidents", stores["incidents"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_in_a_real_process_stderr_stays_empty_and_the_exit_status_is_kept(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "otel_ai_incident.cli", "containment", "status", "--json"],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=tmp_path,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (1, "")
    error = json.loads(done.stdout)["error"]
    assert error["type"] == "no_store" and "ai_containment.db" in error["message"]
    assert list(tmp_path.iterdir()) == []
