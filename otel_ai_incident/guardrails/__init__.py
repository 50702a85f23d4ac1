"""Guardrails that run inside the app on every turn: `pii` (personal data and secrets in model output) and
`anomaly` (unusual tool-call arguments). `output` adapts the PII detector to the hooks' output-guard port.

Nothing here imports telemetry, the prompt log or containment: those layers sit above the guardrails.
"""
