"""The prompt log's SQLite store on real files: schema and migrations, queries, holds, retention, erasure."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from otel_ai_incident.promptlog.entry import PromptLogEntry, system_prompt_hash
from otel_ai_incident.promptlog.pseudonym import (
    Pseudonymizer,
    load_key,
    load_keys,
    load_pseudonymizers,
)
from otel_ai_incident.promptlog.retention import SECONDS_PER_DAY, Retention, retention_days
from otel_ai_incident.promptlog.sqlite import MIGRATIONS, SCHEMA_VERSION, SqliteStore, migrate
from otel_ai_incident.promptlog.store import OUTPUT_BLOCK, GuardrailMatch, LogQuery, open_store
from otel_ai_incident.storage.errors import SchemaTooNewError

T0 = 1_700_000_000.0
OLD_KEY = b"old-key-0123456789abcdef"
NEW_KEY = b"new-key-0123456789abcdef"


def make_entry(i: int, **fields: object) -> PromptLogEntry:
    """Entry number i, one second after entry i - 1; keyword arguments override any field."""
    values: dict[str, object] = {
        "log_id": f"{int(T0 * 1000) + i:012x}{i:016x}",
        "timestamp": T0 + i,
        "user_pseudonym": f"user-{i % 3}",
        "pseudonym_key_id": "k1",
        "session_id": f"session-{i % 4}",
        "model": "gpt-4o-mini",
        "system_prompt_hash": None,
        "user_message": f"question {i}",
        "assistant_response": f"answer {i}",
    }
    values.update(fields)
    return PromptLogEntry(**values)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path):
    s = SqliteStore(str(tmp_path / "log.db"))
    yield s
    s.close()


def ids(entries) -> list[str]:
    return [stored.entry.log_id for stored in entries]


# -- pseudonyms and keys --------------------------------------------------------------------------------


def test_pseudonym_is_not_a_plain_hash_of_the_id() -> None:
    user_id = "Alice@Example.com"
    pseudonym = Pseudonymizer(NEW_KEY).pseudonymize(user_id)
    encodings = [user_id.encode("utf-8"), user_id.encode("utf-16"), user_id.encode("utf-16-le"),
                 user_id.lower().encode("utf-8"), user_id.lower().encode("utf-16")]
    for data in encodings:
        for algorithm in ("sha256", "sha1", "md5"):
            digest = hashlib.new(algorithm, data).hexdigest()
            assert pseudonym not in digest and digest[:16] not in pseudonym
    assert user_id.lower() not in pseudonym.lower()


def test_keys_rotate_through_the_environment_and_a_key_file(tmp_path: Path) -> None:
    env = {"AII_PSEUDONYM_KEY": f"{NEW_KEY.decode()}, {OLD_KEY.decode()}"}
    assert load_keys(env) == [NEW_KEY, OLD_KEY]
    assert load_key(env) == NEW_KEY
    key_file = tmp_path / "keys"
    key_file.write_text(f"# current first\n{NEW_KEY.decode()}\n\n{OLD_KEY.decode()}\n")
    file_env = {"AII_PSEUDONYM_KEY_FILE": str(key_file)}
    assert [p.key_id for p in load_pseudonymizers(file_env)] == [
        Pseudonymizer(NEW_KEY).key_id, Pseudonymizer(OLD_KEY).key_id,
    ]


def test_a_missing_key_is_created_only_when_asked(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no default key file here
    key_file = tmp_path / "created"
    env = {"AII_PSEUDONYM_KEY_FILE": str(key_file)}
    assert load_keys(env, create=False) == []
    assert load_keys({}, create=False) == []
    key = load_key(env)
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert load_keys(env, create=False) == [key]


def test_without_settings_the_app_creates_one_key_file_and_reuses_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_keys({}, create=False) == []
    key = load_key({})
    default = tmp_path / "ai_pseudonym.key"
    assert default.stat().st_mode & 0o777 == 0o600
    assert load_key({}) == key and load_keys({}, create=False) == [key]


# -- opening and schema ---------------------------------------------------------------------------------


def test_open_store_takes_a_relative_path_after_the_scheme(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///sub.db")
    store.write([make_entry(1)])
    store.close()
    assert (tmp_path / "sub.db").exists()
    with pytest.raises(ValueError):
        open_store("postgres://db/log")


def test_opening_an_unwritable_location_fails_on_use_not_on_open(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/missing/dir/log.db")
    with pytest.raises(sqlite3.OperationalError):
        store.write([make_entry(1)])


def test_schema_is_versioned_indexed_and_in_wal_mode(store: SqliteStore) -> None:
    store.write([make_entry(1)])
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
    indexes = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"prompt_log_time", "prompt_log_session", "prompt_log_user", "prompt_log_model",
            "prompt_log_flagged", "prompt_log_incident"} <= indexes
    plan = conn.execute("EXPLAIN QUERY PLAN SELECT * FROM prompt_log WHERE user_pseudonym IN ('a', 'b') "
                        "AND timestamp >= 0").fetchall()
    assert "prompt_log_user" in str(plan)


def test_an_older_schema_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, MIGRATIONS[:1]) == 1
    conn.execute(
        "INSERT INTO prompt_log (log_id, timestamp, model, guardrail_decisions, tool_calls, outcome, refused) "
        "VALUES ('old', ?, 'm', '[]', '[]', 'ok', 0)", (T0,),
    )
    conn.close()
    store = SqliteStore(str(path))
    old = store.get("old")
    assert old is not None and old.incident_id is None and old.scrubbed_at is None
    assert store.flag_incident("INC-1", log_ids=["old"]) == 1
    assert store.get("old").incident_id == "INC-1"  # type: ignore[union-attr]
    store.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_newer_schema_is_refused_rather_than_written(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    sqlite3.connect(path).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaTooNewError):
        SqliteStore(str(path)).get("x")


# -- writing and reading --------------------------------------------------------------------------------


def test_every_field_round_trips(store: SqliteStore) -> None:
    entry = PromptLogEntry(
        log_id="018f00000000aaaabbbbccccdddd", timestamp=T0, user_pseudonym="p", pseudonym_key_id="k",
        session_id="s", model="m", system_prompt_hash="h", user_message="ü question", assistant_response="a",
        input_tokens=12, output_tokens=34,
        guardrail_decisions=[{"guardrail": "pii", "stage": "output", "decision": "redact", "score": 0.5}],
        tool_calls=[{"tool": "search", "arguments": {"q": "x"}, "writes": False, "anomaly_score": 0.1}],
        latency_ms=12.5, outcome="error", refused=True, error_type="TimeoutError", trace_id="t" * 32,
        span_id="s" * 16, prompt_name="support", prompt_version="7", incident_flag=False,
    )  # fmt: skip
    store.write([entry])
    stored = store.get(entry.log_id)
    assert stored is not None and stored.entry == entry
    assert type(stored.entry.refused) is bool
    assert store.get("no-such-id") is None


def test_system_prompts_are_stored_once_by_hash(store: SqliteStore) -> None:
    prompt = "You are a support bot."
    digest = system_prompt_hash(prompt)
    store.write([make_entry(i, system_prompt=prompt, system_prompt_hash=digest) for i in range(3)])
    SqliteStore(store.path).write([make_entry(9, system_prompt=prompt, system_prompt_hash=digest)])
    assert store.get_system_prompt(digest) == prompt
    assert store.get_system_prompt("unknown") is None
    conn = sqlite3.connect(store.path)
    assert conn.execute("SELECT COUNT(*), MIN(first_seen) FROM system_prompts").fetchone() == (1, T0)
    assert store.get(make_entry(0).log_id).entry.system_prompt is None  # type: ignore[union-attr]


def test_a_replayed_entry_is_ignored_not_a_failed_batch(store: SqliteStore) -> None:
    store.write([make_entry(1)])
    store.write([make_entry(1), make_entry(2)])
    assert ids(store.query(LogQuery())) == [make_entry(1).log_id, make_entry(2).log_id]


@pytest.fixture
def varied(store: SqliteStore) -> SqliteStore:
    """Entries 0..11: users cycle over three pseudonyms, sessions over four, two models, some blocks."""
    block_out = [{"guardrail": "toxicity", "stage": "output", "decision": "block", "score": 0.9}]
    block_in = [{"guardrail": "injection", "stage": "input", "decision": "block", "score": 0.9}]
    entries = []
    for i in range(12):
        guardrails = block_out if i in (2, 5, 7) else block_in if i == 3 else []
        entries.append(make_entry(i, model="gpt-4o" if i % 2 else "gpt-4o-mini", guardrail_decisions=guardrails))
    store.write(entries)
    return store


def test_query_filters(varied: SqliteStore) -> None:
    def query(**kw: object) -> list[int]:
        return [int(s.entry.log_id[12:], 16) for s in varied.query(LogQuery(**kw))]  # type: ignore[arg-type]

    assert query() == list(range(12))
    assert query(since=T0 + 3, until=T0 + 6) == [3, 4, 5]
    assert query(session_id="session-1") == [1, 5, 9]
    assert query(model="gpt-4o") == [1, 3, 5, 7, 9, 11]
    assert query(guardrail=OUTPUT_BLOCK) == [2, 5, 7]
    assert query(guardrail=GuardrailMatch(decision="block")) == [2, 3, 5, 7]
    assert query(guardrail=GuardrailMatch(guardrail="injection")) == [3]
    assert query(guardrail=OUTPUT_BLOCK, model="gpt-4o", since=T0 + 3) == [5, 7]
    assert query(limit=2) == [0, 1]
    assert query(user_pseudonyms=frozenset()) == []
    assert query(incident_flag=True) == []


def test_a_user_is_found_under_every_live_key(store: SqliteStore) -> None:
    old, new = Pseudonymizer(OLD_KEY), Pseudonymizer(NEW_KEY)
    store.write([
        make_entry(1, user_pseudonym=old.pseudonymize("alice"), pseudonym_key_id=old.key_id),
        make_entry(2, user_pseudonym=new.pseudonymize("alice"), pseudonym_key_id=new.key_id),
        make_entry(3, user_pseudonym=new.pseudonymize("bob"), pseudonym_key_id=new.key_id),
    ])
    assert ids(store.query(LogQuery.for_user("alice", [new, old]))) == [make_entry(1).log_id, make_entry(2).log_id]
    assert ids(store.query(LogQuery.for_user("alice", [new]))) == [make_entry(2).log_id]
    assert ids(store.query(LogQuery.for_user("alice", [new, old], since=T0 + 2))) == [make_entry(2).log_id]


def test_aggregations_for_containment(varied: SqliteStore) -> None:
    assert varied.top_users(T0, T0 + 12, guardrail=OUTPUT_BLOCK) == [("user-2", 2), ("user-1", 1)]
    assert varied.top_users(T0, T0 + 12, limit=1) == [("user-0", 4)]
    assert varied.top_users(T0 + 100, T0 + 200) == []
    assert varied.count_affected(T0, T0 + 12) == (3, 4, 12)
    assert varied.count_affected(T0, T0 + 12, LogQuery(guardrail=OUTPUT_BLOCK, since=0, until=1)) == (2, 3, 3)
    assert varied.count_affected(T0 + 5, T0 + 6) == (1, 1, 1)


def test_most_anomalous_tool(store: SqliteStore) -> None:
    def calls(*scored: tuple[str, float | None]) -> list[dict[str, object]]:
        return [{"tool": tool, "anomaly_score": score} for tool, score in scored]

    store.write([
        make_entry(0, tool_calls=calls(("search", 0.2), ("delete_record", 0.7))),
        make_entry(1, tool_calls=calls(("delete_record", 0.95), ("search", None))),
        make_entry(2, tool_calls=calls(("send_email", 0.99))),  # outside the window below
        make_entry(3),
    ])
    assert store.most_anomalous_tool(T0, T0 + 2) == "delete_record"
    assert store.most_anomalous_tool(T0, T0 + 3) == "send_email"
    assert store.most_anomalous_tool(T0 + 3, T0 + 4) is None


def test_flag_incident_by_ids_or_by_predicate(varied: SqliteStore) -> None:
    assert varied.flag_incident("INC-1", log_ids=[make_entry(0).log_id, make_entry(1).log_id]) == 2
    assert varied.flag_incident("INC-2", where=LogQuery(guardrail=OUTPUT_BLOCK, since=T0 + 1)) == 3
    assert varied.flag_incident("INC-2", log_ids=[make_entry(1).log_id]) == 1
    flagged = {s.entry.log_id: s.incident_id for s in varied.query(LogQuery(incident_flag=True))}
    assert flagged == {make_entry(i).log_id: "INC-1" if i < 2 else "INC-2" for i in (0, 1, 2, 5, 7)}
    assert len(ids(varied.query(LogQuery(incident_id="INC-2")))) == 4
    assert len(ids(varied.query(LogQuery(incident_flag=False)))) == 7
    with pytest.raises(ValueError):
        varied.flag_incident("INC-3")


# -- retention and legal hold ---------------------------------------------------------------------------


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_retention_purges_old_entries_except_those_an_open_incident_holds(store: SqliteStore) -> None:
    day = SECONDS_PER_DAY
    store.write([make_entry(i, timestamp=T0 - age * day) for i, age in enumerate((40, 35, 31, 29, 1))])
    store.flag_incident("INC-OPEN", log_ids=[make_entry(1).log_id])
    store.flag_incident("INC-CLOSED", log_ids=[make_entry(2).log_id])
    store.release_hold("INC-CLOSED")
    clock = FakeClock(T0)
    retention = Retention(30, batch_size=1, clock=clock)
    assert retention.purge(store) == 2
    assert ids(store.query(LogQuery())) == [make_entry(i).log_id for i in (1, 3, 4)]
    clock.now += 2 * day
    assert retention.purge(store) == 1
    assert store.release_hold("INC-OPEN") == 1
    assert retention.purge(store) == 1
    assert ids(store.query(LogQuery())) == [make_entry(4).log_id]


def test_an_entry_in_two_incidents_stays_held_until_both_close(store: SqliteStore) -> None:
    store.write([make_entry(0, timestamp=T0 - 90 * SECONDS_PER_DAY)])
    store.flag_incident("A", log_ids=[make_entry(0).log_id])
    store.flag_incident("B", log_ids=[make_entry(0).log_id])
    retention = Retention(30, clock=FakeClock(T0))
    store.release_hold("A")
    assert retention.purge(store) == 0
    store.release_hold("B")
    assert retention.purge(store) == 1


def test_purge_step_deletes_a_batch_at_a_time_then_waits_for_the_interval(store: SqliteStore) -> None:
    store.write([make_entry(i, timestamp=T0 - 60 * SECONDS_PER_DAY) for i in range(5)])
    clock = FakeClock(T0)
    retention = Retention(30, batch_size=2, interval=3600, clock=clock)
    assert [retention.purge_step(store) for _ in range(4)] == [2, 2, 1, 0]
    store.write([make_entry(9, timestamp=T0 - 60 * SECONDS_PER_DAY)])
    clock.now += 3599
    assert retention.purge_step(store) == 0
    clock.now += 1
    assert retention.purge_step(store) == 1


def test_retention_days_from_the_environment() -> None:
    assert retention_days({}) == 30
    assert retention_days({"AII_PROMPT_LOG_RETENTION_DAYS": "7"}) == 7
    assert retention_days({"AII_PROMPT_LOG_RETENTION_DAYS": "-1"}) == 30
    assert retention_days({"AII_PROMPT_LOG_RETENTION_DAYS": "soon"}) == 30
    with pytest.raises(ValueError):
        Retention(0)


# -- scrubbing ------------------------------------------------------------------------------------------


def test_scrub_redacts_in_place_once_and_records_when(store: SqliteStore) -> None:
    store.write([make_entry(0, user_message="mail me at a@b.example", assistant_response=None),
                 make_entry(1, user_message="nothing here")])

    def redact(text: str) -> str:
        return text.replace("a@b.example", "[EMAIL]")

    assert store.scrub(redact, now=T0 + 50, batch_size=1) == (2, 1)
    first = store.get(make_entry(0).log_id)
    assert first is not None and first.entry.user_message == "mail me at [EMAIL]"
    assert first.entry.assistant_response is None and first.scrubbed_at == T0 + 50
    assert store.get(make_entry(1).log_id).scrubbed_at == T0 + 50  # type: ignore[union-attr]
    assert store.scrub(redact, now=T0 + 60) == (0, 0)
    assert b"a@b.example" not in _file_bytes(store.path)
    assert [(r.action, r.count) for r in store.audit_log()] == [("scrub", 1)]


def _file_bytes(path: str) -> bytes:
    """The database and its WAL as raw bytes: what a disk image would show."""
    return b"".join(p.read_bytes() for p in (Path(path), Path(path + "-wal")) if p.exists())
