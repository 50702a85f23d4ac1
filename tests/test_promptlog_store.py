"""The prompt log's contract (`promptlog.store.PromptLogStore`), run against every backend: SQLite on a real
file and PostgreSQL on a real server. New behaviour of the store is tested here, not in one backend's tests."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_ai_incident.promptlog.backends import open_store
from otel_ai_incident.promptlog.entry import PromptLogEntry, system_prompt_hash
from otel_ai_incident.promptlog.pseudonym import Pseudonymizer
from otel_ai_incident.promptlog.retention import SECONDS_PER_DAY, Retention, retention_days
from otel_ai_incident.promptlog.rows import sanitized
from otel_ai_incident.promptlog.store import OUTPUT_BLOCK, GuardrailMatch, LogQuery, PromptLogStore
from otel_ai_incident.storage.errors import SchemaTooNewError
from promptlog_support import NEW_KEY, OLD_KEY, T0, FakeClock, PostgresBackend, SqliteBackend, ids, make_entry

Backend = SqliteBackend | PostgresBackend


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return SqliteBackend(tmp_path)
    return PostgresBackend(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(backend: Backend) -> Iterator[PromptLogStore]:
    s = backend.open()
    yield s
    s.close()


def test_open_store_refuses_a_url_of_no_backend_naming_the_store() -> None:
    for url in ("mysql://db/log", "sqlite://relative.db", "ai_prompt_log.db"):
        with pytest.raises(ValueError, match="prompt log: unsupported URL"):
            open_store(url)


# -- schema ---------------------------------------------------------------------------------------------


def test_a_newer_schema_is_refused_rather_than_written(backend: Backend) -> None:
    backend.make_schema_too_new()
    store = backend.open()
    with pytest.raises(SchemaTooNewError):
        store.write([make_entry(1)])
    with pytest.raises(SchemaTooNewError):
        store.get("x")
    store.close()


# -- writing and reading --------------------------------------------------------------------------------


def test_every_field_round_trips(store: PromptLogStore) -> None:
    entry = PromptLogEntry(
        log_id="018f00000000aaaabbbbccccdddd",
        timestamp=T0 + 0.123456,
        user_pseudonym="p",
        pseudonym_key_id="k",
        session_id="s",
        model="m",
        system_prompt_hash="h",
        user_message="ü question\n\t\\",
        assistant_response="a",
        input_tokens=12,
        output_tokens=34,
        guardrail_decisions=[{"guardrail": "pii", "stage": "output", "decision": "redact", "score": 0.5}],
        tool_calls=[
            {
                "tool": "search",
                "arguments": {"q": "x", "n": [1, 2.5, None, True]},
                "writes": False,
                "anomaly_score": 0.1,
            }
        ],
        latency_ms=12.5,
        outcome="error",
        refused=True,
        error_type="TimeoutError",
        trace_id="t" * 32,
        span_id="s" * 16,
        prompt_name="support",
        prompt_version="7",
        incident_flag=False,
    )
    store.write([entry])
    stored = store.get(entry.log_id)
    assert stored is not None and stored.entry == entry
    assert (stored.incident_id, stored.scrubbed_at) == (None, None)
    assert type(stored.entry.refused) is bool and type(stored.entry.timestamp) is float
    assert store.get("no-such-id") is None


def test_a_batch_whose_entries_leave_different_fields_empty_round_trips(store: PromptLogStore) -> None:
    entries = [
        make_entry(0),
        make_entry(1, user_pseudonym=None, pseudonym_key_id=None, session_id=None, refused=True),
        make_entry(2, user_message=None, assistant_response=None, input_tokens=3, incident_flag=True),
        make_entry(3),
        make_entry(4, session_id=None, latency_ms=None, error_type="TimeoutError"),
    ]
    store.write(entries)
    assert [stored.entry for stored in store.query(LogQuery())] == entries


def test_scrubbed_at_is_stamped_on_write(store: PromptLogStore) -> None:
    store.write([make_entry(1)], scrubbed_at=T0 + 5)
    assert store.get(make_entry(1).log_id).scrubbed_at == T0 + 5  # type: ignore[union-attr]


def test_system_prompts_are_stored_once_by_hash(backend: Backend, store: PromptLogStore) -> None:
    prompt = "You are a support bot."
    digest = system_prompt_hash(prompt)
    store.write([make_entry(i, system_prompt=prompt, system_prompt_hash=digest) for i in range(3)])
    replica = backend.open()  # another process, which has not seen the prompt yet
    replica.write([make_entry(9, system_prompt="changed text, same hash", system_prompt_hash=digest)])
    replica.close()
    assert store.get_system_prompt(digest) == prompt
    assert store.get_system_prompt("unknown") is None
    stored = store.get(make_entry(0).log_id)
    assert stored is not None and stored.entry.system_prompt is None and stored.entry.system_prompt_hash == digest


def test_rewriting_a_batch_is_idempotent(backend: Backend, store: PromptLogStore) -> None:
    """What the writer does when a commit's outcome was unknown: the same batch again, maybe with more."""
    batch = [make_entry(i) for i in range(5)]
    store.write(batch)
    store.write(batch)
    replica = backend.open()
    replica.write([*batch[3:], make_entry(5), make_entry(5)])
    replica.close()
    assert ids(store.query(LogQuery())) == [make_entry(i).log_id for i in range(6)]
    first = store.get(make_entry(0).log_id)
    assert first is not None and first.entry == batch[0]


