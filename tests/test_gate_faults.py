"""The in-app gate under faults: it says so loudly, keeps what it can enforce, and heals when the fault goes."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from conftest import free_port
from otel_ai_incident.containment import gate as gate_module
from otel_ai_incident.containment.gate import open_gate
from otel_ai_incident.containment.registry import Registry
from otel_ai_incident.containment.state import PlannedAction, SqliteContainmentState, StateView
from otel_ai_incident.demo.services import Receiver
from otel_ai_incident.incidents.sql_store import open_incident_store
from otel_ai_incident.names import ContainmentActionName as Action
from otel_ai_incident.server.app import create_app
from otel_ai_incident.server.auth import Credentials
from otel_ai_incident.server.inbox.sql_store import open_inbox
from processes import clean_env, run_script
from test_promptlog_instrument import metric
from test_server import wait_for

KILL = PlannedAction(Action.KILL_SWITCH, None, {}, None)
DISABLE_SEARCH = PlannedAction(Action.DISABLE_TOOL, "search", {}, None)
TOKEN = "gate-faults-token-0123456789"


class Errors:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def _local_gate(path: Path, errors: Errors | None = None, **options: object):
    return open_gate(f"sqlite:///{path}", registry=Registry(), refresh_interval_s=0.0, on_error=errors, **options)


def test_unknown_and_malformed_rows_are_skipped_one_by_one_and_counted(tmp_path: Path) -> None:
    state = SqliteContainmentState(tmp_path / "c.db")
    state.apply(KILL, actor="test", incident_id=None)
    with sqlite3.connect(tmp_path / "c.db") as conn:  # what a newer version, or a damaged row, leaves behind
        conn.execute("INSERT INTO active VALUES ('quarantine_region', 'eu', '{}', NULL, 'v2', 1, NULL)")
        conn.execute("INSERT INTO active VALUES ('rate_limit_user', 'p1', '{\"burst\": 1}', NULL, 'x', 1, NULL)")
        conn.execute("INSERT INTO active VALUES ('disable_tool', 'shell', 'not json', NULL, 'x', 1, NULL)")
        conn.execute("UPDATE meta SET value = value + 1 WHERE name = 'revision'")
    view = state.read()
    assert [e.action for e in view.entries] == [Action.KILL_SWITCH]
    assert view.skipped == 3
    assert StateView.from_json(view.to_json()).skipped == 3  # and so over HTTP
    errors = Errors()
    gate = _local_gate(tmp_path / "c.db", errors)
    try:
        assert gate.turn_blocked("p1") == ("kill_switch", None)  # the rest still holds
    finally:
        gate.close()
    assert errors.count >= 1


def test_a_restored_file_is_read_even_at_the_same_revision(tmp_path: Path) -> None:
    live = SqliteContainmentState(tmp_path / "c.db")
    live.apply(KILL, actor="test", incident_id=None)
    backup = SqliteContainmentState(tmp_path / "restore.db")
    backup.apply(DISABLE_SEARCH, actor="test", incident_id=None)
    assert live.revision() == backup.revision()
    backup.close()
    gate = _local_gate(tmp_path / "c.db")
    try:
        assert gate.turn_blocked(None) == ("kill_switch", None)
        os.replace(tmp_path / "restore.db", tmp_path / "c.db")  # the live store still holds the old file
        gate.refresh()
        assert gate.turn_blocked(None) is None
        assert gate.tool_blocked("search", writes=False) == ("disable_tool", "search")
        # The other holder of the old file follows too: its next write goes to the restored file.
        assert [e.action for e in live.read().entries] == [Action.DISABLE_TOOL]
        live.apply(KILL, actor="test", incident_id=None)
        gate.refresh()
        assert gate.turn_blocked(None) == ("kill_switch", None)
        with sqlite3.connect(tmp_path / "c.db") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.close()
    finally:
        gate.close()
        live.close()


@pytest.mark.parametrize("fail_closed", [False, True])
def test_a_corrupt_file_is_loud_and_read_again_once_repaired(
    tmp_path: Path, fail_closed: bool, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "c.db"
    path.write_bytes(b"this is not a database" * 100)
    errors = Errors()
    gate = _local_gate(path, errors, load_timeout_s=0.2, fail_closed=fail_closed)
    try:
        assert gate.turn_blocked(None) == (("kill_switch", None) if fail_closed else None)
        assert any(r.levelno == logging.ERROR and "c.db" in r.getMessage() for r in caplog.records)
        repaired = SqliteContainmentState(tmp_path / "repaired.db")
        repaired.apply(KILL, actor="test", incident_id=None)
        repaired.close()
        os.replace(tmp_path / "repaired.db", path)
        gate.refresh()
        assert gate.turn_blocked(None) == ("kill_switch", None)
    finally:
        gate.close()
    assert errors.count >= 2


@pytest.fixture
def receiver_at(tmp_path: Path) -> Iterator[callable]:
    """Start receivers (one at a time) on one port, each over its own state file."""
    port = free_port()
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(state: SqliteContainmentState) -> str:
        for server, thread in servers:
            server.should_exit = True
            thread.join(timeout=10)
        incidents = f"sqlite:///{tmp_path / f'i{len(servers)}.db'}"
        app = create_app(
            state=state,
            incidents=open_incident_store(incidents),
            inbox=open_inbox(incidents),
            credentials=Credentials(TOKEN),
        )
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        wait_for(lambda: server.started)
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)


def test_a_fresh_store_behind_the_receiver_is_not_answered_304(receiver_at, tmp_path: Path) -> None:
    first = SqliteContainmentState(tmp_path / "first.db")
    first.apply(KILL, actor="test", incident_id=None)
    second = SqliteContainmentState(tmp_path / "second.db")
    second.apply(DISABLE_SEARCH, actor="test", incident_id=None)
    assert first.revision() == second.revision() and first.identity() != second.identity()
    url = receiver_at(first)
    gate = open_gate(url, token=TOKEN, registry=Registry(), refresh_interval_s=0.05)
    try:
        assert gate.turn_blocked(None) == ("kill_switch", None)
        receiver_at(second)
        wait_for(lambda: gate.turn_blocked(None) is None, timeout=10)
        assert gate.tool_blocked("search", writes=False) == ("disable_tool", "search")
    finally:
        gate.close()


def test_a_wrong_token_is_an_error_repeated_while_it_lasts(
    receiver_at, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gate_module, "ERROR_LOG_INTERVAL_S", 0.3)
    url = receiver_at(SqliteContainmentState(tmp_path / "c.db"))
    errors = Errors()
    gate = open_gate(
        url,
        token="wrong-token-0123456789",
        registry=Registry(),
        refresh_interval_s=0.05,
        on_error=errors,
        load_timeout_s=0.2,
        fail_closed=True,
    )
    try:
        assert gate.turn_blocked(None) == ("kill_switch", None)  # fail closed: it never loaded
        time.sleep(1.2)
    finally:
        gate.close()
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR and "401" in r.getMessage()]
    assert 2 <= len(logged) <= 6  # repeated, at a bounded rate
    assert errors.count > len(logged)  # every failed read is counted


def test_the_reading_thread_survives_a_source_that_fails_in_every_way(tmp_path: Path) -> None:
    state = SqliteContainmentState(tmp_path / "c.db")
    state.apply(KILL, actor="test", incident_id=None)

    class Flaky:
        remote = True
        calls = 0

        def describe(self) -> str:
            return "flaky state"

        def change_feed(self, listen: bool) -> None:
            raise RuntimeError("no feed today")

        def changed_since(self, revision: int) -> StateView | None:
            Flaky.calls += 1
            if Flaky.calls % 2:
                raise MemoryError("transient") if Flaky.calls == 1 else OSError("disk")
            return state.changed_since(revision)

    errors = Errors()
    gate = gate_module.ContainmentGate(Flaky(), registry=Registry(), refresh_interval_s=0.02, on_error=errors)
    try:
        wait_for(lambda: gate.snapshot.loaded, timeout=5)
        assert gate.turn_blocked(None) == ("kill_switch", None)
        calls = Flaky.calls
        wait_for(lambda: Flaky.calls > calls + 4, timeout=5)  # still polling
    finally:
        gate.close()
    assert errors.count >= 2


_APP = """
import json, logging, urllib.request
import otel_ai_incident as aii
from otel_ai_incident.errors import ContainmentActive

