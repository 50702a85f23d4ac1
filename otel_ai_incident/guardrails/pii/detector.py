"""The PII guardrail for model output: find personal data and secrets in a reply, then redact or block it.

It runs in the app on every reply, so it uses no network and no model, only regexes with exact checks
(Luhn, mod-97, phone numbering plans, ...). A detector is immutable once built, so one instance may be
shared by any number of threads. Matched values never leave `redact`: findings carry offsets only.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import hmac
import itertools
import operator
from collections.abc import Iterable, Sequence
from enum import StrEnum

from otel_ai_incident.guardrails.pii.custom import CustomPattern
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
from otel_ai_incident.guardrails.pii.numbers import NumberRecognizer
from otel_ai_incident.guardrails.pii.patterns import IbanRecognizer, RegexRecognizer, email_recognizer, ipv6_recognizer
from otel_ai_incident.guardrails.pii.phones import DEFAULT_PHONE_REGIONS
from otel_ai_incident.guardrails.pii.secret_patterns import SecretRecognizer
from otel_ai_incident.guardrails.pii.text import TextView

BLOCKED_MESSAGE = "[This response was withheld because it contained personal data or a secret.]"
_HMAC_HEX_CHARS = 8
_NUMERIC_ENTITIES = frozenset({PHONE, CREDIT_CARD, US_SSN, IP_ADDRESS})
_start = operator.attrgetter("start")


class RedactMode(StrEnum):
    """How `redact` replaces a finding: by its type, by a keyed digest of the value, or the whole reply."""

    PLACEHOLDER = "placeholder"
    HMAC = "hmac"
    BLOCK = "block"


class PiiDetector:
    """Finds the built-in `entities` (all by default) and the user's `custom_patterns` in text."""

    __slots__ = ("_priority", "_recognizers", "entity_types")

    def __init__(
        self,
        entities: Iterable[str] | None = None,
        custom_patterns: Sequence[CustomPattern] = (),
        *,
        phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS,
    ) -> None:
        selected = frozenset(BUILTIN_ENTITIES if entities is None else entities)
        unknown = selected - set(BUILTIN_ENTITIES)
        if unknown:
            raise ValueError(f"unknown entity types {sorted(unknown)}; built-in: {', '.join(BUILTIN_ENTITIES)}")
        recognizers: list[RegexRecognizer | SecretRecognizer | IbanRecognizer | NumberRecognizer] = []
        if SECRET in selected:
            recognizers.append(SecretRecognizer())
        if EMAIL in selected:
            recognizers.append(email_recognizer())
        if IBAN in selected:
            recognizers.append(IbanRecognizer())
        if IP_ADDRESS in selected:
            recognizers.append(ipv6_recognizer())
        if selected & _NUMERIC_ENTITIES:
            recognizers.append(NumberRecognizer(selected, phone_regions))
        recognizers.extend(pattern.recognizer() for pattern in custom_patterns)
        self._recognizers = tuple(recognizers)
        builtin = [entity for entity in BUILTIN_ENTITIES if entity in selected]
        self.entity_types: tuple[str, ...] = tuple(
            dict.fromkeys([*builtin, *(pattern.entity_type for pattern in custom_patterns)])
        )
        self._priority = {entity: rank for rank, entity in enumerate(self.entity_types)}

    def scan(self, text: str) -> list[Finding]:
        """Findings sorted by start, none overlapping (see `_resolve_overlaps` for who wins)."""
        view = TextView.of(text)
        found = [finding for recognizer in self._recognizers for finding in recognizer.find(view)]
        return _resolve_overlaps(found, self._priority) if len(found) > 1 else found

    def redact(
        self,
        text: str,
        findings: Sequence[Finding] | None = None,
        *,
        mode: RedactMode = RedactMode.PLACEHOLDER,
        key: bytes | None = None,
    ) -> str:
        """`text` with each finding replaced (PLACEHOLDER "[EMAIL]", HMAC "[EMAIL:3f9a1c2b]"), or the whole
        text replaced by BLOCKED_MESSAGE in BLOCK mode when there is any finding.

        HMAC digests let an investigator see that two redacted values were equal without seeing either;
        the key keeps them from being reversed by hashing guesses.
        """
        mode = RedactMode(mode)
        if mode is RedactMode.HMAC and not key:
            raise ValueError("HMAC redaction needs a non-empty key")
        if findings is None:
            findings = self.scan(text)
        if not findings:
            return text
        if mode is RedactMode.BLOCK:
            return BLOCKED_MESSAGE
        digest_key = key if mode is RedactMode.HMAC else None
        parts: list[str] = []
        position = 0
        for finding in sorted(findings, key=lambda f: (f.start, f.end)):
            if finding.start < position or finding.end > len(text) or finding.start >= finding.end:
                raise ValueError("findings must lie inside the text and must not overlap")
            parts.append(text[position : finding.start])
            parts.append(_replacement(text[finding.start : finding.end], finding.entity_type, digest_key))
            position = finding.end
        parts.append(text[position:])
        return "".join(parts)


def _replacement(value: str, entity_type: str, key: bytes | None) -> str:
    if key is None:
        return f"[{entity_type}]"
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:_HMAC_HEX_CHARS]
    return f"[{entity_type}:{digest}]"


def _resolve_overlaps(found: list[Finding], priority: dict[str, int]) -> list[Finding]:
    """Keep the longest finding where findings overlap; on equal length the higher-priority entity type
    (SECRET before EMAIL before ... PHONE, custom types last), then the earlier start.

    A longer span explains more of the text: a PEM block beats the base64 "numbers" inside it, an e-mail
    beats the phone-like digits in its local part.
    """
    by_start = sorted(found, key=_start)
    if all(before.end <= after.start for before, after in itertools.pairwise(by_start)):
        return by_start  # no overlap, the common case: every finding is kept
    ordered = sorted(found, key=lambda f: (f.start - f.end, priority[f.entity_type], f.start, f.subtype or ""))
    starts: list[int] = []
    kept: list[Finding] = []
    for finding in ordered:
        index = bisect.bisect_right(starts, finding.start)
        if index and kept[index - 1].end > finding.start:
            continue
        if index < len(kept) and kept[index].start < finding.end:
            continue
        starts.insert(index, finding.start)
        kept.insert(index, finding)
    return kept


@functools.cache
def default_detector() -> PiiDetector:
    """The detector with every built-in entity, built on first use (building it loads phone metadata)."""
    return PiiDetector()


def scan(text: str) -> list[Finding]:
    """`PiiDetector().scan(text)` with a shared default detector."""
    return default_detector().scan(text)


def redact(
    text: str,
    findings: Sequence[Finding] | None = None,
    *,
    mode: RedactMode = RedactMode.PLACEHOLDER,
    key: bytes | None = None,
) -> str:
    """`PiiDetector().redact(...)` with a shared default detector."""
    return default_detector().redact(text, findings, mode=mode, key=key)