def test_text_a_database_refuses_is_replaced_not_the_batch_lost(store: PromptLogStore) -> None:
    nul = make_entry(1, user_message="nul \x00 inside", session_id="s\x00", tool_calls=[{"tool": "t\x00"}])
    surrogate = make_entry(4, assistant_response="lone \ud800 surrogate", guardrail_decisions=[{"k\udfff": 1}])
    nan = make_entry(
        7,
        guardrail_decisions=[{"guardrail": "g", "score": math.nan}],
        tool_calls=[{"tool": "t", "anomaly_score": math.inf, "arguments": {"x": -math.inf}}],
    )
    for odd in (nul, surrogate, nan):
        number = int(odd.log_id[12:], 16)
        store.write([make_entry(number - 1), odd, make_entry(number + 1)])
    assert ids(store.query(LogQuery())) == [make_entry(i).log_id for i in range(9)]
    for odd in (nul, surrogate, nan):
        stored = store.get(odd.log_id)
        assert stored is not None
        # SQLite holds NUL characters as they are; what no backend holds is replaced.
        assert stored.entry == sanitized(odd) or (odd is nul and stored.entry == odd)
    assert sanitized(surrogate).assistant_response == "lone \ufffd surrogate"
    assert store.get(nan.log_id).entry.tool_calls == [  # type: ignore[union-attr]
        {"tool": "t", "anomaly_score": None, "arguments": {"x": None}}
    ]


@pytest.fixture
def varied(store: PromptLogStore) -> PromptLogStore:
    """Entries 0..11: users cycle over three pseudonyms, sessions over four, two models, some blocks."""
    block_out = [{"guardrail": "toxicity", "stage": "output", "decision": "block", "score": 0.9}]
    block_in = [{"guardrail": "injection", "stage": "input", "decision": "block", "score": 0.9}]
    allow = [{"guardrail": "toxicity", "stage": "output", "decision": "allow", "score": 0.1}]
    entries = []
    for i in range(12):
        guardrails = block_out if i in (2, 5, 7) else block_in if i == 3 else allow if i == 4 else []
        entries.append(make_entry(i, model="gpt-4o" if i % 2 else "gpt-4o-mini", guardrail_decisions=guardrails))
    store.write(entries)
    return store


def numbers(store: PromptLogStore, **filters: object) -> list[int]:
    return [int(s.entry.log_id[12:], 16) for s in store.query(LogQuery(**filters))]  # type: ignore[arg-type]


