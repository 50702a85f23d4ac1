"""The tool-argument anomaly scorer: how unusual a tool call's arguments are for that tool, learned online.

Modules, each with one job: `scorer` (the public type: per-tool models, learning policy, persistence),
`model` (what is learned per tool and per argument), `evidence` (how it becomes one score), `features`
(a call's arguments as flat leaves), `chars` (character classes and attack tokens of a string), `urls`
(where a URL or address points, and look-alike hosts), `sql` (the shape of a SQL statement), `shell`
(what a shell command does), `paths` (file paths that hold secrets), `sketches` (the bounded counters,
samples and groups the models keep), `sealing` (keyed fingerprints in a saved state).
"""

from otel_ai_incident.guardrails.anomaly.scorer import QUARANTINE_WEIGHT, SUSPICIOUS, ToolArgumentScorer

__all__ = ["QUARANTINE_WEIGHT", "SUSPICIOUS", "ToolArgumentScorer"]
