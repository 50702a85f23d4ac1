"""The in-app gate: enforcement of each action, the cache, the active counter, and never raising."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from otel_ai_incident.containment.gate import ContainmentGate, open_gate
from otel_ai_incident.containment.limits import LocalBuckets
from otel_ai_incident.containment.registry import Registry
from otel_ai_incident.containment.state import PlannedAction, SqliteContainmentState, StateView, TokenGrant
from otel_ai_incident.demo.services import free_port
from otel_ai_incident.names import ContainmentActionName as Action


class Counter:
    def __init__(self) -> None:
        self.totals: dict[str, int] = {}

    def add(self, amount: int, attributes: dict | None = None) -> None:
        action = (attributes or {})["action"]
        self.totals[action] = self.totals.get(action, 0) + amount


class Instruments:
    def __init__(self) -> None:
        self.containment_active = Counter()


@pytest.fixture
def state(tmp_path: Path) -> SqliteContainmentState:
    return SqliteContainmentState(tmp_path / "c.db")


@pytest.fixture
def registry() -> Registry:
    return Registry()


def _gate(state: SqliteContainmentState, registry: Registry, **options) -> ContainmentGate:
    return ContainmentGate(state, refresh_interval_s=0.0, registry=registry, **options)


def _apply(state: SqliteContainmentState, action: Action, target: str | None = None, **params) -> None:
    ttl = params.pop("ttl_s", None)
    state.apply(PlannedAction(action, target, params, ttl), actor="test", incident_id=None)


def test_nothing_contained(state, registry) -> None:
    gate = _gate(state, registry)
    assert gate.turn_blocked("p") is None
    assert gate.tool_blocked("delete", writes=True) is None
    assert gate.guardrail_threshold("toxicity", 0.8) == 0.8


def test_kill_switch_blocks_every_turn(state, registry) -> None:
    gate = _gate(state, registry)
    _apply(state, Action.KILL_SWITCH)
    assert gate.turn_blocked(None) == ("kill_switch", None)
    assert gate.turn_blocked("p") == ("kill_switch", None)


def test_read_only_blocks_writing_tools_only(state, registry) -> None:
    gate = _gate(state, registry)
    _apply(state, Action.RESTRICT_TO_READ_ONLY)
    assert gate.tool_blocked("delete", writes=True) == ("restrict_to_read_only", None)
    assert gate.tool_blocked("search", writes=False) is None
    assert gate.turn_blocked("p") is None


def test_disabled_tool(state, registry) -> None:
    gate = _gate(state, registry)
    _apply(state, Action.DISABLE_TOOL, "search")
    assert gate.tool_blocked("search", writes=False) == ("disable_tool", "search")
    assert gate.tool_blocked("lookup", writes=False) is None


def test_rate_limit_is_a_token_bucket_per_pseudonym(state, registry) -> None:
    gate = _gate(state, registry)
    _apply(state, Action.RATE_LIMIT_USER, "p-bad", rate_per_s=0.001, burst=2, ttl_s=3600)
    assert gate.turn_blocked("p-bad") is None
    assert gate.turn_blocked("p-bad") is None
    assert gate.turn_blocked("p-bad") == ("rate_limit_user", "p-bad")
    assert gate.turn_blocked("p-good") is None
    assert gate.turn_blocked(None) is None


def test_rate_limit_lapses_with_its_ttl(state, registry) -> None:
    gate = _gate(state, registry)
    _apply(state, Action.RATE_LIMIT_USER, "p", rate_per_s=0.001, burst=1, ttl_s=0.3)
    gate.turn_blocked("p")
    assert gate.turn_blocked("p") == ("rate_limit_user", "p")
    time.sleep(0.35)
    assert gate.turn_blocked("p") is None
    assert gate.snapshot.rate_limits == {}


def test_tightened_guardrail_never_loosens(state, registry) -> None:
    gate = _gate(state, registry)
    _apply(state, Action.TIGHTEN_GUARDRAIL, "toxicity", threshold=0.3)
    assert gate.guardrail_threshold("toxicity", 0.8) == 0.3
    assert gate.guardrail_threshold("toxicity", 0.2) == 0.2
    assert gate.guardrail_threshold("pii", 0.8) == 0.8
    _apply(state, Action.TIGHTEN_GUARDRAIL, None, threshold=0.5)
    assert gate.guardrail_threshold("pii", 0.8) == 0.5
    assert gate.guardrail_threshold("toxicity", 0.8) == 0.3


def test_rollbacks_switch_to_the_previous_registered_version(state, registry) -> None:
    registry.register_prompt("support", "old text", version="2024-01")
    registry.register_prompt("support", "new text", version="2024-02")
    registry.register_models(["model-b", "model-a"])
    gate = _gate(state, registry)
    assert gate.active_prompt("support").version == "2024-02"
    assert gate.active_model() == "model-b"
    _apply(state, Action.ROLLBACK_PROMPT, "support")
    _apply(state, Action.ROLLBACK_MODEL)
    assert gate.active_prompt("support").text == "old text"
    assert registry.active_prompt("support").version == "2024-01"
    assert gate.active_model() == "model-a"


def test_active_counter_follows_the_snapshot(state, registry) -> None:
    instruments = Instruments()
    gate = _gate(state, registry, instruments=instruments)
    _apply(state, Action.DISABLE_TOOL, "a")
    _apply(state, Action.DISABLE_TOOL, "b")
    gate.turn_blocked(None)
    assert instruments.containment_active.totals == {"disable_tool": 2}
    state.lift(Action.DISABLE_TOOL, "a", actor="x", reason="y")
    gate.turn_blocked(None)
    assert instruments.containment_active.totals == {"disable_tool": 1}


def test_cache_delays_reads_until_the_interval_passes(state, registry) -> None:
    gate = ContainmentGate(state, refresh_interval_s=0.3, registry=registry)
    assert gate.turn_blocked(None) is None
    _apply(state, Action.KILL_SWITCH)
    assert gate.turn_blocked(None) is None  # still cached
    time.sleep(0.35)
    assert gate.turn_blocked(None) == ("kill_switch", None)


class BrokenAfterFirst:
    def __init__(self, view: StateView) -> None:
        self.view, self.calls = view, 0

    def describe(self) -> str:
        return "a state that breaks"

    def changed_since(self, revision: int) -> StateView | None:
        self.calls += 1
        if self.calls > 1:
            raise OSError("disk gone")
        return self.view


def test_read_errors_keep_the_last_state_and_are_counted(state, registry) -> None:
    _apply(state, Action.KILL_SWITCH)
    errors: list[int] = []
    gate = ContainmentGate(
        BrokenAfterFirst(state.read()), refresh_interval_s=0.0, registry=registry, on_error=lambda: errors.append(1)
    )
    for _ in range(3):
        assert gate.turn_blocked(None) == ("kill_switch", None)
    assert len(errors) == 2


def test_another_process_sees_a_kill_switch_within_the_cache_period(tmp_path: Path) -> None:
    """The app side (a separate process) reads the file the receiver writes."""
    db = tmp_path / "shared.db"
    SqliteContainmentState(db).close()
    app = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from otel_ai_incident.containment.gate import open_gate\n"
            f"gate = open_gate('sqlite:///{db}', refresh_interval_s=1.0)\n"
            "print('ready', gate.turn_blocked(None), flush=True)\n"
            "sys.stdin.readline()\n"
            "start = time.monotonic()\n"
            "while gate.turn_blocked(None) is None and time.monotonic() - start < 5:\n"
            "    time.sleep(0.005)\n"
            "print(gate.turn_blocked(None), round(time.monotonic() - start, 3), flush=True)\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert app.stdout.readline().strip() == "ready None"
    writer = SqliteContainmentState(db)
    writer.apply(PlannedAction(Action.KILL_SWITCH), actor="alice", incident_id=None)
    app.stdin.write("go\n")
    app.stdin.flush()
    line = app.stdout.readline().split()
    app.wait(timeout=10)
    assert line[:2] == ["('kill_switch',", "None)"]
    assert float(line[2]) <= 1.2


def test_open_gate_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AII_CONTAINMENT", f"sqlite:///{tmp_path / 'env.db'}")
    gate = open_gate(refresh_interval_s=0.0, registry=Registry())
    assert gate.turn_blocked(None) is None
    assert (tmp_path / "env.db").exists()


def test_a_rate_limit_is_shared_by_gates_on_one_state_file(tmp_path: Path) -> None:
    """Two processes' gates (here: two gates on their own connections) draw from one bucket."""
    writer = SqliteContainmentState(tmp_path / "shared.db")
    gates = [_gate(SqliteContainmentState(tmp_path / "shared.db"), Registry()) for _ in range(2)]
    _apply(writer, Action.RATE_LIMIT_USER, "p", rate_per_s=0.001, burst=3, ttl_s=3600)
    answers = [gate.turn_blocked("p") for _ in range(3) for gate in gates]
    assert answers.count(None) == 3 and answers.count(("rate_limit_user", "p")) == 3