def test_query_filters_on_every_field(varied: PromptLogStore) -> None:
    assert numbers(varied) == list(range(12))
    assert numbers(varied, since=T0 + 3, until=T0 + 6) == [3, 4, 5]
    assert numbers(varied, since=T0 + 10) == [10, 11]
    assert numbers(varied, until=T0 + 2) == [0, 1]
    assert numbers(varied, session_id="session-1") == [1, 5, 9]
    assert numbers(varied, user_pseudonyms=frozenset({"user-1", "user-2"}), until=T0 + 6) == [1, 2, 4, 5]
    assert numbers(varied, user_pseudonyms=frozenset()) == []
    assert numbers(varied, model="gpt-4o") == [1, 3, 5, 7, 9, 11]
    assert numbers(varied, guardrail=OUTPUT_BLOCK) == [2, 5, 7]
    assert numbers(varied, guardrail=GuardrailMatch(decision="block")) == [2, 3, 5, 7]
    assert numbers(varied, guardrail=GuardrailMatch(guardrail="injection")) == [3]
    assert numbers(varied, guardrail=GuardrailMatch(guardrail="toxicity", decision="allow")) == [4]
    assert numbers(varied, guardrail=GuardrailMatch()) == [2, 3, 4, 5, 7]
    assert numbers(varied, guardrail=OUTPUT_BLOCK, model="gpt-4o", since=T0 + 3) == [5, 7]
    assert numbers(varied, limit=2) == [0, 1]
    assert numbers(varied, limit=0) == []
    assert numbers(varied, incident_flag=True) == []
    varied.flag_incident("INC-9", log_ids=[make_entry(4).log_id, make_entry(8).log_id])
    assert numbers(varied, incident_flag=True) == [4, 8]
    assert numbers(varied, incident_flag=False, since=T0 + 7, until=T0 + 10) == [7, 9]
    assert numbers(varied, incident_id="INC-9") == [4, 8]
    assert numbers(varied, incident_id="INC-0") == []


def test_query_orders_by_time_then_id_and_reads_past_any_page(store: PromptLogStore) -> None:
    same_time = [make_entry(i, timestamp=T0) for i in range(30)]
    store.write(same_time[::-1])
    many = [make_entry(100 + i, timestamp=T0 + 1 + i / 1000) for i in range(2500)]
    store.write(many[1200:])
    store.write(many[:1200])
    expected = [e.log_id for e in same_time + many]
    assert ids(store.query(LogQuery())) == expected
    assert ids(store.query(LogQuery(limit=2001))) == expected[:2001]
    assert ids(store.query(LogQuery(since=T0 + 1, session_id="session-2"))) == [
        e.log_id for e in many if e.session_id == "session-2"
    ]


def test_a_user_is_found_under_every_live_key(store: PromptLogStore) -> None:
    old, new = Pseudonymizer(OLD_KEY), Pseudonymizer(NEW_KEY)
    store.write(
        [
            make_entry(1, user_pseudonym=old.pseudonymize("alice"), pseudonym_key_id=old.key_id),
            make_entry(2, user_pseudonym=new.pseudonymize("alice"), pseudonym_key_id=new.key_id),
            make_entry(3, user_pseudonym=new.pseudonymize("bob"), pseudonym_key_id=new.key_id),
        ]
    )
    assert ids(store.query(LogQuery.for_user("alice", [new, old]))) == [make_entry(1).log_id, make_entry(2).log_id]
    assert ids(store.query(LogQuery.for_user("alice", [new]))) == [make_entry(2).log_id]
    assert ids(store.query(LogQuery.for_user("alice", [new, old], since=T0 + 2))) == [make_entry(2).log_id]


def test_aggregations_for_containment(varied: PromptLogStore) -> None:
    assert varied.top_users(T0, T0 + 12, guardrail=OUTPUT_BLOCK) == [("user-2", 2), ("user-1", 1)]
    assert varied.top_users(T0, T0 + 12, limit=1) == [("user-0", 4)]
    assert varied.top_users(T0, T0 + 12) == [("user-0", 4), ("user-1", 4), ("user-2", 4)]
    assert varied.top_users(T0 + 100, T0 + 200) == []
    assert varied.count_affected(T0, T0 + 12) == (3, 4, 12)
    assert varied.count_affected(T0, T0 + 12, LogQuery(guardrail=OUTPUT_BLOCK, since=0, until=1)) == (2, 3, 3)
    assert varied.count_affected(T0 + 5, T0 + 6) == (1, 1, 1)
    assert varied.count_affected(T0 + 100, T0 + 200) == (0, 0, 0)


def test_users_without_a_pseudonym_are_not_ranked(store: PromptLogStore) -> None:
    store.write([make_entry(i, user_pseudonym=None) for i in range(3)] + [make_entry(3)])
    assert store.top_users(T0, T0 + 4) == [("user-0", 1)]
    assert store.count_affected(T0, T0 + 4) == (1, 4, 4)


