"""Containment across a fleet on one PostgreSQL state: every replica (threads and processes) enforces a change
within 1.5 s p99, a new replica answers its first turn from the loaded state, a rate limit holds across three
processes, a forked worker keeps enforcing, and faults (bad URL, refused password, a restart) are handled."""

from __future__ import annotations

import logging
import os
import random
import sys
import time
from collections.abc import Iterator

import psycopg
import pytest

from conftest import postgres_cluster
from otel_ai_incident.containment.gate import ContainmentGate, open_gate
from otel_ai_incident.containment.registry import Registry
from otel_ai_incident.containment.state import ContainmentState, PlannedAction, open_containment_state
from otel_ai_incident.demo.postgres import PostgresServer
from otel_ai_incident.demo.services import free_port
from otel_ai_incident.names import ContainmentActionName as Action
from otel_ai_incident.testing.replicas import GateProcess, time_to_every_replica, wait_until

KILL = PlannedAction(Action.KILL_SWITCH)
USER = "c3" * 16


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Errors:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
def writer(postgres_url: str) -> Iterator[ContainmentState]:
    state = open_containment_state(postgres_url)
    yield state
    state.close()


@pytest.fixture
def gates(postgres_url: str) -> Iterator[list[ContainmentGate]]:
    opened = [open_gate(postgres_url, registry=Registry()) for _ in range(3)]
    yield opened
    for gate in opened:
        gate.close()


@pytest.fixture(scope="module")
def own_server() -> Iterator[PostgresServer]:
    """A cluster this module may stop and restart (the session's is shared by other tests)."""
    yield from postgres_cluster()


def test_every_replica_enforces_a_kill_switch_within_1_5_s_p99(
    postgres_url: str, writer: ContainmentState, gates: list[ContainmentGate]
) -> None:
    replica = GateProcess(postgres_url)
    try:
        delays = []
        for _ in range(20):
            time.sleep(random.uniform(0, 0.2))
            delays.append(
                time_to_every_replica(lambda: writer.apply(KILL, actor="t", incident_id=None), gates, [replica])
            )
            lift = lambda: writer.lift(Action.KILL_SWITCH, None, actor="t", reason="next trial")  # noqa: E731
            time_to_every_replica(lift, gates, [replica], blocked=False)
    finally:
        replica.close()
    assert percentile(delays, 0.99) <= 1.5, sorted(delays)
    assert percentile(delays, 0.5) <= 0.5, sorted(delays)  # LISTEN/NOTIFY: milliseconds, not the poll interval


def test_a_polling_replica_follows_within_its_interval(postgres_url: str, writer: ContainmentState) -> None:
    gate = open_gate(postgres_url, registry=Registry(), listen=False, refresh_interval_s=0.3)
    try:
        gate.turn_blocked(None)
        delay = time_to_every_replica(lambda: writer.apply(KILL, actor="t", incident_id=None), [gate])
    finally:
        gate.close()
    assert delay <= 0.3 + 0.2


def test_a_new_replica_answers_its_first_turn_from_the_loaded_state(
    postgres_url: str, writer: ContainmentState
) -> None:
    writer.apply(PlannedAction(Action.DISABLE_TOOL, "delete_record"), actor="t", incident_id=None)
    writer.apply(KILL, actor="t", incident_id=None)
    for _ in range(3):
        gate = open_gate(postgres_url, registry=Registry())
        try:
            assert gate.turn_blocked(None) == ("kill_switch", None)  # the very first call, no sleep before it
        finally:
            gate.close()
        gate = open_gate(postgres_url, registry=Registry())
        try:
            assert gate.tool_blocked("delete_record", writes=True) == ("disable_tool", "delete_record")
        finally:
            gate.close()


def test_an_unreachable_state_fails_open_after_the_bounded_wait_loudly(caplog: pytest.LogCaptureFixture) -> None:
    errors = Errors()
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    gate = open_gate(url, registry=Registry(), load_timeout_s=0.5, on_error=errors)
    try:
        started = time.monotonic()
        assert gate.turn_blocked("p") is None
        waited = time.monotonic() - started
        started = time.monotonic()
        assert gate.turn_blocked("p") is None and gate.tool_blocked("t", writes=True) is None
        again = time.monotonic() - started
    finally:
        gate.close()
    assert 0.45 <= waited < 1.5
    assert again < 0.05  # only the first check waits
    assert errors.count >= 2  # the failed reads and the missed first load
    [failure] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "containment state at postgresql://postgres@127.0.0.1" in failure.getMessage()
    assert "could not be loaded within 0.5 s" in failure.getMessage() and "fail open" in failure.getMessage()


def test_fail_closed_refuses_until_the_state_loads(own_server: PostgresServer) -> None:
    url = own_server.create_database()
    own_server.stop_server()
    try:
        gate = open_gate(url, registry=Registry(), load_timeout_s=0.3, fail_closed=True)
        assert gate.turn_blocked(None) == ("kill_switch", None)
        assert gate.tool_blocked("search", writes=False) == ("kill_switch", None)
    finally:
        own_server.restart_only()
    try:
        wait_until(gate, blocked=False, timeout_s=10)
        assert gate.tool_blocked("search", writes=False) is None
    finally:
        gate.close()


