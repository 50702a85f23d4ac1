"""The tool-argument anomaly scorer: warm-up, each misuse class, bounds, persistence, determinism, threads."""

from __future__ import annotations

import json
import random
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_ai_incident.guardrails.anomaly import QUARANTINE_WEIGHT, ToolArgumentScorer
from otel_ai_incident.guardrails.anomaly.chars import Char, string_chars
from otel_ai_incident.guardrails.anomaly.features import profile
from otel_ai_incident.guardrails.anomaly.sketches import Vocabulary
from otel_ai_incident.testing.anomaly_sim import MISUSE_KINDS, NORMAL, simulate

ALERT = 0.8


def trained(calls: int = 2000, seed: int = 1) -> ToolArgumentScorer:
    """A scorer that has seen `calls` ordinary calls of the simulated support agent."""
    scorer = ToolArgumentScorer(seed=seed)
    for call in simulate(seed=seed, calls=calls, clean_calls=calls):
        scorer.observe(call.tool, call.arguments)
    return scorer


@pytest.fixture(scope="module")
def scorer() -> ToolArgumentScorer:
    return trained()


def test_warmup_returns_zero_even_for_absurd_calls() -> None:
    scorer = ToolArgumentScorer(warmup=10)
    scores = [scorer.observe("refund", {"order_id": f"ORD-{i}", "amount": 20.0 + i}) for i in range(10)]
    assert scores == [0.0] * 10
    assert scorer.observe("refund", {"order_id": "*", "amount": 1e9, "sudo": True}) > ALERT


def test_score_does_not_learn(scorer: ToolArgumentScorer) -> None:
    attack = {"table": "users", "id": "rec_00000001"}
    first = scorer.score("delete_record", attack)
    assert [scorer.score("delete_record", attack) for _ in range(50)] == [first] * 50


MISUSE = {
    "wildcard_delete": ("delete_record", {"table": "sessions", "id": "*"}),
    "glob_delete": ("delete_record", {"table": "drafts", "id": "%"}),
    "like_pattern_delete": ("delete_record", {"table": "drafts", "id": "rec_%"}),
    "huge_refund": ("refund", {"order_id": "ORD-12345", "amount": 1e6, "currency": "USD"}),
    "negative_refund": ("refund", {"order_id": "ORD-12345", "amount": -500.0, "currency": "USD"}),
    "sql_tautology": ("query", {"sql": "SELECT * FROM customers WHERE name = '' OR 1=1 --"}),
    "sql_stacked": ("query", {"sql": "SELECT id FROM orders WHERE id = 7; DROP TABLE orders"}),
    "sql_union": ("query", {"sql": "SELECT name FROM customers WHERE id = 1 UNION SELECT password FROM users"}),
    "path_traversal": ("read_file", {"path": "kb/../../../etc/passwd"}),
    "absolute_path": ("read_file", {"path": "/etc/shadow"}),
    "unseen_key": ("get_order", {"order_id": "ORD-12345", "admin_override": True}),
    "missing_key": ("delete_record", {"id": "rec_0badf00d"}),
    "new_table": ("delete_record", {"table": "payments", "id": "rec_0badf00d"}),
    "huge_limit": ("search_kb", {"query": "refund policy", "limit": 100000}),
    "type_change": ("search_kb", {"query": "refund policy", "limit": "all"}),
    "list_instead_of_id": ("get_order", {"order_id": [f"ORD-{i}" for i in range(50)]}),
}


@pytest.mark.parametrize("name", sorted(MISUSE))
def test_each_misuse_class_scores_high(scorer: ToolArgumentScorer, name: str) -> None:
    tool, arguments = MISUSE[name]
    assert scorer.score(tool, arguments) > ALERT


def test_ordinary_calls_score_low(scorer: ToolArgumentScorer) -> None:
    fresh = simulate(seed=99, calls=2000, clean_calls=2000)
    scores = sorted(scorer.score(call.tool, call.arguments) for call in fresh)
    assert scores[int(0.95 * len(scores))] < 0.1
    assert sum(s > ALERT for s in scores) / len(scores) < 0.01


def test_every_simulated_misuse_class_is_caught_in_a_stream() -> None:
    scorer = ToolArgumentScorer(seed=3)
    caught: dict[str, list[bool]] = {kind: [] for kind in MISUSE_KINDS}
    for call in simulate(seed=3, calls=6000, clean_calls=2000, misuse_rate=0.05):
        score = scorer.observe(call.tool, call.arguments)
        if call.misuse is not None:
            caught[call.misuse].append(score > ALERT)
    for kind, hits in caught.items():
        assert hits, kind
        assert sum(hits) / len(hits) >= 0.9, (kind, hits)


def test_repeated_attack_stays_anomalous_for_a_while() -> None:
    scorer = trained()
    attack = {"table": "payments", "id": "rec_0badf00d"}
    scores = [scorer.observe("delete_record", attack) for _ in range(int(0.5 / QUARANTINE_WEIGHT))]
    assert min(scores) > ALERT


def test_a_learned_change_stops_alarming() -> None:
    scorer = trained()
    for i in range(300):
        scorer.learn("get_order", {"order_id": f"ORD-{10000 + i}", "region": "eu"})
    assert scorer.score("get_order", {"order_id": "ORD-55555", "region": "eu"}) < 0.3


