"""The independent evaluation sets are what they claim to be: deterministic per seed, every labelled value valid
by its public format rule (phones per the phone library's region metadata, IBAN mod-97, Luhn, SSA rules) with a
span that slices to it, hard negatives that fail those rules, and a tool-call stream with the tools, drifts and
attack families it documents. Detector quality is deliberately not asserted here: these sets measure it.
"""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from otel_ai_incident.testing.independent import pii, toolcalls
from otel_ai_incident.testing.independent import pii_values as v
from otel_ai_incident.testing.independent.pii_locales import LOCALES
from otel_ai_incident.testing.independent.pii_negatives import negative
from otel_ai_incident.testing.independent.toolcall_attacks import FAMILIES
from otel_ai_incident.testing.independent.toolcall_traffic import DRIFTS, TOOLS

REGION = {loc.code: loc.region for loc in LOCALES}


@pytest.fixture(scope="module")
def cases() -> list[pii.Case]:
    return pii.generate(seed=11)


def _valid(entity_type: str, value: str, locale: str) -> bool:
    digits = value.replace(" ", "").replace("-", "")
    checks = {
        "PHONE": lambda: (
            v.phone_is_valid(value, REGION[locale], "fixed") or v.phone_is_valid(value, REGION[locale], "mobile")
        ),
        "IBAN": lambda: v.iban_is_valid(value),
        "CREDIT_CARD": lambda: digits.isdigit() and 14 <= len(digits) <= 19 and v.luhn_is_valid(digits),
        "US_SSN": lambda: v.ssn_is_valid(value),
        "IP_ADDRESS": lambda: v.ip_is_valid(value),
        "EMAIL": lambda: v.email_is_valid(value),
        "SECRET": lambda: len(value) >= 20 and value not in v.PLACEHOLDER_SECRETS and " " not in value,
    }
    return checks[entity_type]()


def test_pii_set_is_deterministic_per_seed() -> None:
    assert pii.generate(seed=5, n=300) == pii.generate(seed=5, n=300)
    assert pii.generate(seed=5, n=300) != pii.generate(seed=6, n=300)


def test_every_pii_label_is_valid_and_slices_to_its_value(cases: list[pii.Case]) -> None:
    invalid = []
    for case in cases:
        previous_end = -1
        for label in sorted(case.labels, key=lambda lab: lab.start):
            assert case.text[label.start : label.end] == label.value
            assert label.start >= previous_end, "labelled spans never overlap"
            previous_end = label.end
            if not _valid(label.entity_type, label.value, case.locale):
                invalid.append((label.entity_type, label.value, case.locale))
    assert invalid == []


def test_pii_set_covers_locales_layouts_types_and_pii_free_replies(cases: list[pii.Case]) -> None:
    assert len(cases) >= 1500
    assert len({c.locale for c in cases}) >= 10
    assert set(Counter(c.layout for c in cases)) == set(pii.LAYOUTS)
    assert sum(not c.labels for c in cases) / len(cases) >= 0.25
    per_type = Counter(lab.entity_type for c in cases for lab in c.labels)
    assert set(per_type) == set(pii.ENTITY_TYPES) and min(per_type.values()) >= 50
    for case in cases:
        if case.layout == "json":
            json.loads(case.text.split("```json\n", 1)[1].split("```", 1)[0])


def test_hard_negatives_fail_the_rules_their_lookalikes_pass() -> None:
    rng = random.Random(3)
    german = next(loc for loc in LOCALES if loc.code == "de-DE")
    for _ in range(200):
        assert not v.luhn_is_valid(negative(rng, german, "bad_luhn").text.replace(" ", "").replace("-", ""))
        assert not v.iban_is_valid(negative(rng, german, "bad_iban").text)
        assert not v.ssn_is_valid(negative(rng, german, "bad_ssn").text)
        assert not v.phone_is_valid(negative(rng, german, "fictional_phone").text, "US", "fixed")
        assert not v.ip_is_valid(negative(rng, german, "ip_lookalike").text)


def test_measure_counts_exact_spans_only(cases: list[pii.Case]) -> None:
    sample = cases[:200]
    by_text = {c.text: c for c in sample}

    def perfect(text: str) -> list[pii.Label]:
        return list(by_text[text].labels)

    def shifted(text: str) -> list[pii.Label]:
        return [pii.Label(lab.entity_type, lab.start, lab.end + 1, "") for lab in by_text[text].labels]

    exact = pii.measure(perfect, sample)
    assert exact.micro.precision == exact.micro.recall == 1.0 and exact.pii_free_flagged == 0
    off_by_one = pii.measure(shifted, sample)
    assert off_by_one.micro.tp == 0 and off_by_one.micro.fn == exact.micro.tp


def test_tool_stream_is_deterministic_per_seed() -> None:
    assert toolcalls.generate(seed=4, clean=200, calls=1500) == toolcalls.generate(seed=4, clean=200, calls=1500)
    assert toolcalls.generate(seed=4, clean=200, calls=1500) != toolcalls.generate(seed=5, clean=200, calls=1500)


def test_tool_stream_has_its_tools_drifts_and_attack_families() -> None:
    clean, stream = toolcalls.generate(seed=9)
    assert all(c.kind == "normal" for c in clean)
    assert len({c.tool for c in stream}) == len(TOOLS) >= 8
    attacks = [c for c in stream if c.kind == "attack"]
    assert len(attacks) / len(stream) < 0.05
    assert {c.family for c in attacks} == {f.name for f in FAMILIES} and len(FAMILIES) >= 12
    assert any(f.subtle for f in FAMILIES) and any(f.ssrf_exfil for f in FAMILIES)
    drift_calls = [(i, c) for i, c in enumerate(stream) if c.kind == "drift"]
    assert len(DRIFTS) >= 6
    for drift in DRIFTS:
        mine = [(i, c) for i, c in drift_calls if c.family == drift.kind]
        assert len(mine) > toolcalls.DRIFT_SETTLED, drift.kind  # recurs past the point it counts as settled
        assert min(i for i, _ in mine) >= drift.start * len(stream), drift.kind  # starts part-way
        assert [c.seen_before for _, c in mine] == list(range(len(mine)))


def test_roc_auc_is_the_mann_whitney_statistic() -> None:
    assert toolcalls.roc_auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert toolcalls.roc_auc([0.1], [0.9]) == 0.0
    assert toolcalls.roc_auc([0.5, 0.5], [0.5, 0.5]) == 0.5
    assert toolcalls.roc_auc([0.3, 0.9], [0.3, 0.1]) == pytest.approx((0.5 + 1 + 1 + 1) / 4)


def test_tool_measure_on_a_constant_scorer_is_chance() -> None:
    clean, stream = toolcalls.generate(seed=2, clean=100, calls=1200)
    report = toolcalls.measure(lambda tool, arguments: 0.0, stream, clean)
    assert report.auc == report.auc_subtle == report.auc_ssrf_exfil == 0.5
    assert report.recall == 0.0 and report.drift_flagged == 0.0
