"""The PII guardrail: find personal data and secrets in model output, then redact or block them.

    detector = PiiDetector(custom_patterns=load_custom_patterns("patterns.yaml"))
    text = detector.redact(reply)  # "Mail [EMAIL] or call [PHONE]."

Modules, each with one job: `detector` (the public type, overlaps, redaction), `text` (what every recogniser
reads from a text), `labels` (the key, column header or words that name a value), `patterns` (e-mail, IPv6,
IBAN and the regex type user patterns use), `secret_patterns` and `labelled_secrets`, `digit_runs`, `numbers`
and `phones` (everything written in digits), `validators` (checksums), `custom` (user patterns from YAML),
`findings` (what a scan reports).
"""

from otel_ai_incident.guardrails.pii.custom import CustomPattern, PatternFileError, load_custom_patterns
from otel_ai_incident.guardrails.pii.detector import (
    BLOCKED_MESSAGE,
    PiiDetector,
    RedactMode,
    default_detector,
    redact,
    scan,
)
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

__all__ = [
    "BLOCKED_MESSAGE",
    "BUILTIN_ENTITIES",
    "CREDIT_CARD",
    "EMAIL",
    "IBAN",
    "IP_ADDRESS",
    "PHONE",
    "SECRET",
    "US_SSN",
    "CustomPattern",
    "Finding",
    "PatternFileError",
    "PiiDetector",
    "RedactMode",
    "default_detector",
    "load_custom_patterns",
    "redact",
    "scan",
]