def test_a_gate_keeps_its_state_through_a_restart_and_sees_what_changed_meanwhile(
    own_server: PostgresServer,
) -> None:
    url = own_server.create_database()
    writer = open_containment_state(url)
    errors = Errors()
    gate = open_gate(url, registry=Registry(), on_error=errors)
    try:
        writer.apply(KILL, actor="t", incident_id=None)
        wait_until(gate, blocked=True, timeout_s=5)
        own_server.stop_server()
        time.sleep(1.5)
        assert gate.turn_blocked(None) == ("kill_switch", None)  # the last known state stays in force
        assert errors.count >= 1
        own_server.restart_only()
        lift = lambda: writer.lift(Action.KILL_SWITCH, None, actor="t", reason="restarted")  # noqa: E731
        assert time_to_every_replica(lift, [gate], blocked=False, timeout_s=10) <= 3.0
        # Listening again: the next change arrives in milliseconds, not at the next poll.
        assert time_to_every_replica(lambda: writer.apply(KILL, actor="t", incident_id=None), [gate]) <= 0.5
    finally:
        gate.close()
        writer.close()


def test_a_refused_password_is_one_clear_error_naming_the_store(
    own_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    with psycopg.connect(own_server.admin_url, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS app")
        conn.execute("CREATE ROLE app LOGIN PASSWORD 'right-password'")
        hba = own_server.data / "pg_hba.conf"
        rules = hba.read_text()
        if "host all app" not in rules:
            hba.write_text("host all app 127.0.0.1/32 scram-sha-256\n" + rules)
        conn.execute("SELECT pg_reload_conf()")
    url = f"postgresql://app:wrong-password@127.0.0.1:{own_server.port}/postgres"
    errors = Errors()
    gate = open_gate(url, registry=Registry(), load_timeout_s=0.5, on_error=errors)
    try:
        assert gate.turn_blocked(None) is None
    finally:
        gate.close()
    [failure] = [r for r in caplog.records if r.levelno == logging.ERROR]
    message = failure.getMessage()
    assert "containment state at postgresql://app:***@127.0.0.1" in message
    assert 'password authentication failed for user "app"' in message
    assert "wrong-password" not in caplog.text
    assert errors.count >= 1


def test_a_malformed_url_is_refused_when_the_gate_opens() -> None:
    with pytest.raises(ValueError, match="containment state: malformed PostgreSQL URL"):
        open_gate("postgresql://app@127.0.0.1/db?bogus=1", registry=Registry())


def test_a_rate_limit_holds_across_three_processes(postgres_url: str, writer: ContainmentState) -> None:
    rate, burst, seconds = 5.0, 5.0, 3.0
    writer.apply(
        PlannedAction(Action.RATE_LIMIT_USER, USER, {"rate_per_s": rate, "burst": burst}, 3600),
        actor="t",
        incident_id=None,
    )
    replicas = [GateProcess(postgres_url) for _ in range(3)]
    try:
        assert all(replica.sees_rate_limit(USER) for replica in replicas)
        start_at = time.monotonic() + 0.5
        for replica in replicas:
            replica.run_turns(USER, start_at, seconds, every_s=0.005)
        results = [replica.accepted() for replica in replicas]
    finally:
        for replica in replicas:
            replica.close()
    accepted, tried = sum(a for a, _ in results), sum(t for _, t in results)
    allowed = burst + rate * seconds
    assert tried > 3 * allowed  # the user pushed far harder than the limit
    assert allowed * 0.5 <= accepted <= allowed * 1.2, results  # well within, unless everything was refused


def test_a_worker_forked_after_the_gate_started_keeps_enforcing(postgres_url: str, writer: ContainmentState) -> None:
    gate = open_gate(postgres_url, registry=Registry())
    try:
        assert gate.turn_blocked(None) is None
        read, write = os.pipe()
        child = os.fork()
        if child == 0:  # a worker of a pre-forking server: the gate must have a thread of its own again
            os.close(read)
            try:
                wait_until(gate, blocked=True, timeout_s=10)
                os.write(write, b"blocked")
            finally:
                os._exit(0)
        os.close(write)
        time.sleep(0.3)
        writer.apply(KILL, actor="t", incident_id=None)
        _, status = os.waitpid(child, 0)
        assert os.read(read, 100) == b"blocked" and status == 0
        os.close(read)
    finally:
        gate.close()


def test_instrument_with_a_malformed_url_logs_counts_and_keeps_the_app_running(tmp_path) -> None:
    import subprocess

    script = (
        "import otel_ai_incident as aii\n"
        "aii.instrument('t', prometheus=False, prompt_log=False,"
        " containment='postgresql://app@127.0.0.1/db?bogus=1')\n"
        "with aii.llm_turn(user_id='u', session_id='s', model='m', system_prompt='p', user_message='hi') as turn:\n"
        "    turn.complete('ok')\n"
        "print('turn done')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "AII_PSEUDONYM_KEY": "k" * 32},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "turn done"
    assert "containment state: malformed PostgreSQL URL" in result.stderr
