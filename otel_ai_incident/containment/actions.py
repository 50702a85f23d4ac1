"""Turning a playbook and an alert into changes of the containment state.

Targets come from data, never from guesses: the alert's labels first (`gen_ai_tool_name`, `guardrail`,
`prompt_name`), then the prompt log through a `TargetFinder`. When neither knows, the action is recorded as
"no_target" and nothing is changed.

What runs automatically: in `auto` mode the playbook's primary action is applied at once and its secondary
actions wait for approval (the defaults' secondaries are follow-ups a human should confirm: "investigate",
"review", "identify"), unless the playbook sets `auto_secondary`. `approve` records everything as pending,
`dry_run` records what would be done.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from otel_ai_incident import names
from otel_ai_incident.containment.playbooks import ContainmentPlaybook, PlaybookMode
from otel_ai_incident.containment.state import Change, ContainmentState, PlannedAction
from otel_ai_incident.containment.targets import TargetFinder
from otel_ai_incident.names import ContainmentActionName as Action

LABEL_TOOL = names.GEN_AI_TOOL_NAME.replace(".", "_")
LABEL_GUARDRAIL = names.GUARDRAIL
LABEL_PROMPT_NAME = "prompt_name"


@dataclass(frozen=True)
class ActionSettings:
    """How hard each action bites. The threshold 0.3 is the runbook's; a rate limit lapses after an hour."""

    rate_per_s: float = 0.1  # six turns a minute
    burst: float = 3.0
    rate_limit_ttl_s: float = 3600.0
    max_users: int = 20
    guardrail_threshold: float = 0.3
    lookback_s: float = 1800.0  # the longest detection window of the built-in alerts


@dataclass(frozen=True)
class AlertContext:
    """What the actions need from one alert of a notification."""

    fingerprint: str
    labels: Mapping[str, str]
    starts_at: float
    until: float  # the alert's end, or now while it fires

    @property
    def actor(self) -> str:
        return f"alert:{self.fingerprint}"


class Outcome(StrEnum):
    APPLIED = "applied"
    PENDING = "pending"
    DRY_RUN = "dry_run"
    NO_TARGET = "no_target"
    DUPLICATE = "duplicate"
    FAILED = "failed"  # the lookup or the write raised; the caller retries the alert


@dataclass(frozen=True)
class ActionResult:
    action: Action
    target: str | None
    outcome: Outcome
    error: str | None = None  # what failed, for FAILED


_Planner = Callable[[AlertContext, TargetFinder | None, ActionSettings], list[PlannedAction]]


def _rate_limit_users(alert: AlertContext, finder: TargetFinder | None, s: ActionSettings) -> list[PlannedAction]:
    if finder is None:
        return []
    signal = alert.labels.get(names.ALERT_LABEL_SIGNAL)
    users = finder.top_users(alert.starts_at - s.lookback_s, alert.until, s.max_users, signal)
    params = {"rate_per_s": s.rate_per_s, "burst": s.burst}
    return [PlannedAction(Action.RATE_LIMIT_USER, user, params, s.rate_limit_ttl_s) for user in users]


def _disable_tool(alert: AlertContext, finder: TargetFinder | None, s: ActionSettings) -> list[PlannedAction]:
    tool = alert.labels.get(LABEL_TOOL)
    if not tool and finder is not None:
        tool = finder.most_anomalous_tool(alert.starts_at - s.lookback_s, alert.until)
    return [PlannedAction(Action.DISABLE_TOOL, tool)] if tool else []


def _tighten_guardrail(alert: AlertContext, finder: TargetFinder | None, s: ActionSettings) -> list[PlannedAction]:
    guardrail = alert.labels.get(LABEL_GUARDRAIL) or None
    return [PlannedAction(Action.TIGHTEN_GUARDRAIL, guardrail, {"threshold": s.guardrail_threshold})]


def _rollback_prompt(alert: AlertContext, finder: TargetFinder | None, s: ActionSettings) -> list[PlannedAction]:
    return [PlannedAction(Action.ROLLBACK_PROMPT, alert.labels.get(LABEL_PROMPT_NAME) or None)]


def _whole_app(action: Action) -> _Planner:
    return lambda alert, finder, settings: [PlannedAction(action)]


PLANNERS: dict[Action, _Planner] = {
    Action.RATE_LIMIT_USER: _rate_limit_users,
    Action.DISABLE_TOOL: _disable_tool,
    Action.TIGHTEN_GUARDRAIL: _tighten_guardrail,
    Action.ROLLBACK_PROMPT: _rollback_prompt,
    Action.ROLLBACK_MODEL: _whole_app(Action.ROLLBACK_MODEL),
    Action.KILL_SWITCH: _whole_app(Action.KILL_SWITCH),
    Action.RESTRICT_TO_READ_ONLY: _whole_app(Action.RESTRICT_TO_READ_ONLY),
}


class Executor:
    """Runs a playbook for one firing alert against the state, each write keyed for exactly-once."""

    def __init__(
        self, state: ContainmentState, finder: TargetFinder | None = None, settings: ActionSettings | None = None
    ) -> None:
        self.state = state
        self.finder = finder
        self.settings = settings or ActionSettings()

    def run(
        self,
        playbook: ContainmentPlaybook,
        alert: AlertContext,
        *,
        mode: PlaybookMode,
        incident_id: str | None,
        key: str,
    ) -> list[ActionResult]:
        """`key` identifies the alert notification (fingerprint, startsAt, status).

        Each action runs on its own: one whose target lookup or write fails (an unreadable prompt log, a locked
        state) is reported FAILED and the others still run. Running the alert again is safe (every write is
        keyed), so a caller retries it until nothing fails: what was done is then DUPLICATE, what failed gets
        another chance.
        """
        results: list[ActionResult] = []
        for action in playbook.actions:
            step = mode
            if mode is PlaybookMode.AUTO and action is not playbook.primary_action and not playbook.auto_secondary:
                step = PlaybookMode.APPROVE
            try:
                results.extend(self._run_action(action, alert, step, incident_id, f"{key}|{action.value}"))
            except Exception as error:
                results.append(ActionResult(action, None, Outcome.FAILED, repr(error)))
        return results

    def _run_action(
        self, action: Action, alert: AlertContext, mode: PlaybookMode, incident_id: str | None, key: str
    ) -> list[ActionResult]:
        planned = PLANNERS[action](alert, self.finder, self.settings)
        if not planned:
            done = self.state.record(
                Change.NO_TARGET,
                PlannedAction(action),
                actor=alert.actor,
                incident_id=incident_id,
                key=key,
                detail={"why": "the target could not be determined"},
            )
            return [ActionResult(action, None, Outcome.NO_TARGET if done else Outcome.DUPLICATE)]
        return [self._step(p, alert, mode, incident_id, f"{key}|{p.target or ''}") for p in planned]

    def _step(
        self, planned: PlannedAction, alert: AlertContext, mode: PlaybookMode, incident_id: str | None, key: str
    ) -> ActionResult:
        state, actor = self.state, alert.actor
        if mode is PlaybookMode.AUTO:
            done = state.apply(planned, actor=actor, incident_id=incident_id, key=key)
            outcome = Outcome.APPLIED
        elif mode is PlaybookMode.APPROVE:
            done = state.request_approval(planned, actor=actor, incident_id=incident_id, key=key) is not None
            outcome = Outcome.PENDING
        else:
            done = state.record(Change.DRY_RUN, planned, actor=actor, incident_id=incident_id, key=key)
            outcome = Outcome.DRY_RUN
        return ActionResult(planned.action, planned.target, outcome if done else Outcome.DUPLICATE)
