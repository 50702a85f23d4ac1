"""A seeded generator of labelled assistant replies for measuring the PII detector, and the scorer.

Positives are built from the formats' own rules, never by asking the detector (`pii_values`); hard
negatives are the look-alikes that trip naive detectors (`pii_lookalikes`). Both are embedded in realistic
replies, and most positive replies carry a hard negative too.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from otel_ai_incident.guardrails.pii.findings import (
    BUILTIN_ENTITIES,
    CREDIT_CARD,
    EMAIL,
    IBAN,
    IP_ADDRESS,
    PHONE,
    SECRET,
    US_SSN,
    Finding,
)
from otel_ai_incident.testing.pii_lookalikes import hard_negative
from otel_ai_incident.testing.pii_secrets import secret_with_context
from otel_ai_incident.testing.pii_values import SIMPLE_VALUES, phone_number


@dataclass(frozen=True, slots=True)
class Case:
    """A reply and the (entity_type, start, end) spans a perfect detector reports in it."""

    text: str
    labels: tuple[tuple[str, int, int], ...]


class ReplyBuilder:
    """Builds a reply piece by piece, recording where each labelled value lands."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self._labels: list[tuple[str, int, int]] = []

    def add(self, text: str, entity_type: str | None = None) -> None:
        if entity_type is not None:
            self._labels.append((entity_type, self._length, self._length + len(text)))
        self._parts.append(text)
        self._length += len(text)

    def add_template(self, template: str, value: str, entity_type: str | None) -> None:
        before, _, after = template.partition("{}")
        self.add(before)
        self.add(value, entity_type)
        self.add(after)

    def case(self) -> Case:
        return Case("".join(self._parts), tuple(self._labels))


_OPENERS = (
    "Sure! Here's what I found. ",
    "Thanks for your patience. ",
    "Happy to help with that. ",
    "I've looked into your request. ",
    "Good question. ",
    "",
    "Here is a summary of the account details. ",
    "No problem - let me walk you through it.\n\n",
    "Certainly. ",
    "I checked our records. ",
)
_CLOSERS = (
    " Let me know if there's anything else I can do.",
    " Hope that helps!",
    "",
    " Have a great day.",
    "\n\nIs there anything else you need?",
    " Feel free to ask follow-up questions.",
    " I've also noted this on your ticket.",
)
_FILLERS = (
    " The change should take effect within 24 hours.",
    " You can update this from the Settings page.",
    " Our team usually replies within 2 business days.",
    " Please keep this information safe.",
    " I recommend double-checking before you submit the form.",
    "",
)

# Sentences a value is written into, per entity. "{}" is the value.
_TEMPLATES: dict[str, tuple[str, ...]] = {
    EMAIL: (
        "You can email them at {}.",
        "The contact on file is {}",
        "Send the signed form to {} by Friday.",
        "Reply-To: {}\n",
        "I've cc'd {} on this thread.",
        "- Email: {}\n",
        "Their address is <{}>.",
        "Write to {}, they handle refunds.",
    ),
    PHONE: (
        "You can reach our support team at {}.",
        "Call {} between 9am and 5pm.",
        "The customer's phone number is {}.",
        "Phone: {}\n",
        "- Mobile: {}\n",
        "Their number is {}.",
        "Please ring {} if the issue persists.",
        "For urgent cases, text {}.",
        "Tel. {} (office)",
        "Dial {} and choose option 2.",
    ),
    CREDIT_CARD: (
        "The card on file is {}.",
        "Card number: {}\n",
        "I charged {} for the renewal.",
        "Payment was made with {} on the 3rd.",
        "- Card: {} (expires 08/27)\n",
        "Use {} for the test checkout.",
    ),
    IBAN: (
        "Please transfer the amount to IBAN {}.",
        "IBAN: {}\n",
        "Their bank account is {}.",
        "The refund goes to {} within 5 days.",
        "- Account: {}\n",
    ),
    US_SSN: (
        "The SSN on the application is {}.",
        "Social Security Number: {}\n",
        "SSN {} was verified.",
        "I found {} listed as the taxpayer ID.",
        "- SSN: {}\n",
    ),
    IP_ADDRESS: (
        "The request came from {}.",
        "Server IP: {}\n",
        "Blocked address {} after 5 failed logins.",
        "Connect to {} on port 5432.",
        "The VPN assigned you {}.",
        "Origin: {} (proxy)",
        "Allow {}/24 in the security group.",
        "The office range is {}/16, so add it to the allow list.",
    ),
    SECRET: (
        "Here is the key you asked for: {}",
        "Use this token: {}\n",
        "I found {} in the config.",
        "Credentials:\n{}\n",
        "Set it like this: {}",
    ),
}


