"""`otel-ai-incident logs purge|erase|scrub|export` through the CLI, against a SQLite file and a PostgreSQL
database (`--prompt-log postgresql://...`), and the one-line errors of a database that cannot be used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from otel_ai_incident.cli import main
from otel_ai_incident.demo.services import free_port
from otel_ai_incident.promptlog.export import read_jsonl
from otel_ai_incident.promptlog.pseudonym import Pseudonymizer
from otel_ai_incident.promptlog.retention import SECONDS_PER_DAY
from otel_ai_incident.promptlog.store import LogQuery
from promptlog_support import NEW_KEY, OLD_KEY, T0, PostgresBackend, SqliteBackend, ids, make_entry

USER = "alice@example.com"
Backend = SqliteBackend | PostgresBackend


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Backend:
    """A prompt log with alice under the old and the new key, and bob under the new one."""
    monkeypatch.setenv("AII_PSEUDONYM_KEY", f"{NEW_KEY.decode()},{OLD_KEY.decode()}")
    monkeypatch.delenv("AII_PSEUDONYM_KEY_FILE", raising=False)
    monkeypatch.delenv("AII_PROMPT_LOG", raising=False)
    monkeypatch.chdir(tmp_path)
    backend: Backend = (
        SqliteBackend(tmp_path)
        if request.param == "sqlite"
        else PostgresBackend(request.getfixturevalue("postgres_url"))
    )
    old, new = Pseudonymizer(OLD_KEY), Pseudonymizer(NEW_KEY)
    store = backend.open()
    store.write(
        [
            make_entry(
                0,
                user_pseudonym=old.pseudonymize(USER),
                pseudonym_key_id=old.key_id,
                user_message="alice secret marker 1",
            ),
            make_entry(
                1,
                user_pseudonym=new.pseudonymize(USER),
                pseudonym_key_id=new.key_id,
                user_message="alice secret marker 2",
                session_id="s-alice",
            ),
            make_entry(2, user_pseudonym=new.pseudonymize("bob"), pseudonym_key_id=new.key_id),
        ]
    )
    store.flag_incident("INC-1", log_ids=[make_entry(1).log_id])
    store.close()
    return backend


def stored_ids(backend: Backend, query: LogQuery | None = None) -> list[str]:
    store = backend.open()
    try:
        return ids(store.query(query or LogQuery()))
    finally:
        store.close()


def test_erase_deletes_every_entry_of_the_user_and_audits_without_personal_data(db: Backend, capsys) -> None:
    assert main(["logs", "erase", "--prompt-log", db.url, "--user", USER]) == 0
    assert capsys.readouterr().out.startswith("erased 2 prompt-log entries; ")
    assert stored_ids(db) == [make_entry(2).log_id]
    assert stored_ids(db, LogQuery(incident_id="INC-1")) == []
    store = db.open()
    [record] = store.audit_log()
    store.close()
    assert (record.action, record.count) == ("erase", 2)
    assert set(record.key_ids) == {Pseudonymizer(NEW_KEY).key_id, Pseudonymizer(OLD_KEY).key_id}
    for secret in (USER, Pseudonymizer(NEW_KEY).pseudonymize(USER), Pseudonymizer(OLD_KEY).pseudonymize(USER)):
        assert secret not in repr(record)
        assert not db.holds_text(secret)
    assert not db.holds_text("alice secret marker")


def test_erase_refuses_without_a_key_or_with_the_id_in_the_reason(db: Backend, monkeypatch, capsys) -> None:
    assert main(["logs", "erase", "--prompt-log", db.url, "--user", USER, "--reason", f"request from {USER}"]) == 2
    monkeypatch.delenv("AII_PSEUDONYM_KEY")  # and the working directory has no ./ai_pseudonym.key
    assert main(["logs", "erase", "--prompt-log", db.url, "--user", USER]) == 2
    assert "AII_PSEUDONYM_KEY or AII_PSEUDONYM_KEY_FILE" in capsys.readouterr().err.splitlines()[-1]
    assert len(stored_ids(db)) == 3


def test_a_shared_log_takes_the_key_only_from_the_environment(db: Backend, tmp_path: Path, monkeypatch, capsys) -> None:
    """A key file left in the working directory is this host's, not the fleet's: a shared log ignores it."""
    monkeypatch.delenv("AII_PSEUDONYM_KEY")
    (tmp_path / "ai_pseudonym.key").write_text(NEW_KEY.decode() + "\n")
    code = main(["logs", "erase", "--prompt-log", db.url, "--user", USER])
    err = capsys.readouterr().err
    if db.name == "postgresql":
        assert code == 2 and "AII_PSEUDONYM_KEY or AII_PSEUDONYM_KEY_FILE" in err and err.count("\n") == 1
        assert len(stored_ids(db)) == 3
        monkeypatch.setenv("AII_PSEUDONYM_KEY_FILE", str(tmp_path / "ai_pseudonym.key"))
        assert main(["logs", "erase", "--prompt-log", db.url, "--user", USER]) == 0
    else:
        assert code == 0
    assert stored_ids(db) == [make_entry(0).log_id, make_entry(2).log_id]  # the new key's entry went


def test_export_round_trips_and_filters(db: Backend, tmp_path: Path, capsys) -> None:
    out = tmp_path / "all.jsonl"
    assert main(["logs", "export", "--prompt-log", db.url, "--out", str(out)]) == 0
    lines = out.read_text("utf-8").splitlines()
    assert len(lines) == 3 and all("system_prompt" not in json.loads(line) for line in lines)
    exported = list(read_jsonl(lines))
    store = db.open()
    assert exported == list(store.query(LogQuery()))
    store.close()
    assert exported[1].incident_id == "INC-1"

    def exported_ids(*args: str) -> list[str]:
        assert main(["logs", "export", "--prompt-log", db.url, *args]) == 0
        return [s.entry.log_id for s in read_jsonl(capsys.readouterr().out.splitlines())]

    assert exported_ids("--user", USER) == [make_entry(0).log_id, make_entry(1).log_id]
    assert exported_ids("--user", USER, "--session", "s-alice") == [make_entry(1).log_id]
    since = "2023-11-14T22:13:21+00:00"  # T0 + 1
    assert exported_ids("--since", since, "--until", "2023-11-14T22:13:22") == [make_entry(1).log_id]
    assert exported_ids("--model", "other") == []


def test_purge_command_honours_days_and_holds(db: Backend, capsys) -> None:
    store = db.open()
    store.write([make_entry(10, timestamp=T0 - 10 * SECONDS_PER_DAY, user_message="old marker")])
    store.close()
    assert main(["logs", "purge", "--prompt-log", db.url, "--days", "1"]) == 0
    assert capsys.readouterr().out.startswith("purged 3 entries")  # entry 1 is held by INC-1
    assert stored_ids(db) == [make_entry(1).log_id]
    assert not db.holds_text("old marker")


def test_scrub_command_redacts_pii_with_the_package_detector(db: Backend, capsys) -> None:
    store = db.open()
    store.write([make_entry(20, user_message="write to jane.doe@example.com please")])
    store.close()
    assert main(["logs", "scrub", "--prompt-log", db.url]) == 0
    assert "redacted PII in 1" in capsys.readouterr().out
    store = db.open()
    scrubbed = store.get(make_entry(20).log_id)
    store.close()
    assert scrubbed is not None and scrubbed.scrubbed_at is not None
    assert scrubbed.entry.user_message == "write to [EMAIL] please"
    assert not db.holds_text("jane.doe@example.com")


def test_the_database_defaults_to_the_environment(tmp_path: Path, monkeypatch, capsys) -> None:
    backend = SqliteBackend(tmp_path)
    store = backend.open()
    store.write([make_entry(0, timestamp=T0 - 90 * SECONDS_PER_DAY)])
    store.close()
    monkeypatch.setenv("AII_PROMPT_LOG", backend.url)
    assert main(["logs", "purge"]) == 0
    assert capsys.readouterr().out.startswith("purged 1 entries")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///{tmp}/no/such/dir.db", "otel-ai-incident: error: no prompt log at "),
        ("postgresql://u@h:port/db", "otel-ai-incident: error: prompt log: malformed PostgreSQL URL"),
        (
            "postgresql://u:pw@127.0.0.1:{port}/db",
            "otel-ai-incident: error: StoreUnavailableError: prompt log at postgresql://u:***@",
        ),
        ("mysql://h/db", "otel-ai-incident: error: prompt log: unsupported URL"),
    ],
)
def test_a_database_that_cannot_be_used_is_one_line_and_exit_code_1(url: str, expected: str, tmp_path, capsys) -> None:
    for command in (["purge"], ["scrub"], ["export"]):
        assert main(["logs", *command, "--prompt-log", url.format(tmp=tmp_path, port=free_port())]) == 1
        err = capsys.readouterr().err
        assert err.startswith(expected) and err.count("\n") == 1, err
        assert "pw" not in err


def test_a_refused_login_is_one_line_naming_the_log(postgres_url: str, capsys) -> None:
    url = postgres_url.replace("postgres@", "nobody_here@", 1)
    assert main(["logs", "purge", "--prompt-log", url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("otel-ai-incident: error: StoreUnavailableError: prompt log at ") and err.count("\n") == 1
    assert 'role "nobody_here" does not exist' in err


def test_every_logs_command_has_help(capsys) -> None:
    for command in ("purge", "erase", "scrub", "export"):
        with pytest.raises(SystemExit) as exit_info:
            main(["logs", command, "--help"])
        assert exit_info.value.code == 0
        help_text = " ".join(capsys.readouterr().out.split())
        assert "--prompt-log URL, --db URL" in help_text and "--db is its old name" in help_text


@pytest.mark.parametrize("option", ["--prompt-log", "--db"])
def test_the_log_is_named_by_prompt_log_or_by_its_old_name_db(db: Backend, option: str, capsys) -> None:
    assert main(["logs", "export", option, db.url]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert main(["logs", "erase", option, db.url, "--user", USER]) == 0
    assert stored_ids(db) == [make_entry(2).log_id]
