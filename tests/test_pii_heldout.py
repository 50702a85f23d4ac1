"""The PII detector on the held-out set (`otel_ai_incident.testing.pii_heldout`) and on the classes of text
that set was built to probe: delimited fields, labels glued to values, other locales, more token families
and the look-alikes that must stay unreported."""

from __future__ import annotations

import ipaddress
import random

import phonenumbers
import pytest

from otel_ai_incident.guardrails.pii import PiiDetector
from otel_ai_incident.testing import pii_heldout_values as values
from otel_ai_incident.testing.pii_heldout import DELIMITED, LOCALES, STYLES, generate_heldout, measure

DETECTOR = PiiDetector()


def found(text: str) -> list[tuple[str, str]]:
    return [(f.entity_type, text[f.start : f.end]) for f in DETECTOR.scan(text)]


def test_heldout_set_is_seeded_spans_exact_and_values_valid() -> None:
    cases = generate_heldout(seed=7, replies=200)
    assert [c.case for c in cases] == [c.case for c in generate_heldout(seed=7, replies=200)]
    assert {c.style for c in cases} == set(STYLES) and {c.locale for c in cases} == {loc.code for loc in LOCALES}
    assert any(not c.case.labels for c in cases)
    for held in cases:
        for entity, start, end in held.case.labels:
            value = held.case.text[start:end]
            assert value == value.strip() and value
            if entity == "IP_ADDRESS":
                ipaddress.ip_address(value)


def test_phone_values_are_valid_in_their_region() -> None:
    rng = random.Random(3)
    for region in ("US", "GB", "DE", "FR", "ES", "PL", "BR", "JP", "IT", "NL"):
        for _ in range(20):
            value = values.phone(rng, region).replace("(0)", "")
            assert phonenumbers.is_valid_number(phonenumbers.parse(value, region)), (region, value)


def test_goals_on_the_heldout_set() -> None:
    report = measure(DETECTOR.scan, generate_heldout(seed=11, replies=600), DETECTOR.entity_types)
    assert report.micro.precision >= 0.97 and report.micro.recall >= 0.97
    assert all(score.precision >= 0.95 and score.recall >= 0.95 for score in report.per_entity.values())
    assert report.prose_recall - report.delimited_recall <= 0.02
    assert report.clean_flagged <= 0.02
    assert set(report.recall_by_style) == set(STYLES) and set(STYLES) >= DELIMITED


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Field separators: a value followed by , ; | or a tab and more text is not glued to it.
        ("Jane,+49 30 1234567,42\n", [("PHONE", "+49 30 1234567")]),
        ("Jane;4111 1111 1111 1111;2025-01-02\n", [("CREDIT_CARD", "4111 1111 1111 1111")]),
        ("Jane,536-22-8147,INV-2024-1\n", [("US_SSN", "536-22-8147")]),
        ("host,90.210.171.249,8557.29\n", [("IP_ADDRESS", "90.210.171.249")]),
        ("| 06 12 34 56 78 | x |", [("PHONE", "06 12 34 56 78")]),
        ("Betrag;612 345 678,00;EUR\n", []),
        ("Berlin 030 5550123, Toronto +1 416-555-0123", [("PHONE", "030 5550123")]),
        # Labels glued to values.
        ("Card no.5444 0000 0000 0003\n", [("CREDIT_CARD", "5444 0000 0000 0003")]),
        ("Ph.+39 312 345 6789\n", [("PHONE", "+39 312 345 6789")]),
        ("IP:2001:db8::8a2e:370:7334\n", [("IP_ADDRESS", "2001:db8::8a2e:370:7334")]),
        ("電話番号\uff1a03-1234-5678です", [("PHONE", "03-1234-5678")]),
        # Wording that names something else before the number.
        ("The phone on the account is 303-437-7953.", [("PHONE", "303-437-7953")]),
        # National formats read through each region's numbering plan.
        ("Telefon: 030/1234567", [("PHONE", "030/1234567")]),
        ("Tél. +33 (0)1 23 45 67 89", [("PHONE", "+33 (0)1 23 45 67 89")]),
        ("Telefon: 12 345 67 89", [("PHONE", "12 345 67 89")]),
        ("Telefone: (11) 96123-4567", [("PHONE", "(11) 96123-4567")]),
        ("携帯 090-1234-5678", [("PHONE", "090-1234-5678")]),
        # Internationalised addresses.
        ("Mail jürgen.müller@bücher.de now", [("EMAIL", "jürgen.müller@bücher.de")]),
        ("メール\uff1a山田太郎@例え.jp", [("EMAIL", "山田太郎@例え.jp")]),
        ("info@xn--bcher-kva.de.", [("EMAIL", "info@xn--bcher-kva.de")]),
        ("email=priya@डाकघर.भारत mobile", [("EMAIL", "priya@डाकघर.भारत")]),
        # 19-digit Maestro.
        ("Maestro 6759 6498 2643 8453 011", [("CREDIT_CARD", "6759 6498 2643 8453 011")]),
    ],
)
def test_classes_the_heldout_set_probes(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    "token",
    [
        "glpat-AXAKndpbLrjVN3TPap45",
        "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",
        "npm_puFRE9oTAvJN6U6PrPod6eWGP4xkGXY4nttS",
        "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",
        "dop_v1_b5e23c548d61fcbc512838242e7cdc5ae4f63dd3987c06e007865946898e5bfd",
        "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",
        "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",
    ],
)
def test_token_families_with_published_prefixes(token: str) -> None:
    assert found(f"token {token} end") == [("SECRET", token)]


def test_labelled_secrets_with_spaced_labels() -> None:
    key = "rCLxv0Y4oFm5ui9bPdb8qqqX74EFBRWNvM5GPFmR"
    assert found(f"Secret access key: {key}\n") == [("SECRET", key)]
    assert found("Client secret: Ab38Q~x.yZ_12345678901234567890abcdefgh.") == [
        ("SECRET", "Ab38Q~x.yZ_12345678901234567890abcdefgh")
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Use AKIAXXXXXXXXXXXXXXXX or the documented AKIAIOSFODNN7EXAMPLE.",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "export GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "api_key=sk_test_XXXXXXXXXXXXXXXXXXXXXXXX.",
        "DIGITALOCEAN_TOKEN=dop_v1_" + "0" * 64,
        "See section 3.7.5.9 and § 4.1.2.3, clause 1.2.3.4.",
        "Our EIN 12-3456789 is on the invoice; tax id 98-7654321.",
        "Call (212) 555-0147 or 555-0123, the numbers of fiction.",
        "The number 3605 658999 9065 fails the checksum, as does 4111 1111 1111 1112.",
        "See icon@2x.png and logo@3x.jpg.",
        "Mobile: see below\n46843425\nactive",
    ],
)
def test_lookalikes_stay_unreported(text: str) -> None:
    assert found(text) == []