def test_memory_bounds_hold() -> None:
    scorer = ToolArgumentScorer(warmup=0, max_tools=8, max_keys_per_tool=16, top_k=32)
    for i in range(10_000):
        scorer.observe("lookup", {"value": f"v{i}", f"key{i % 100}": i, "nested": {"a": [i] * 50}})
    model = scorer._tools["lookup"]
    assert len(model.keys.counts) <= 16
    assert len(model.arguments) <= 16
    assert len(model.keysets.counts) <= 32
    for argument in model.arguments.values():
        assert argument.values is None or len(argument.values.counts) <= 32
        for reservoir in (argument.sizes, argument.magnitudes):
            assert reservoir is None or len(reservoir.samples) <= reservoir.size
    for i in range(1_000):
        scorer.observe(f"tool{i}", {"x": i})
    assert len(scorer.tools()) == 8
    assert scorer.tools()[-1] == "tool999"


def test_least_recently_used_tool_is_evicted() -> None:
    scorer = ToolArgumentScorer(max_tools=2)
    scorer.observe("a", {})
    scorer.observe("b", {})
    scorer.observe("a", {})
    scorer.observe("c", {})
    assert scorer.tools() == ["a", "c"]


def test_vocabulary_keeps_heavy_hitters_under_churn() -> None:
    vocabulary = Vocabulary(8)
    rng = random.Random(0)
    for i in range(5_000):
        vocabulary.add(1 if rng.random() < 0.3 else 1000 + i, 1.0)
    assert len(vocabulary.counts) == 8
    assert vocabulary.guaranteed(1) > 1000
    assert vocabulary.novelty(0.1) > 0.5


def test_save_load_round_trip_gives_identical_scores(tmp_path: Any) -> None:
    scorer = trained(calls=1500)
    path = tmp_path / "anomaly.json"
    scorer.save(path)
    assert not [p for p in tmp_path.iterdir() if p.name != "anomaly.json"]
    restored = ToolArgumentScorer.load(path)
    assert json.loads(path.read_text()) == restored.state()
    probe = simulate(seed=5, calls=1000, clean_calls=500)
    assert [scorer.observe(c.tool, c.arguments) for c in probe] == [
        restored.observe(c.tool, c.arguments) for c in probe
    ]


def test_state_holds_no_argument_values() -> None:
    scorer = ToolArgumentScorer(warmup=0)
    scorer.observe("refund", {"email": "alice@example.com", "note": "secret-token-123"})
    text = json.dumps(scorer.state())
    assert "alice" not in text and "secret-token" not in text


def test_same_seed_same_scores_different_seed_may_differ() -> None:
    traffic = simulate(seed=11, calls=2500, clean_calls=1000)
    runs = []
    for seed in (7, 7):
        scorer = ToolArgumentScorer(seed=seed)
        runs.append([scorer.observe(c.tool, c.arguments) for c in traffic])
    assert runs[0] == runs[1]


def test_nested_arguments_are_flattened_with_dotted_paths() -> None:
    call = profile({"filter": {"status": "open", "tags": ["a", "b"]}, "ids": list(range(100))})
    assert len(call.keys) == 5  # filter, filter.status, filter.tags, ids, ids[]
    assert len(call.leaves) == 1 + 1 + 1 + 1 + 8  # ids[] is capped at 8 items; filter.tags[] is too deep


@pytest.mark.parametrize(
    ("text", "bit"),
    [
        ("*", Char.ONLY_WILDCARD),
        ("x' OR 'a'='a", Char.SQL_TAUTOLOGY),
        ("1; drop table t", Char.SQL_STACKED),
        ("a' UNION ALL SELECT pw FROM u", Char.SQL_UNION),
        ("..\\..\\win.ini", Char.PATH_TRAVERSAL),
        ("%2e%2e%2fetc", Char.PATH_TRAVERSAL),
        ("$(curl x)", Char.SHELL),
        ("x' --", Char.SQL_COMMENT),
    ],
)
def test_attack_tokens_are_recognised(text: str, bit: int) -> None:
    assert string_chars(text) & bit


@pytest.mark.parametrize("text", ["ORD-12345", "color = color", "SELECT a FROM t ORDER BY b", "how's it going?"])
def test_ordinary_text_has_no_attack_tokens(text: str) -> None:
    tokens = Char.ONLY_WILDCARD | Char.SQL_TAUTOLOGY | Char.SQL_STACKED | Char.SQL_UNION | Char.PATH_TRAVERSAL
    assert not string_chars(text) & tokens


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b"]), st.dictionaries(st.text(max_size=8), json_values, max_size=6)),
        min_size=1,
        max_size=30,
    )
)
def test_arbitrary_json_arguments_give_a_score_in_range(calls: list[tuple[str, dict[str, Any]]]) -> None:
    scorer = ToolArgumentScorer(warmup=3)
    for tool, arguments in calls:
        for score in (scorer.observe(tool, arguments), scorer.score(tool, arguments)):
            assert isinstance(score, float)
            assert 0.0 <= score <= 1.0
    assert ToolArgumentScorer.from_state(json.loads(json.dumps(scorer.state()))).state() == scorer.state()


def test_non_mapping_arguments_do_not_raise() -> None:
    scorer = ToolArgumentScorer(warmup=0)
    assert 0.0 <= scorer.observe("t", ["a", 1]) <= 1.0  # type: ignore[arg-type]
    assert 0.0 <= scorer.observe("t", "bare") <= 1.0  # type: ignore[arg-type]


def test_concurrent_observe_is_consistent() -> None:
    scorer = ToolArgumentScorer(warmup=20)
    traffic = simulate(seed=2, calls=4000, clean_calls=1000)
    errors: list[BaseException] = []

    def worker(offset: int) -> None:
        try:
            for call in traffic[offset::4]:
                score = scorer.observe(call.tool, call.arguments)
                assert 0.0 <= score <= 1.0
        except BaseException as error:  # handed to the main thread, which asserts there were none
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(scorer.tools()) == sorted(NORMAL)
    assert sum(scorer._tools[tool].calls for tool in NORMAL) == len(traffic)
    json.dumps(scorer.state())