records = []
class Remember(logging.Handler):
    def emit(self, record):
        records.append([record.levelname, record.getMessage()])
logging.getLogger("otel_ai_incident").addHandler(Remember())
handle = aii.instrument(service_name="x", prometheus_host="127.0.0.1", prometheus_port=0, prompt_log=False)
refused = 0
for i in range(3):
    try:
        with aii.llm_turn(model="m", user_id="u", session_id="s", user_message="hi") as turn:
            turn.complete("ok")
    except ContainmentActive:
        refused += 1
host, port = handle.prometheus_address
metrics = urllib.request.urlopen(f"http://{host}:{port}/metrics").read().decode()
handle.shutdown()
print(json.dumps({"records": records, "refused": refused, "metrics": metrics}))
"""


@pytest.mark.parametrize("fail_closed", ["false", "true"])
def test_a_malformed_containment_setting_is_loud_counted_and_honours_fail_closed(fail_closed: str) -> None:
    env = clean_env(AII_CONTAINMENT="sqlite:/typo.db", AII_CONTAINMENT_FAIL_CLOSED=fail_closed)
    result = run_script(_APP, env)
    assert result["refused"] == (3 if fail_closed == "true" else 0)
    errors = [message for level, message in result["records"] if level == "ERROR"]
    assert errors and all("sqlite:/typo.db" in message for message in errors)
    assert metric(result["metrics"], "ai_instrumentation_errors_total", component="containment_gate") >= 3


_STARTING_APP = """
import json, logging, time, urllib.request
import otel_ai_incident as aii
from otel_ai_incident.errors import ContainmentActive