class Bucketless:
    """A state whose shared buckets cannot be reached (the database went away after the last read)."""

    def __init__(self, view: StateView) -> None:
        self.view, self.takes = view, 0

    def describe(self) -> str:
        return "a state without buckets"

    def changed_since(self, revision: int) -> StateView | None:
        return None if revision == self.view.revision else self.view

    def take_token(self, target: str, rate_per_s: float, burst: float) -> TokenGrant:
        self.takes += 1
        raise OSError("connection refused")


def test_an_unreachable_bucket_refuses_the_limited_user_and_counts(state, registry) -> None:
    _apply(state, Action.RATE_LIMIT_USER, "p", rate_per_s=100, burst=100, ttl_s=3600)
    source, errors = Bucketless(state.read()), []
    gate = ContainmentGate(source, refresh_interval_s=0.0, registry=registry, on_error=lambda: errors.append(1))
    assert gate.turn_blocked("p") == ("rate_limit_user", "p")
    assert gate.turn_blocked("p") == ("rate_limit_user", "p")  # refused without asking again for a while
    assert gate.turn_blocked("someone-else") is None  # only limited users ever touch the bucket
    assert (source.takes, len(errors)) == (1, 1)


class CountingTakes:
    def __init__(self, state: SqliteContainmentState) -> None:
        self.state, self.takes = state, 0

    def describe(self) -> str:
        return self.state.describe()

    def changed_since(self, revision: int) -> StateView | None:
        return self.state.changed_since(revision)

    def take_token(self, target: str, rate_per_s: float, burst: float) -> TokenGrant:
        self.takes += 1
        return self.state.take_token(target, rate_per_s, burst)


