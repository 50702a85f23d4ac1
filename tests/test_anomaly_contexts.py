"""How often a value is new, judged next to its categorical siblings: a record field that starts to appear
with values of its own stops alerting within twenty sightings, while a new value next to a settled sibling
value, a new pair of values repeated, and attacks under the young field keep their scores. Each is checked
on a model trained on ordinary calls of one tool."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from otel_ai_incident.guardrails.anomaly import SUSPICIOUS, ToolArgumentScorer
from otel_ai_incident.guardrails.anomaly.features import fingerprint, profile
from otel_ai_incident.guardrails.anomaly.model import CONTEXTS
from otel_ai_incident.guardrails.anomaly.scorer import STRONG
from test_anomaly_shapes import numbers_in

Make = Callable[[random.Random], dict[str, Any]]
SETTLED = {
    "status": ("open", "pending", "solved"),
    "priority": ("low", "normal", "high", "urgent"),
    "channel": ("email", "chat", "phone", "web"),
}
# The field that starts to appear, and its own values: each seen about five times by its twentieth call.
NEW_FIELD = "sla_tier"
NEW_VALUES = ("bronze", "silver", "gold", "platinum")


def settled_ticket(rng: random.Random) -> dict[str, Any]:
    """Every field takes a few values: the `value` argument is categorical over all."""
    field = rng.choice(tuple(SETTLED))
    return {"ticket_id": f"TK-{rng.randint(10**5, 10**6)}", "field": field, "value": rng.choice(SETTLED[field])}


def mixed_ticket(rng: random.Random) -> dict[str, Any]:
    """Dates, assignees and notes next to the categorical fields: new values are common over all, and the
    new field's values are news by their shape (no value of `value` had seven or ten letters)."""
    field = rng.choice(("status", "status", "priority", "due", "assignee", "note"))
    value = {
        "status": lambda: rng.choice(("open", "pending", "solved")),
        "priority": lambda: rng.choice(("low", "high", "urgent")),
        "due": lambda: f"2027-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "assignee": lambda: f"agent{rng.randint(1, 40)}@desk.example.org",
        "note": lambda: f"customer called back about order {rng.randint(1000, 9999)}",
    }[field]()
    return {"ticket_id": f"TK-{rng.randint(10**5, 10**6)}", "field": field, "value": value}


def young(rng: random.Random) -> dict[str, Any]:
    return {"ticket_id": f"TK-{rng.randint(10**5, 10**6)}", "field": NEW_FIELD, "value": rng.choice(NEW_VALUES)}


def trained(make: Make, calls: int = 800, seed: int = 5) -> ToolArgumentScorer:
    scorer = ToolArgumentScorer(warmup=50)
    rng = random.Random(seed)
    for _ in range(calls):
        scorer.observe("set_ticket_field", make(rng))
    return scorer


def drift(scorer: ToolArgumentScorer, make: Make, sightings: int, seed: int = 6) -> list[float]:
    """The new field in every third call among ordinary ones; the scores of its calls."""
    rng = random.Random(seed)
    scores = []
    for index in range(3 * sightings):
        if index % 3 == 0:
            scores.append(scorer.observe("set_ticket_field", young(rng)))
        else:
            scorer.observe("set_ticket_field", make(rng))
    return scores


def judged(scorer: ToolArgumentScorer, arguments: dict[str, Any]) -> tuple[float, float]:
    """(score, strong part of it) without learning."""
    return scorer._tools["set_ticket_field"].judge(profile(arguments))


@pytest.mark.parametrize("make", [settled_ticket, mixed_ticket], ids=["categorical", "mixed"])
def test_a_new_field_with_values_of_its_own_is_absorbed_within_twenty_sightings(make: Make) -> None:
    scorer = trained(make)
    scores = drift(scorer, make, 60)
    assert scores[0] >= SUSPICIOUS  # the new field is news until it is known
    assert max(scores[20:]) < SUSPICIOUS, scores


def test_a_new_value_next_to_a_settled_value_stays_flagged() -> None:
    scorer = trained(settled_ticket)
    drift(scorer, settled_ticket, 60)
    # A settled field: hundreds of sightings, a few values each seen many times.
    assert judged(scorer, {"ticket_id": "TK-204811", "field": "status", "value": "archived"})[0] >= SUSPICIOUS
    # The young field once its values have settled too (each seen about fifteen times): novelty there is
    # strong again.
    assert judged(scorer, {"ticket_id": "TK-204811", "field": NEW_FIELD, "value": "diamond"})[0] >= SUSPICIOUS
    assert judged(scorer, {"ticket_id": "TK-204811", "field": NEW_FIELD, "value": "gold"})[0] < 0.3


