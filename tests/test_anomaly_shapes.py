"""The tool-argument scorer's structural features: address kinds (SSRF), look-alike hosts, SQL shape, value
shape, encoded runs, amounts per currency, new keys, and how a recurring new value is absorbed while a
repeated attack is not. Each is checked on a model trained on ordinary calls of one tool."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from typing import Any

import pytest

from otel_ai_incident.guardrails.anomaly import SUSPICIOUS, ToolArgumentScorer
from otel_ai_incident.guardrails.anomaly.chars import Char, string_chars
from otel_ai_incident.guardrails.anomaly.features import fingerprint, profile
from otel_ai_incident.guardrails.anomaly.model import GROUPS, MARKS, SHAPES
from otel_ai_incident.guardrails.anomaly.scorer import STRONG
from otel_ai_incident.guardrails.anomaly.sql import statement
from otel_ai_incident.guardrails.anomaly.urls import name_marks, reach, url_parts
from otel_ai_incident.testing.toolcall_heldout import generate_toolcalls

Make = Callable[[random.Random], dict[str, Any]]
HOSTS = ("api.github.com", "api.stripe.com", "en.wikipedia.org", "docs.python.org")


def trained(tool: str, make: Make, calls: int = 400, seed: int = 3) -> ToolArgumentScorer:
    scorer = ToolArgumentScorer(warmup=50)
    rng = random.Random(seed)
    for _ in range(calls):
        scorer.observe(tool, make(rng))
    return scorer


def strong_part(scorer: ToolArgumentScorer, tool: str, arguments: dict[str, Any]) -> float:
    """The share of the score that comes from evidence only attacks produce (see model.ArgumentModel)."""
    return scorer._tools[tool].judge(profile(arguments))[1]


def fetch(rng: random.Random) -> dict[str, Any]:
    return {"url": f"https://{rng.choice(HOSTS)}/v1/items/{rng.randint(1, 10**6)}?page={rng.randint(1, 9)}"}


@pytest.fixture(scope="module")
def fetcher() -> ToolArgumentScorer:
    return trained("http_fetch", fetch)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://169.254.169.254/latest/meta-data/iam/", "ip:link-local"),
        ("http://metadata.google.internal/computeMetadata/v1/", "internal"),
        ("http://10.0.3.7:8080/admin", "ip:private"),
        ("http://[::1]:6379/", "ip:loopback"),
        ("file:///etc/passwd", "none"),
        ("gopher://127.0.0.1:6379/_SET%20x", "ip:loopback"),
    ],
)
def test_ssrf_destinations_are_a_new_kind_of_address(fetcher: ToolArgumentScorer, url: str, kind: str) -> None:
    parts = url_parts(url)
    assert parts is not None and reach(parts.domain) == kind
    assert fetcher.score("http_fetch", {"url": url}) >= 0.99
    assert strong_part(fetcher, "http_fetch", {"url": url}) >= STRONG


def test_a_look_alike_host_is_strong_evidence_and_a_new_partner_is_not(fetcher: ToolArgumentScorer) -> None:
    known: set[str] = set()
    for host in HOSTS:
        known.update(name_marks(host)[0])
    for host in ("api.stripe.co", "api.str1pe.com", "api-github.com", "api.github.com.evil.io", "docs.pyth0n.org"):
        assert known & {*name_marks(host)[1], *name_marks(host)[2]}, host
        arguments = {"url": f"https://{host}/v1/items/7?page=2"}
        assert fetcher.score("http_fetch", arguments) >= 0.98, host
        assert strong_part(fetcher, "http_fetch", arguments) >= STRONG, host
    for host in ("api.slack.com", "mail.proton.me", "status.example.org"):
        assert not known & {*name_marks(host)[1], *name_marks(host)[2]}, host
        assert strong_part(fetcher, "http_fetch", {"url": f"https://{host}/v1/items/7?page=2"}) < STRONG, host
    assert fetcher.score("http_fetch", {"url": "https://api.stripe.com/v1/items/8?page=4"}) < 0.3


def test_data_smuggled_in_a_query_string_is_flagged(fetcher: ToolArgumentScorer) -> None:
    blob = "amFuZUBhY21lLWNvcnAuY29tO2xpQG91dGxvb2suY29tO29tYXJAYWNtZS1jb3JwLmNvbQ"
    assert string_chars(f"page=2&ref={blob}") & Char.ENCODED
    for text in ("/srv/App/Reports/2025/Q1/Summary-Final-Report.csv", "Summary-Final-Report-2025-Q1-Version-Two"):
        assert not string_chars(text) & Char.ENCODED
    assert fetcher.score("http_fetch", {"url": f"https://api.github.com/v1/items/3?page=2&ref={blob}"}) >= 0.8


@pytest.mark.parametrize(
    ("sql", "shape"),
    [
        ("SELECT id FROM orders WHERE status = 'open'", ("select:where", "orders")),
        ("SELECT id, total\nFROM orders\nJOIN shipments s ON s.order_id = id", ("select:all", "orders,shipments")),
        ("DROP TABLE orders", ("drop:table", "orders")),
        ("TRUNCATE shipments", ("truncate:table", "shipments")),
        ("DELETE FROM customers", ("delete:all", "customers")),
        ("UPDATE orders SET total = 0 WHERE id = 4", ("update:where", "orders")),
        ("update my shipping address please", None),
        ("select a gift for my mother", None),
    ],
)
def test_sql_shape(sql: str, shape: tuple[str, str] | None) -> None:
    assert statement(sql.lower()) == shape


def test_destructive_and_stacked_sql_stand_out_and_a_new_table_is_only_novel() -> None:
    def select(rng: random.Random) -> dict[str, Any]:
        table = rng.choice(("orders", "products", "shipments"))
        return {"query": f"SELECT id, status FROM {table} WHERE id = {rng.randint(1, 9999)} LIMIT 10"}

    scorer = trained("run_sql", select)
    for sql in ("DROP TABLE orders", "DELETE FROM orders", "SELECT id FROM orders WHERE id = 1; DROP TABLE orders"):
        assert scorer.score("run_sql", {"query": sql}) >= 0.99, sql
        assert strong_part(scorer, "run_sql", {"query": sql}) >= STRONG, sql
    new_table = {"query": "SELECT id, status FROM invoices WHERE id = 77 LIMIT 10"}
    assert scorer.score("run_sql", new_table) >= SUSPICIOUS
    assert strong_part(scorer, "run_sql", new_table) < STRONG


def refund(currency_scale: dict[str, float]) -> Make:
    def make(rng: random.Random) -> dict[str, Any]:
        currency = rng.choice(tuple(currency_scale))
        amount = round(currency_scale[currency] * random.Random(rng.random()).lognormvariate(0, 0.5), 2)
        return {"order_id": f"ORD-{rng.randint(100000, 999999)}", "amount": amount, "currency": currency}

    return make


def test_amounts_are_judged_per_currency() -> None:
    scorer = trained("refund", refund({"USD": 60.0, "EUR": 55.0, "JPY": 8000.0}), calls=600)
    assert scorer.score("refund", {"order_id": "ORD-123456", "amount": 9000.0, "currency": "JPY"}) < 0.3
    assert scorer.score("refund", {"order_id": "ORD-123456", "amount": 9000.0, "currency": "USD"}) >= 0.8
    assert scorer.score("refund", {"order_id": "ORD-123456", "amount": 2.0, "currency": "JPY"}) >= 0.8
    groups = scorer._tools["refund"].arguments
    assert any(model.groups for model in groups.values())  # learned on the categorical sibling only


def test_a_recurring_new_value_is_absorbed_and_a_repeated_attack_is_not() -> None:
    scorer = trained("refund", refund({"USD": 60.0, "EUR": 55.0}), calls=600)
    rng = random.Random(9)
    launch = [
        scorer.observe("refund", {"order_id": f"ORD-{rng.randint(100000, 999999)}", "amount": 40.0, "currency": "SEK"})
        for _ in range(40)
    ]
    assert launch[0] >= SUSPICIOUS
    assert max(launch[20:]) < SUSPICIOUS

    # Strong evidence is judged by frequency and learned at the quarantine weight: the same SSRF call sent
    # 60 times after 800 ordinary ones (7% of the tool's traffic) is flagged every time.
    for url in ("http://169.254.169.254/latest/meta-data/", "https://api.str1pe.com/v1/items/1?page=1"):
        scorer = trained("http_fetch", fetch, calls=800)
        assert min(scorer.observe("http_fetch", {"url": url}) for _ in range(60)) >= SUSPICIOUS, url


def test_an_account_of_another_shape_is_new_and_one_of_the_usual_shape_is_not() -> None:
    def transfer(rng: random.Random) -> dict[str, Any]:
        return {"to_account": f"ACC-{rng.randint(10000, 99999)}", "amount": 100.0}

    scorer = trained("transfer_funds", transfer)
    assert scorer.score("transfer_funds", {"to_account": "ACC-55555", "amount": 100.0}) < 0.3
    assert scorer.score("transfer_funds", {"to_account": "DE89370400440532013000", "amount": 100.0}) >= 0.8


def test_a_new_optional_key_scores_low_and_a_safeguard_switch_high() -> None:
    def ticket(rng: random.Random) -> dict[str, Any]:
        return {"title": f"Issue {rng.randint(1, 10**6)}", "priority": rng.choice(("low", "normal", "high"))}

    scorer = trained("create_ticket", ticket)
    for key in ("due_date", "root_cause", "forecast"):
        assert scorer.score("create_ticket", {"title": "Issue 5", "priority": "low", key: "2025-07-01"}) <= 0.5, key
    for key in ("skip_approval", "admin_override", "force", "bypass_audit", "noVerify", "isAdmin"):
        assert scorer.score("create_ticket", {"title": "Issue 5", "priority": "low", key: True}) >= 0.8, key


def test_new_structures_stay_bounded() -> None:
    scorer = ToolArgumentScorer(warmup=0, top_k=32)
    for i in range(3000):
        scorer.observe(
            "t",
            {
                "url": f"https://host{i}.example{i}.com/x",
                "id": f"{'A' * (i % 40)}-{i}",
                "amount": float(i),
                **{f"code{j}": f"c{(i * (j + 1)) % 97}" for j in range(6)},
            },
        )
    for argument in scorer._tools["t"].arguments.values():
        assert argument.shapes is None or len(argument.shapes.counts) <= SHAPES
        assert argument.marks is None or len(argument.marks) <= MARKS
        assert argument.groups is None or len(argument.groups) <= 4
        for grouping in (argument.groups or {}).values():
            assert len(grouping.groups) <= GROUPS


def test_state_round_trip_and_threads_on_the_heldout_stream(tmp_path: Any) -> None:
    stream = generate_toolcalls(seed=11, calls=3000, clean_calls=1500)
    scorer = ToolArgumentScorer()
    for call in stream[:2000]:
        scorer.observe(call.tool, call.arguments)
    path = tmp_path / "anomaly.json"
    scorer.save(path)
    text = path.read_text()
    assert "github" not in text and "stripe" not in text and "orders" not in text and "USD" not in text
    restored = ToolArgumentScorer.load(path)
    rest = stream[2000:]
    assert [scorer.observe(c.tool, c.arguments) for c in rest] == [restored.observe(c.tool, c.arguments) for c in rest]

    shared = ToolArgumentScorer()
    errors: list[BaseException] = []

    def worker(offset: int) -> None:
        try:
            for call in stream[offset::4]:
                assert 0.0 <= shared.observe(call.tool, call.arguments) <= 1.0
        except BaseException as error:  # handed to the main thread, which asserts there were none
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(model.calls for model in shared._tools.values()) == len(stream)
    json.dumps(shared.state())


def numbers_in(node: Any) -> set[int]:
    if isinstance(node, dict):
        return set().union(*map(numbers_in, node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*map(numbers_in, node)) if node else set()
    return {node} if isinstance(node, int) and not isinstance(node, bool) else set()


def test_saved_fingerprints_are_sealed_with_the_key(tmp_path: Any) -> None:
    key = b"k" * 32
    scorer = trained("refund", refund({"USD": 60.0, "EUR": 55.0}), calls=200)
    keyed = ToolArgumentScorer.from_state(scorer.state())  # same process key
    assert keyed.state() == scorer.state()
    scorer = ToolArgumentScorer(warmup=0, key=key)
    for i in range(100):
        scorer.observe("refund", {"order_id": f"ORD-{i}", "amount": 10.0 + i, "currency": ("USD", "EUR")[i % 2]})
    path = tmp_path / "baseline.json"
    scorer.save(path)
    saved = numbers_in(json.loads(path.read_text()))
    for plain in ("USD", "EUR", "currency", "amount", "order_id"):
        assert fingerprint(plain) not in saved, plain
    restored = ToolArgumentScorer.load(path, key)
    probe = {"order_id": "ORD-5", "amount": 1e6, "currency": "USD"}
    assert restored.score("refund", probe) == scorer.score("refund", probe) >= 0.8
    with pytest.raises(ValueError, match="another key"):
        ToolArgumentScorer.load(path, b"j" * 32)


@pytest.mark.parametrize(
    "host", ["169.254.169.254", "10.0.0.5:5432", "[::1]:6379", "localhost", "metadata.google.internal"]
)
def test_an_internal_host_argument_without_a_scheme_is_flagged(host: str) -> None:
    def connect(rng: random.Random) -> dict[str, Any]:
        return {"host": rng.choice(("db.acme-corp.com", "replica.acme-corp.com")), "database": "orders"}

    scorer = trained("connect_db", connect)
    assert scorer.score("connect_db", {"host": "db.acme-corp.com", "database": "orders"}) < 0.3
    assert scorer.score("connect_db", {"host": host, "database": "orders"}) >= 0.8
    assert strong_part(scorer, "connect_db", {"host": host, "database": "orders"}) >= STRONG