records = []
class Remember(logging.Handler):
    def emit(self, record):
        records.append([record.levelname, record.getMessage()])
logging.getLogger("otel_ai_incident").addHandler(Remember())
started = time.monotonic()
handle = aii.instrument(service_name="x", prometheus_host="127.0.0.1", prometheus_port=0, prompt_log=False)
instrument_s = time.monotonic() - started
at_start = list(records)
refused = 0
for i in range(3):
    try:
        with aii.llm_turn(model="m", user_id="u", session_id="s", user_message="hi") as turn:
            turn.complete("ok")
    except ContainmentActive:
        refused += 1
host, port = handle.prometheus_address
metrics = urllib.request.urlopen(f"http://{host}:{port}/metrics").read().decode()
handle.shutdown()
print(json.dumps({"at_start": at_start, "instrument_s": instrument_s, "refused": refused, "metrics": metrics}))
"""


def test_a_wrong_reader_token_is_an_error_while_instrument_runs_against_a_real_receiver(tmp_path: Path) -> None:
    """`otel-ai-incident serve` with a reader token; an app with another token logs an ERROR naming the variable
    before instrument() returns (within the load timeout), counts it, and with fail-closed refuses every turn."""
    (tmp_path / "alerts.token").write_text("alerts-token-0123456789")
    (tmp_path / "reader.token").write_text("reader-token-0123456789")
    SqliteContainmentState(tmp_path / "c.db").apply(KILL, actor="test", incident_id=None)
    receiver = Receiver(tmp_path).start(
        *("--token-file", str(tmp_path / "alerts.token"), "--reader-token-file", str(tmp_path / "reader.token")),
        *("--containment", f"sqlite:///{tmp_path / 'c.db'}", "--incidents", f"sqlite:///{tmp_path / 'i.db'}"),
    )
    load_timeout_s = 1.0

    def app(token: str, fail_closed: str) -> dict:
        return run_script(
            _STARTING_APP,
            clean_env(
                AII_CONTAINMENT=receiver.url,
                AII_READER_TOKEN=token,
                AII_CONTAINMENT_FAIL_CLOSED=fail_closed,
                AII_CONTAINMENT_LOAD_TIMEOUT_S=str(load_timeout_s),
            ),
        )

    try:
        runs = {
            (token, closed): app(token, closed)
            for token, closed in [("wrong-token-0123456789", "true"), ("wrong-token-0123456789", "false")]
        }
        right = app("reader-token-0123456789", "false")  # the same app with the receiver's token
    finally:
        receiver.stop()
    for (_, fail_closed), result in runs.items():
        errors = [message for level, message in result["at_start"] if level == "ERROR"]
        assert len(errors) == 1, result["at_start"]
        assert "AII_READER_TOKEN" in errors[0] and "401" in errors[0] and receiver.url in errors[0]
        assert "wrong-token" not in errors[0]  # the variable is named, its value never
        assert load_timeout_s <= result["instrument_s"] < load_timeout_s + 5
        assert metric(result["metrics"], "ai_instrumentation_errors_total", component="containment_gate") >= 2
        # The kill switch in force is not seen: fail closed refuses every turn, fail open answers them all.
        assert result["refused"] == (3 if fail_closed == "true" else 0)
    assert not [record for record in right["at_start"] if record[0] == "ERROR"]
    assert right["refused"] == 3 and right["instrument_s"] < load_timeout_s  # loaded: the kill switch holds