def test_most_anomalous_tool(store: PromptLogStore) -> None:
    def calls(*scored: tuple[str, float | None]) -> list[dict[str, object]]:
        return [{"tool": tool, "anomaly_score": score} for tool, score in scored]

    store.write(
        [
            make_entry(0, tool_calls=calls(("search", 0.2), ("delete_record", 0.7))),
            make_entry(1, tool_calls=calls(("delete_record", 0.95), ("search", None))),
            make_entry(2, tool_calls=calls(("send_email", 0.99))),  # outside the first window below
            make_entry(3),
            make_entry(4, tool_calls=calls(("a", 0.5), ("b", 0.5), ("b", 0.1), ("c", 0.5), ("c", 0.4))),
        ]
    )
    assert store.most_anomalous_tool(T0, T0 + 2) == "delete_record"
    assert store.most_anomalous_tool(T0, T0 + 3) == "send_email"
    assert store.most_anomalous_tool(T0 + 3, T0 + 4) is None
    assert store.most_anomalous_tool(T0 + 4, T0 + 5) == "a"  # ties on the maximum: the higher mean, then name


def test_flag_incident_by_ids_or_by_predicate(varied: PromptLogStore) -> None:
    assert varied.flag_incident("INC-1", log_ids=[make_entry(0).log_id, make_entry(1).log_id]) == 2
    assert varied.flag_incident("INC-2", where=LogQuery(guardrail=OUTPUT_BLOCK, since=T0 + 1)) == 3
    assert varied.flag_incident("INC-2", log_ids=[make_entry(1).log_id]) == 1
    assert varied.flag_incident("INC-3", log_ids=["no-such-id"]) == 0
    flagged = {s.entry.log_id: s.incident_id for s in varied.query(LogQuery(incident_flag=True))}
    assert flagged == {make_entry(i).log_id: "INC-1" if i < 2 else "INC-2" for i in (0, 1, 2, 5, 7)}
    assert all(s.entry.incident_flag for s in varied.query(LogQuery(incident_flag=True)))
    assert len(ids(varied.query(LogQuery(incident_id="INC-2")))) == 4
    assert len(ids(varied.query(LogQuery(incident_flag=False)))) == 7
    with pytest.raises(ValueError):
        varied.flag_incident("INC-3")
    with pytest.raises(ValueError):
        varied.flag_incident("INC-3", log_ids=["x"], where=LogQuery())


# -- retention and legal hold ---------------------------------------------------------------------------


def test_retention_purges_old_entries_except_those_an_open_incident_holds(store: PromptLogStore) -> None:
    day = SECONDS_PER_DAY
    store.write([make_entry(i, timestamp=T0 - age * day) for i, age in enumerate((40, 35, 31, 29, 1))])
    store.flag_incident("INC-OPEN", log_ids=[make_entry(1).log_id])
    store.flag_incident("INC-CLOSED", log_ids=[make_entry(2).log_id])
    assert store.release_hold("INC-CLOSED") == 1
    assert store.release_hold("INC-CLOSED") == 0
    clock = FakeClock(T0)
    retention = Retention(30, batch_size=1, clock=clock)
    assert retention.purge(store) == 2
    assert ids(store.query(LogQuery())) == [make_entry(i).log_id for i in (1, 3, 4)]
    clock.now += 2 * day
    assert retention.purge(store) == 1
    assert store.release_hold("INC-OPEN") == 1
    assert retention.purge(store) == 1
    assert ids(store.query(LogQuery())) == [make_entry(4).log_id]


def test_an_entry_in_two_incidents_stays_held_until_both_close(store: PromptLogStore) -> None:
    store.write([make_entry(0, timestamp=T0 - 90 * SECONDS_PER_DAY)])
    store.flag_incident("A", log_ids=[make_entry(0).log_id])
    store.flag_incident("B", log_ids=[make_entry(0).log_id])
    retention = Retention(30, clock=FakeClock(T0))
    store.release_hold("A")
    assert retention.purge(store) == 0
    store.release_hold("B")
    assert retention.purge(store) == 1