def test_two_new_values_do_not_vouch_for_each_other() -> None:
    """A never-seen field with a never-seen value, repeated: each is news next to the other (a sibling
    value that is new itself gives no context), so the pair is learned no faster than one new value."""
    scorer = trained(settled_ticket)
    rng = random.Random(7)
    pair = {"field": "forward_queue", "value": "offsite"}
    scores = [
        scorer.observe("set_ticket_field", {"ticket_id": f"TK-{rng.randint(10**5, 10**6)}", **pair}) for _ in range(9)
    ]
    assert min(scores) >= SUSPICIOUS, scores


def test_under_a_young_field_a_plain_new_word_is_expected_and_attacks_are_not() -> None:
    """Decided: once a new field is known (about ten sightings) and while its values are still arriving, a
    plain new word under it is what happens there and does not alert, however settled the argument's other
    fields are. What attacks carry is judged as before: an attack token, a traversal, a recipient at a
    domain the argument never had (where an address points has no context)."""
    scorer = trained(settled_ticket)
    drift(scorer, settled_ticket, 12)
    plain = {"ticket_id": "TK-310422", "field": NEW_FIELD, "value": "copper"}
    assert judged(scorer, plain)[0] < SUSPICIOUS
    assert judged(scorer, {**plain, "field": "priority"})[0] >= SUSPICIOUS  # the same word under a settled field
    for value in ("x' OR '1'='1", "../../../../etc/shadow"):
        score, strong = judged(scorer, {**plain, "value": value})
        assert score >= SUSPICIOUS and strong >= STRONG, value
    scorer = trained(mixed_ticket)
    drift(scorer, mixed_ticket, 12)
    outside = {"ticket_id": "TK-310422", "field": NEW_FIELD, "value": "drop@mailbox-relay.net"}
    assert judged(scorer, outside)[0] >= SUSPICIOUS


def test_an_account_of_another_shape_next_to_a_settled_currency_is_flagged() -> None:
    """Ids are new on every call, so their rate of new values says nothing; their shape is settled next to
    each currency, and an IBAN among `ACC-` accounts keeps its score."""

    def transfer(rng: random.Random) -> dict[str, Any]:
        currency = rng.choice(("EUR", "USD"))
        return {"to_account": f"ACC-{rng.randint(10000, 99999)}", "currency": currency, "amount": 120.0}

    scorer = ToolArgumentScorer(warmup=50)
    rng = random.Random(8)
    for _ in range(600):
        scorer.observe("transfer", transfer(rng))
    iban = {"to_account": "DE89370400440532013000", "currency": "EUR", "amount": 120.0}
    assert scorer.score("transfer", iban) >= SUSPICIOUS
    assert scorer.score("transfer", {**iban, "to_account": "ACC-55555"}) < 0.3


def test_contexts_stay_bounded() -> None:
    """A settled tool where, every twentieth call, a field never seen before brings a word never seen before:
    each leaves a context with a value seen once, far more of them than an argument keeps."""
    scorer = ToolArgumentScorer(warmup=50)
    rng = random.Random(9)
    sizes = []
    for index in range(3000):
        arguments = settled_ticket(rng)
        if index % 20 == 19:
            arguments.update(field=f"custom_{index}", value=f"w{index}")
        scorer.observe("set_ticket_field", arguments)
        sizes.append(max(len(model.contexts or ()) for model in scorer._tools["set_ticket_field"].arguments.values()))
    assert max(sizes) == CONTEXTS


def test_contexts_are_saved_sealed_and_restored(tmp_path: Any) -> None:
    key = b"c" * 32
    scorer = ToolArgumentScorer(warmup=50, key=key)
    rng = random.Random(5)
    for _ in range(800):
        scorer.observe("set_ticket_field", settled_ticket(rng))
    drift(scorer, settled_ticket, 12)
    assert any(model.contexts for model in scorer._tools["set_ticket_field"].arguments.values())
    path = tmp_path / "baseline.json"
    scorer.save(path)
    saved = numbers_in(json.loads(path.read_text()))
    for plain in (NEW_FIELD, "field", *NEW_VALUES):
        assert fingerprint(plain) not in saved, plain
    restored = ToolArgumentScorer.load(path, key)
    rng = random.Random(10)
    rest = [young(rng) if i % 3 == 0 else settled_ticket(rng) for i in range(60)]
    expected = [scorer.observe("set_ticket_field", arguments) for arguments in rest]
    assert [restored.observe("set_ticket_field", arguments) for arguments in rest] == expected

    # A state saved before contexts were kept loads with none: a new word under the young field is news again.
    plain = {"ticket_id": "TK-310422", "field": NEW_FIELD, "value": "copper"}
    assert ToolArgumentScorer.load(path, key).score("set_ticket_field", plain) < SUSPICIOUS
    state = json.loads(path.read_text())
    for _, tool in state["tools"]:
        for _, argument in tool["arguments"]:
            del argument["contexts"]
    assert ToolArgumentScorer.from_state(state, key).score("set_ticket_field", plain) >= SUSPICIOUS
