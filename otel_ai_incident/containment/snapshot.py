"""An immutable, pre-indexed view of the containment state, shaped for the gate's hot path.

The gate swaps whole snapshots instead of mutating one, so a check on the turn path reads one attribute
and, when nothing is contained, one flag: no lock, no dictionary walk. Before the state was loaded once the
gate holds `NOT_LOADED`, whose flags are all closed, so the same single check sends the first turn to the
slow path that waits for the first load.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace

from otel_ai_incident.containment.state import ContainmentEntry, StateView
from otel_ai_incident.names import ContainmentActionName as Action


@dataclass(frozen=True, slots=True)
class Snapshot:
    revision: int
    entries: tuple[ContainmentEntry, ...]
    turns_open: bool  # loaded, no kill switch and no rate limit: the turn check is one flag
    tools_open: bool  # loaded, no disabled tool and not read-only: the tool check is one flag
    kill_switch: ContainmentEntry | None
    read_only: bool
    disabled_tools: frozenset[str]
    rate_limits: Mapping[str, ContainmentEntry]
    thresholds: Mapping[str | None, float]  # guardrail name (None: every guardrail) -> tightened threshold
    prompt_rollbacks: frozenset[str | None]  # prompt names (None: every prompt)
    model_rollback: bool
    next_expiry: float  # wall-clock time when an entry lapses and the snapshot must be rebuilt
    loaded: bool = True

    @classmethod
    def build(cls, view: StateView, now: float) -> Snapshot:
        entries = tuple(e for e in view.entries if e.active_at(now))
        by_action: dict[Action, list[ContainmentEntry]] = {a: [] for a in Action}
        for entry in entries:
            by_action[entry.action].append(entry)
        kill = by_action[Action.KILL_SWITCH]
        rate_limits = {e.target: e for e in by_action[Action.RATE_LIMIT_USER] if e.target}
        read_only = bool(by_action[Action.RESTRICT_TO_READ_ONLY])
        disabled_tools = frozenset(e.target for e in by_action[Action.DISABLE_TOOL] if e.target)
        return cls(
            revision=view.revision,
            entries=entries,
            turns_open=not kill and not rate_limits,
            tools_open=not read_only and not disabled_tools,
            kill_switch=kill[0] if kill else None,
            read_only=read_only,
            disabled_tools=disabled_tools,
            rate_limits=rate_limits,
            thresholds={e.target: float(e.params["threshold"]) for e in by_action[Action.TIGHTEN_GUARDRAIL]},
            prompt_rollbacks=frozenset(e.target for e in by_action[Action.ROLLBACK_PROMPT]),
            model_rollback=bool(by_action[Action.ROLLBACK_MODEL]),
            next_expiry=min((e.expires_at for e in entries if e.expires_at is not None), default=math.inf),
        )

    def counts(self) -> Counter[Action]:
        """Entries in force per action, for the `ai.containment.active` up-down counter."""
        return Counter(e.action for e in self.entries)


NOT_LOADED = replace(Snapshot.build(StateView(-1, ()), 0.0), turns_open=False, tools_open=False, loaded=False)