def test_a_refused_user_is_refused_locally_until_the_next_token_is_due(state, registry) -> None:
    _apply(state, Action.RATE_LIMIT_USER, "p", rate_per_s=5, burst=1, ttl_s=3600)
    source = CountingTakes(state)
    gate = ContainmentGate(source, refresh_interval_s=0.0, registry=registry)
    assert gate.turn_blocked("p") is None
    for _ in range(50):
        assert gate.turn_blocked("p") == ("rate_limit_user", "p")
    assert source.takes == 2  # the grant and the first refusal; the other 49 knew the next token was 0.2 s away
    time.sleep(0.21)
    assert gate.turn_blocked("p") is None and source.takes == 3


def test_over_http_each_replica_gets_its_share_of_the_limit() -> None:
    buckets = LocalBuckets(replicas=3)
    assert [buckets.allow("p", 0.003, 6) for _ in range(3)] == [True, True, False]  # a burst of 6 / 3 replicas
    assert [LocalBuckets(replicas=10).allow("p", 0.001, 3) for _ in range(2)] == [True, True]  # at least 1 token
    with pytest.raises(ValueError):
        LocalBuckets(replicas=0)


class Unreadable:
    def describe(self) -> str:
        return "containment state at sqlite:///gone.db"

    def changed_since(self, revision: int) -> StateView | None:
        raise OSError("unable to open database file")


@pytest.mark.parametrize("fail_closed", [False, True])
def test_a_state_never_loaded_fails_open_or_closed_as_configured(registry, fail_closed, caplog) -> None:
    errors: list[int] = []
    gate = ContainmentGate(Unreadable(), registry=registry, fail_closed=fail_closed, on_error=lambda: errors.append(1))
    expected = ("kill_switch", None) if fail_closed else None
    assert gate.turn_blocked("p") == expected
    assert gate.tool_blocked("delete", writes=True) == expected
    assert gate.guardrail_threshold("toxicity", 0.8) == 0.8
    [failure] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert "containment state at sqlite:///gone.db could not be loaded" in failure.getMessage()
    assert "unable to open database file" in failure.getMessage()
    assert ("fail closed" if fail_closed else "fail open") in failure.getMessage()
    assert len(errors) >= 2


def test_open_gate_reads_the_first_load_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AII_CONTAINMENT_FAIL_CLOSED", "true")
    monkeypatch.setenv("AII_CONTAINMENT_LOAD_TIMEOUT_S", "0.2")
    gate = open_gate(f"http://127.0.0.1:{free_port()}", registry=Registry())  # nothing answers there
    try:
        started = time.monotonic()
        assert gate.turn_blocked(None) == ("kill_switch", None)
        assert 0.15 < time.monotonic() - started < 1.0
    finally:
        gate.close()
    monkeypatch.setenv("AII_CONTAINMENT_LOAD_TIMEOUT_S", "soon")
    with pytest.raises(ValueError, match="AII_CONTAINMENT_LOAD_TIMEOUT_S='soon' is not a number"):
        open_gate(f"http://127.0.0.1:{free_port()}", registry=Registry())


def test_open_gate_looks_for_changes_as_often_as_the_environment_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'refresh.db'}"
    state = SqliteContainmentState(tmp_path / "refresh.db")
    monkeypatch.setenv("AII_CONTAINMENT_REFRESH_S", "0.2")
    often = open_gate(url, registry=Registry())
    monkeypatch.setenv("AII_CONTAINMENT_REFRESH_S", "3600")
    hourly = open_gate(url, registry=Registry())
    try:
        assert often.turn_blocked(None) is None and hourly.turn_blocked(None) is None
        _apply(state, Action.KILL_SWITCH)
        time.sleep(0.3)
        assert often.turn_blocked(None) == ("kill_switch", None)
        assert hourly.turn_blocked(None) is None  # enforced within the hour it was told, not before
    finally:
        often.close()
        hourly.close()
        state.close()
    for bad in ("0", "soon"):
        monkeypatch.setenv("AII_CONTAINMENT_REFRESH_S", bad)
        with pytest.raises(ValueError, match="AII_CONTAINMENT_REFRESH_S"):
            open_gate(url, registry=Registry())