def _positive(rng: random.Random, reply: ReplyBuilder, entity_type: str) -> None:
    template = rng.choice(_TEMPLATES[entity_type])
    if entity_type == SECRET:
        before, value, after = secret_with_context(rng)
        head, _, tail = template.partition("{}")
        reply.add(head + before)
        reply.add(value, SECRET)
        reply.add(after + tail)
    elif entity_type == PHONE and rng.random() < 0.12:
        _phone_among_numbers(rng, reply)
    else:
        reply.add_template(template, SIMPLE_VALUES[entity_type](rng), entity_type)


def _phone_among_numbers(rng: random.Random, reply: ReplyBuilder) -> None:
    """A phone number sharing one run of space-separated numbers with another number: two phone numbers
    listed in a row, or a flattened table row where an age precedes the number."""
    if rng.random() < 0.5:
        reply.add(rng.choice(("The numbers on file are ", "Both lines: ")))
        reply.add(phone_number(rng), PHONE)
        reply.add(" ")
        reply.add(phone_number(rng), PHONE)
        reply.add(".")
    else:
        name = rng.choice(("Jane Doe", "Ravi Kumar", "Lucia Rossi", "Tom Baker", "Ana Lopez"))
        reply.add(f"Name, age, number, city:\n{name} {rng.randint(18, 90)} ")
        reply.add(phone_number(rng), PHONE)
        reply.add(f" {rng.choice(('Leeds', 'Pune', 'Rome', 'Austin', 'Madrid'))}\n")


def generate_cases(seed: int = 0, per_entity: int = 300, negatives: int = 600) -> list[Case]:
    """`per_entity` replies holding one value of each built-in type (some two), plus `negatives`
    replies holding only hard negatives; same seed, same cases."""
    rng = random.Random(seed)
    plan = [entity for entity in BUILTIN_ENTITIES for _ in range(per_entity)] + [None] * negatives
    rng.shuffle(plan)
    cases = []
    for entity_type in plan:
        reply = ReplyBuilder()
        reply.add(rng.choice(_OPENERS))
        if entity_type is None:
            for _ in range(rng.randint(1, 3)):
                reply.add(hard_negative(rng) + rng.choice(_FILLERS) + " ")
        else:
            if rng.random() < 0.6:
                reply.add(hard_negative(rng) + " ")
            _positive(rng, reply, entity_type)
            if rng.random() < 0.2:
                reply.add(" Also: ")
                _positive(rng, reply, rng.choice(BUILTIN_ENTITIES))
            reply.add(rng.choice(_FILLERS))
        reply.add(rng.choice(_CLOSERS))
        cases.append(reply.case())
    return cases


@dataclass(slots=True)
class Score:
    """Counts for one entity type; a prediction is right only with the exact type and span."""

    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    misses: list[int] = field(default_factory=list)  # indexes of cases with an error, for inspection

    @property
    def precision(self) -> float:
        predicted = self.true_positives + self.false_positives
        return self.true_positives / predicted if predicted else 1.0

    @property
    def recall(self) -> float:
        actual = self.true_positives + self.false_negatives
        return self.true_positives / actual if actual else 1.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def micro(scores: Iterable[Score]) -> Score:
    """The counts of all `scores` summed: micro-averaged precision and recall."""
    total = Score()
    for score in scores:
        total.true_positives += score.true_positives
        total.false_positives += score.false_positives
        total.false_negatives += score.false_negatives
    return total


def evaluate(
    scan: Callable[[str], Sequence[Finding]], cases: Iterable[Case], entity_types: Iterable[str] = BUILTIN_ENTITIES
) -> dict[str, Score]:
    """Per-entity precision and recall of `scan` over `cases`."""
    scores = {entity: Score() for entity in entity_types}
    for index, case in enumerate(cases):
        gold = set(case.labels)
        predicted = {(f.entity_type, f.start, f.end) for f in scan(case.text)}
        for entity, start, end in predicted | gold:
            score = scores.setdefault(entity, Score())
            if (entity, start, end) not in gold:
                score.false_positives += 1
            elif (entity, start, end) not in predicted:
                score.false_negatives += 1
            else:
                score.true_positives += 1
                continue
            score.misses.append(index)
    return scores