def test_purge_step_deletes_a_batch_at_a_time_then_waits_for_the_interval(store: PromptLogStore) -> None:
    store.write([make_entry(i, timestamp=T0 - 60 * SECONDS_PER_DAY) for i in range(5)])
    clock = FakeClock(T0)
    retention = Retention(30, batch_size=2, interval=3600, clock=clock)
    assert [retention.purge_step(store) for _ in range(4)] == [2, 2, 1, 0]
    store.write([make_entry(9, timestamp=T0 - 60 * SECONDS_PER_DAY)])
    clock.now += 3599
    assert retention.purge_step(store) == 0
    clock.now += 1
    assert retention.purge_step(store) == 1


# -- erasure and scrubbing ------------------------------------------------------------------------------


def test_erase_deletes_every_entry_of_the_pseudonyms_held_or_not_and_audits_without_them(
    backend: Backend, store: PromptLogStore
) -> None:
    old, new = Pseudonymizer(OLD_KEY), Pseudonymizer(NEW_KEY)
    alice = {old.key_id: old.pseudonymize("alice"), new.key_id: new.pseudonymize("alice")}
    store.write(
        [
            make_entry(0, user_pseudonym=alice[old.key_id], user_message="alice marker one"),
            make_entry(1, user_pseudonym=alice[new.key_id], assistant_response="alice marker two"),
            make_entry(2, user_pseudonym=new.pseudonymize("bob")),
        ]
    )
    store.flag_incident("INC-1", log_ids=[make_entry(1).log_id, make_entry(2).log_id])
    assert backend.holds_text("alice marker")
    count = store.erase(set(alice.values()), key_ids=sorted(alice), reason="GDPR Art. 17 request", now=T0 + 60)
    assert count == 2
    assert ids(store.query(LogQuery())) == [make_entry(2).log_id]
    assert ids(store.query(LogQuery(incident_id="INC-1"))) == [make_entry(2).log_id]
    assert store.count_affected(0, T0 + 10, LogQuery(incident_id="INC-1")) == (1, 1, 1)
    [record] = store.audit_log()
    assert (record.at, record.action, record.count, record.reason) == (T0 + 60, "erase", 2, "GDPR Art. 17 request")
    assert set(record.key_ids) == set(alice)
    assert not backend.holds_text("alice marker")
    for pseudonym in alice.values():
        assert not backend.holds_text(pseudonym)
    assert store.erase(set(), key_ids=[], reason="nothing", now=T0 + 61) == 0


def test_scrub_redacts_in_place_once_and_records_when(backend: Backend, store: PromptLogStore) -> None:
    store.write(
        [
            make_entry(0, user_message="mail me at a@b.example", assistant_response=None),
            make_entry(1, user_message="nothing here"),
            make_entry(2, assistant_response="from a@b.example"),
        ],
        scrubbed_at=None,
    )
    store.write([make_entry(3, user_message="a@b.example but already scrubbed")], scrubbed_at=T0)

    def redact(text: str) -> str:
        return text.replace("a@b.example", "[EMAIL]")

    assert store.scrub(redact, now=T0 + 50, batch_size=1) == (3, 2)
    first = store.get(make_entry(0).log_id)
    assert first is not None and first.entry.user_message == "mail me at [EMAIL]"
    assert first.entry.assistant_response is None and first.scrubbed_at == T0 + 50
    assert store.get(make_entry(1).log_id).scrubbed_at == T0 + 50  # type: ignore[union-attr]
    assert store.get(make_entry(2).log_id).entry.assistant_response == "from [EMAIL]"  # type: ignore[union-attr]
    assert store.get(make_entry(3).log_id).scrubbed_at == T0  # type: ignore[union-attr]
    assert store.scrub(redact, now=T0 + 60) == (0, 0)
    assert [(r.action, r.count, r.at) for r in store.audit_log()] == [("scrub", 2, T0 + 50)]
    assert not backend.holds_text("mail me at a@b.example")


def test_retention_days_from_the_environment() -> None:
    assert retention_days({}) == 30
    assert retention_days({"AII_PROMPT_LOG_RETENTION_DAYS": "7"}) == 7
    assert retention_days({"AII_PROMPT_LOG_RETENTION_DAYS": "-1"}) == 30
    assert retention_days({"AII_PROMPT_LOG_RETENTION_DAYS": "soon"}) == 30
    with pytest.raises(ValueError):
        Retention(0)
