"""Containment playbooks: which actions an incident type calls for, first and then.

The defaults are the contract's; users override them in YAML (`load_playbooks`). This module is data only,
so the generator (runbook) and the receiver (execution) read the same source. The YAML parser is imported
only when a file is loaded: apps import this module and need nothing beyond the standard library.

A playbook file maps incident types to playbooks; fields left out keep the default playbook's value:

    playbooks:
      data_leakage:
        primary: kill_switch
        secondary: [rate_limit_user]
        mode: approve          # auto | approve | dry_run (default: auto for p1 alerts, approve otherwise)
        auto_secondary: false  # true: secondaries run with the primary instead of waiting for approval
        description: Stop everything until the leak is understood
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from otel_ai_incident.names import ContainmentActionName as Action
from otel_ai_incident.names import IncidentType, Severity


class PlaybookMode(StrEnum):
    AUTO = "auto"  # act on the notification
    APPROVE = "approve"  # record as pending until a human approves
    DRY_RUN = "dry_run"  # record what would be done, change nothing


@dataclass(frozen=True)
class ContainmentPlaybook:
    incident_type: str
    primary_action: Action
    secondary_actions: tuple[Action, ...]
    description: str
    mode: PlaybookMode | None = None  # None: auto for p1 alerts, approve for the others
    auto_secondary: bool = False

    @property
    def actions(self) -> tuple[Action, ...]:
        return (self.primary_action, *self.secondary_actions)

    def mode_for(self, severity: str | None) -> PlaybookMode:
        """The mode for an alert: the playbook's own, else act at once only on p1 (a human confirms p2/p3)."""
        if self.mode is not None:
            return self.mode
        return PlaybookMode.AUTO if severity == Severity.P1.value else PlaybookMode.APPROVE


DEFAULT_PLAYBOOKS: tuple[ContainmentPlaybook, ...] = (
    ContainmentPlaybook(
        IncidentType.SAFETY_VIOLATION.value,
        Action.TIGHTEN_GUARDRAIL,
        (Action.ROLLBACK_PROMPT,),
        "Lower classifier threshold immediately; investigate system prompt for misconfiguration",
    ),
    ContainmentPlaybook(
        IncidentType.DATA_LEAKAGE.value,
        Action.KILL_SWITCH,
        (Action.RATE_LIMIT_USER,),
        "Disable system for investigation; leakage incidents require full stop until root cause found",
    ),
    ContainmentPlaybook(
        IncidentType.AGENTIC_HARM.value,
        Action.RESTRICT_TO_READ_ONLY,
        (Action.DISABLE_TOOL,),
        "Remove all write tools immediately; identify and disable the specific tool involved",
    ),
    ContainmentPlaybook(
        IncidentType.JAILBREAK_WAVE.value,
        Action.RATE_LIMIT_USER,
        (Action.TIGHTEN_GUARDRAIL, Action.ROLLBACK_PROMPT),
        "Rate-limit affected accounts; tighten output classifier; review system prompt",
    ),
)


def playbooks_by_incident_type(
    playbooks: tuple[ContainmentPlaybook, ...] = DEFAULT_PLAYBOOKS,
) -> dict[str, ContainmentPlaybook]:
    return {p.incident_type: p for p in playbooks}


class PlaybookError(ValueError):
    """A playbook file that cannot be used; the message names the file, the playbook and the field."""


_FIELDS = {"primary", "secondary", "mode", "auto_secondary", "description"}


def load_playbooks(
    path: str | Path, defaults: tuple[ContainmentPlaybook, ...] = DEFAULT_PLAYBOOKS
) -> tuple[ContainmentPlaybook, ...]:
    """The default playbooks with those of a YAML file laid over them (see the module docstring)."""
    import yaml  # only the receiver loads files; apps importing this module stay on the standard library

    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise PlaybookError(f"{path}: cannot read playbooks: {error}") from error
    if not isinstance(document, dict) or not isinstance(document.get("playbooks"), dict):
        raise PlaybookError(f"{path}: expected a mapping with a 'playbooks' mapping of incident types")
    merged = playbooks_by_incident_type(defaults)
    for incident_type, spec in document["playbooks"].items():
        where = f"{path}: playbook {incident_type!r}"
        merged[str(incident_type)] = _parse(where, str(incident_type), spec, merged.get(str(incident_type)))
    return tuple(merged.values())


def _parse(where: str, incident_type: str, spec: Any, base: ContainmentPlaybook | None) -> ContainmentPlaybook:
    if not isinstance(spec, Mapping):
        raise PlaybookError(f"{where}: expected a mapping of {sorted(_FIELDS)}")
    unknown = set(spec) - _FIELDS
    if unknown:
        raise PlaybookError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: {sorted(_FIELDS)}")
    if base is None:
        if "primary" not in spec:
            raise PlaybookError(f"{where}: a new incident type needs a 'primary' action")
        base = ContainmentPlaybook(incident_type, _action(where, spec["primary"]), (), "")
    secondary = spec.get("secondary", [a.value for a in base.secondary_actions])
    if not isinstance(secondary, list):
        raise PlaybookError(f"{where}: 'secondary' must be a list of actions")
    auto_secondary = spec.get("auto_secondary", base.auto_secondary)
    if not isinstance(auto_secondary, bool):
        raise PlaybookError(f"{where}: 'auto_secondary' must be true or false")
    return replace(
        base,
        primary_action=_action(where, spec.get("primary", base.primary_action.value)),
        secondary_actions=tuple(_action(where, a) for a in secondary),
        mode=_mode(where, spec["mode"]) if "mode" in spec else base.mode,
        auto_secondary=auto_secondary,
        description=str(spec.get("description", base.description)),
    )


def _action(where: str, value: Any) -> Action:
    try:
        return Action(value)
    except ValueError:
        raise PlaybookError(f"{where}: unknown action {value!r}; known: {[a.value for a in Action]}") from None


def _mode(where: str, value: Any) -> PlaybookMode:
    try:
        return PlaybookMode(value)
    except ValueError:
        raise PlaybookError(f"{where}: unknown mode {value!r}; known: {[m.value for m in PlaybookMode]}") from None
