"""The PII guardrail on model output, as the hooks' `turn.check_output` uses it.

It turns the detector's findings into what the hooks record (a decision, counts per entity type) and the
text the user may see: redacted (by default) or replaced entirely (block).
"""

from __future__ import annotations

from collections import Counter
from enum import StrEnum

from otel_ai_incident import names
from otel_ai_incident.guardrails.output_check import OutputCheck
from otel_ai_incident.guardrails.pii import PiiDetector, RedactMode


class PiiAction(StrEnum):
    REDACT = "redact"
    BLOCK = "block"


class PiiOutputGuard:
    """Redact (placeholder or keyed-HMAC tokens) or block replies that contain PII. Thread-safe."""

    __slots__ = ("_detector", "_key", "_mode", "action", "entity_types")

    def __init__(
        self,
        detector: PiiDetector | None = None,
        *,
        action: PiiAction | str = PiiAction.REDACT,
        hmac_key: bytes | None = None,
    ) -> None:
        self._detector = detector or PiiDetector()
        self.action = PiiAction(action).value
        self.entity_types: tuple[str, ...] = self._detector.entity_types
        if self.action == PiiAction.BLOCK:
            self._mode = RedactMode.BLOCK
        else:
            self._mode = RedactMode.HMAC if hmac_key is not None else RedactMode.PLACEHOLDER
        self._key = hmac_key

    def check(self, text: str) -> OutputCheck:
        findings = self._detector.scan(text)
        if not findings:
            return OutputCheck(text=text, decision=names.Decision.ALLOW.value)
        decision = names.Decision.BLOCK if self.action == PiiAction.BLOCK else names.Decision.REDACT
        return OutputCheck(
            text=self._detector.redact(text, findings, mode=self._mode, key=self._key),
            decision=decision.value,
            action=self.action,
            entity_counts=Counter(f.entity_type for f in findings),
        )
