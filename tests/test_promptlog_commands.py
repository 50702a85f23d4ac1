"""`otel-ai-incident logs purge|erase|scrub|export` against real SQLite files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from otel_ai_incident.cli import main
from otel_ai_incident.promptlog.export import read_jsonl
from otel_ai_incident.promptlog.pseudonym import Pseudonymizer
from otel_ai_incident.promptlog.retention import SECONDS_PER_DAY
from otel_ai_incident.promptlog.sqlite import SqliteStore
from otel_ai_incident.promptlog.store import LogQuery, open_store
from test_promptlog_store import NEW_KEY, OLD_KEY, T0, make_entry

USER = "alice@example.com"


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A prompt log with alice under the old and the new key, and bob under the new one."""
    monkeypatch.setenv("AII_PSEUDONYM_KEY", f"{NEW_KEY.decode()},{OLD_KEY.decode()}")
    monkeypatch.delenv("AII_PSEUDONYM_KEY_FILE", raising=False)
    old, new = Pseudonymizer(OLD_KEY), Pseudonymizer(NEW_KEY)
    path = str(tmp_path / "log.db")
    store = SqliteStore(path)
    store.write([
        make_entry(0, user_pseudonym=old.pseudonymize(USER), pseudonym_key_id=old.key_id,
                   user_message="alice secret marker 1"),
        make_entry(1, user_pseudonym=new.pseudonymize(USER), pseudonym_key_id=new.key_id,
                   user_message="alice secret marker 2", session_id="s-alice"),
        make_entry(2, user_pseudonym=new.pseudonymize("bob"), pseudonym_key_id=new.key_id),
    ])
    store.flag_incident("INC-1", log_ids=[make_entry(1).log_id])
    store.close()
    monkeypatch.setenv("AII_PROMPT_LOG", f"sqlite:///{path}")
    return path


def test_erase_deletes_every_entry_of_the_user_and_audits_without_personal_data(db: str, capsys) -> None:
    assert main(["logs", "erase", "--user", USER]) == 0
    assert capsys.readouterr().out.strip() == "erased 2 entries"
    store = SqliteStore(db)
    remaining = list(store.query(LogQuery()))
    assert [s.entry.log_id for s in remaining] == [make_entry(2).log_id]
    [record] = store.audit_log()
    assert (record.action, record.count) == ("erase", 2)
    assert set(record.key_ids) == {Pseudonymizer(NEW_KEY).key_id, Pseudonymizer(OLD_KEY).key_id}
    audit_text = json.dumps(sqlite3.connect(db).execute("SELECT * FROM audit_log").fetchall())
    for secret in (USER, Pseudonymizer(NEW_KEY).pseudonymize(USER), Pseudonymizer(OLD_KEY).pseudonymize(USER)):
        assert secret not in audit_text
    held = sqlite3.connect(db).execute("SELECT COUNT(*) FROM incident_entries").fetchone()[0]
    assert held == 0
    raw = b"".join(p.read_bytes() for p in (Path(db), Path(db + "-wal")) if p.exists())
    assert b"alice secret marker" not in raw


def test_erase_refuses_without_a_key_or_with_the_id_in_the_reason(
    db: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    assert main(["logs", "erase", "--user", USER, "--reason", f"request from {USER}"]) == 2
    monkeypatch.delenv("AII_PSEUDONYM_KEY")
    monkeypatch.chdir(tmp_path)  # no default key file (./ai_pseudonym.key) to fall back on
    assert main(["logs", "erase", "--user", USER]) == 2
    assert "no pseudonym key" in capsys.readouterr().err
    assert len(list(SqliteStore(db).query(LogQuery()))) == 3


def test_export_round_trips_and_filters(db: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "all.jsonl"
    assert main(["logs", "export", "--out", str(out)]) == 0
    lines = out.read_text("utf-8").splitlines()
    assert len(lines) == 3 and all("system_prompt" not in json.loads(line) for line in lines)
    exported = list(read_jsonl(lines))
    assert exported == list(SqliteStore(db).query(LogQuery()))
    assert exported[1].incident_id == "INC-1"

    def exported_ids(*args: str) -> list[str]:
        assert main(["logs", "export", *args]) == 0
        return [s.entry.log_id for s in read_jsonl(capsys.readouterr().out.splitlines())]

    assert exported_ids("--user", USER) == [make_entry(0).log_id, make_entry(1).log_id]
    assert exported_ids("--user", USER, "--session", "s-alice") == [make_entry(1).log_id]
    since = "2023-11-14T22:13:21+00:00"  # T0 + 1
    assert exported_ids("--since", since, "--until", "2023-11-14T22:13:22") == [make_entry(1).log_id]
    assert exported_ids("--model", "other") == []


def test_purge_command_honours_days_and_holds(db: str, capsys) -> None:
    store = SqliteStore(db)
    store.write([make_entry(10, timestamp=T0 - 10 * SECONDS_PER_DAY)])
    store.close()
    assert main(["logs", "purge", "--days", "1"]) == 0
    assert capsys.readouterr().out.startswith("purged 3 entries")  # entry 1 is held by INC-1
    assert [s.entry.log_id for s in open_store(f"sqlite:///{db}").query(LogQuery())] == [make_entry(1).log_id]


def test_scrub_command_redacts_pii_with_the_package_detector(db: str, capsys) -> None:
    store = SqliteStore(db)
    store.write([make_entry(20, user_message="write to jane.doe@example.com please")])
    store.close()
    assert main(["logs", "scrub"]) == 0
    assert "redacted PII in 1" in capsys.readouterr().out
    scrubbed = SqliteStore(db).get(make_entry(20).log_id)
    assert scrubbed is not None and scrubbed.scrubbed_at is not None
    assert scrubbed.entry.user_message == "write to [EMAIL] please"


def test_commands_report_a_bad_database_as_an_error(tmp_path: Path, capsys) -> None:
    assert main(["logs", "purge", "--db", f"sqlite:///{tmp_path}/no/such/dir.db"]) == 1
    assert "error:" in capsys.readouterr().err


def test_every_logs_command_has_help(capsys) -> None:
    for command in ("purge", "erase", "scrub", "export"):
        with pytest.raises(SystemExit) as exit_info:
            main(["logs", command, "--help"])
        assert exit_info.value.code == 0
        assert "--db" in capsys.readouterr().out
