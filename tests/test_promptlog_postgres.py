"""What only the PostgreSQL prompt log does: its schema and indexes, retention once per fleet, and the errors
a bad URL, an unreachable server or a refused login give. Shared behaviour is in test_promptlog_store.py."""

from __future__ import annotations

import threading
import time

import pytest

from otel_ai_incident.demo.postgres import PostgresServer
from otel_ai_incident.demo.services import free_port
from otel_ai_incident.promptlog import postgres as pg
from otel_ai_incident.promptlog.backends import open_store
from otel_ai_incident.promptlog.postgres import PostgresStore
from otel_ai_incident.promptlog.store import OUTPUT_BLOCK, LogQuery
from otel_ai_incident.storage.errors import StoreUnavailableError
from promptlog_support import T0, PostgresBackend, make_entry


@pytest.fixture
def backend(postgres_url: str) -> PostgresBackend:
    return PostgresBackend(postgres_url)


def test_schema_is_versioned_in_its_own_schema_with_the_indexes_queries_use(backend: PostgresBackend) -> None:
    store = backend.open()
    store.write([make_entry(i) for i in range(3)])
    store.close()
    assert backend.sql(f"SELECT version FROM {pg.SCHEMA}.schema_version") == [(pg.SCHEMA_VERSION,)]
    indexes = {name for (name,) in backend.sql("SELECT indexname FROM pg_indexes WHERE schemaname = %s", pg.SCHEMA)}
    assert {
        "prompt_log_time",
        "prompt_log_session",
        "prompt_log_user",
        "prompt_log_model",
        "prompt_log_flagged",
        "prompt_log_incident",
        "prompt_log_guardrails",
    } <= indexes
    for query, index in (
        (LogQuery(user_pseudonyms=frozenset({"a", "b"}), since=0), "prompt_log_user"),
        (LogQuery(guardrail=OUTPUT_BLOCK), "prompt_log_guardrails"),
        (LogQuery(session_id="s", since=0, until=1), "prompt_log_session"),
        (LogQuery(incident_flag=True, since=0), "prompt_log_flagged"),
    ):
        assert index in plan_of(backend, query), (query, index)


def plan_of(backend: PostgresBackend, query: LogQuery) -> str:
    """The plan of the store's own condition for `query`, with sequential scans priced out (three rows would
    be read faster without an index: the question is whether an index can serve the condition)."""
    import psycopg

    condition, params = pg._where(query)
    with psycopg.connect(backend.url, autocommit=True) as conn:
        conn.execute(f"SET search_path = {pg.SCHEMA}")
        conn.execute("SET enable_seqscan = off")
        rows = conn.execute(f"EXPLAIN SELECT log_id FROM prompt_log WHERE {condition}", params).fetchall()
    return "\n".join(row[0] for row in rows)


def test_retention_runs_once_per_fleet(backend: PostgresBackend) -> None:
    """While one replica purges, the others skip at once instead of deleting the same rows beside it (and
    waiting on its row locks). A transaction holding the oldest expired row keeps the first purge busy."""
    import psycopg

    expired = 3000
    setup = backend.open()
    setup.write([make_entry(i, timestamp=T0 - 90 * 86_400 + i) for i in range(expired)] + [make_entry(10**6)])
    setup.close()
    purging, *others = replicas = [backend.open() for _ in range(3)]
    with psycopg.connect(backend.url) as blocker:
        blocker.execute(f"SELECT 1 FROM {pg.SCHEMA}.prompt_log WHERE log_id = %s FOR UPDATE", (make_entry(0).log_id,))
        results: dict[str, int] = {}
        first = threading.Thread(target=lambda: results.update(first=purging.purge(T0, batch_size=100)))
        first.start()
        # pg_locks spans the cluster, which other tests' databases share: only this database's lock counts.
        wait_for(
            lambda: backend.sql(
                "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        )
        for n, replica in enumerate(others):
            other = threading.Thread(target=lambda r=replica, n=n: results.update({f"other{n}": r.purge(T0)}))
            other.start()
            other.join(3)
            assert not other.is_alive(), "a second replica waited on the first one's purge"
        blocker.rollback()
    first.join(30)
    assert results == {"first": expired, "other0": 0, "other1": 0}
    assert len(list(replicas[0].query(LogQuery()))) == 1
    for replica in replicas:
        replica.close()


def wait_for(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_a_purge_skips_while_another_process_holds_the_purge_lock(backend: PostgresBackend) -> None:
    import psycopg

    store = backend.open()
    store.write([make_entry(i, timestamp=T0 - 90 * 86_400) for i in range(3)])
    with psycopg.connect(backend.url, autocommit=True) as other_replica:
        other_replica.execute("SELECT pg_advisory_lock(%s)", (store._purge_lock,))  # type: ignore[attr-defined]
        assert store.purge(T0) == 0
        other_replica.execute("SELECT pg_advisory_unlock_all()")
    assert store.purge(T0) == 3
    store.close()


def test_a_malformed_url_is_refused_at_open_naming_the_store() -> None:
    with pytest.raises(ValueError, match="prompt log: malformed PostgreSQL URL"):
        open_store("postgresql://user@host:notaport/db")


def test_an_unreachable_server_is_unavailability_naming_the_store_without_the_password() -> None:
    url = f"postgresql://aii:s3cret@127.0.0.1:{free_port()}/log"
    store = open_store(url, connect_timeout_s=1)  # no I/O yet
    with pytest.raises(StoreUnavailableError) as raised:
        store.write([make_entry(1)])
    message = str(raised.value)
    assert message.startswith("prompt log at postgresql://aii:***@127.0.0.1:") and "s3cret" not in message
    assert "\n" not in message
    store.close()


def test_a_refused_login_is_unavailability_naming_the_store(postgres_url: str) -> None:
    url = postgres_url.replace("postgres@", "nobody_here@", 1)
    store = open_store(url, connect_timeout_s=1)
    with pytest.raises(StoreUnavailableError, match=r'prompt log at .*role "nobody_here" does not exist'):
        store.get("x")
    store.close()


def test_after_a_restart_the_next_call_gets_through_at_once(own_postgres: PostgresServer) -> None:
    """The pool's own reconnection backs off for seconds, then minutes: a store drops a pool that lost its
    server, so that while the server is down a call fails at once, and once it is back the next call works."""
    store = PostgresStore(own_postgres.create_database(), connect_timeout_s=2)
    store.write([make_entry(0)])
    own_postgres.stop_server()
    with pytest.raises(StoreUnavailableError):
        store.write([make_entry(1)])  # finds the pooled connection dead
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="Connection refused"):
        store.write([make_entry(1)])
    assert time.monotonic() - started < 1
    own_postgres.restart_only()
    started = time.monotonic()
    store.write([make_entry(1)])
    assert time.monotonic() - started < 1
    assert len(list(store.query(LogQuery()))) == 2
    store.close()
