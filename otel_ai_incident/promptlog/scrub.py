"""Redaction of prompt-log texts with the package's PII detector, for `logs scrub` and scrub-at-write.

The detector is imported only when redaction is asked for, so an app that logs unscrubbed text does not
pay for loading it.
"""

from __future__ import annotations

from collections.abc import Callable


def pii_redactor() -> Callable[[str], str]:
    """A function replacing each PII finding in a text with its placeholder (e.g. "[EMAIL]")."""
    from otel_ai_incident.guardrails.pii import PiiDetector, RedactMode

    detector = PiiDetector()

    def redact(text: str) -> str:
        return detector.redact(text, mode=RedactMode.PLACEHOLDER)

    return redact
