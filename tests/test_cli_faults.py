"""The command line under ordinary mistakes: a mistyped database path, a closed pipe, asking its version."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from otel_ai_incident.promptlog.entry import PromptLogEntry
from otel_ai_incident.promptlog.sqlite import SqliteStore
from processes import clean_env

CLI = [sys.executable, "-m", "otel_ai_incident.cli"]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=clean_env(), cwd=cwd, timeout=60)


def test_version() -> None:
    done = subprocess.run([*CLI, "--version"], capture_output=True, text=True, env=clean_env(), check=True)
    assert done.stdout.startswith("otel-ai-incident ") and done.stdout.split()[1][0].isdigit()


@pytest.mark.parametrize(
    "command",
    [
        ["logs", "export", "--prompt-log", "sqlite:///typo.db"],
        ["logs", "export", "--db", "sqlite:///typo.db"],  # the option's old name
        ["logs", "scrub", "--db", "sqlite:///typo.db"],
        ["logs", "erase", "--prompt-log", "sqlite:///typo.db", "--user", "alice"],
        ["logs", "purge", "--prompt-log", "sqlite:///typo.db"],
        ["containment", "status"],
        ["containment", "status", "--containment", "sqlite:///typo.db"],
        ["containment", "lift", "kill_switch", "--by", "me", "--reason", "x", "--containment", "sqlite:///typo.db"],
        ["incidents", "list", "--incidents", "sqlite:///typo.db"],
    ],
)
def test_a_database_that_does_not_exist_is_refused_not_created(tmp_path: Path, command: list[str]) -> None:
    done = _cli(*command, cwd=tmp_path)
    assert done.returncode != 0
    assert "typo.db" in done.stderr or "ai_containment.db" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_export_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    log = SqliteStore(str(tmp_path / "log.db"))
    log.write(
        [
            PromptLogEntry(
                log_id=f"T{i}",
                timestamp=1_700_000_000.0 + i,
                user_pseudonym="p",
                pseudonym_key_id="k1",
                session_id="s",
                model="m",
                user_message="hello " * 50,
                assistant_response="ok",
                system_prompt_hash=None,
            )
            for i in range(5000)
        ]
    )
    log.close()
    export = subprocess.Popen(
        [*CLI, "logs", "export", "--prompt-log", f"sqlite:///{tmp_path / 'log.db'}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )
    assert export.stdout is not None
    export.stdout.readline()
    export.stdout.close()  # what `head -1` does
    _, stderr = export.communicate(timeout=60)
    assert stderr.decode() == ""
    assert export.returncode == 141
