"""The tool-argument anomaly scorer: how unusual a tool call's arguments are for that tool, learned online.

Modules, each with one job: `scorer` (the public type: per-tool models, learning policy, persistence),
`model` (what is learned per tool and per argument), `evidence` (how it becomes one score), `features`
(a call's arguments as flat leaves), `chars` (character classes and attack tokens of a string),
`sketches` (the bounded counters and samples the models keep).
"""

from otel_ai_incident.guardrails.anomaly.scorer import QUARANTINE_WEIGHT, SUSPICIOUS, ToolArgumentScorer

__all__ = ["QUARANTINE_WEIGHT", "SUSPICIOUS", "ToolArgumentScorer"]
