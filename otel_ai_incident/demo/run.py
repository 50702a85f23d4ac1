"""The demo's story: normal traffic, then five incidents, each followed from first bad event to containment.

For each scenario the timeline is assembled from the real parts as they report it: Prometheus' alert state
(pending, firing), the receiver's incident (notified, containment applied) and the app's own replies
(containment in force). The figure that matters is the last one, measured from the first bad request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from otel_ai_incident.containment.playbooks import DEFAULT_PLAYBOOKS, playbooks_by_incident_type
from otel_ai_incident.demo.bot import Traffic
from otel_ai_incident.demo.driver import Attack, Bot, Driver
from otel_ai_incident.demo.services import Prometheus
from otel_ai_incident.demo.stack import APP_JOB, RECEIVER_JOB
from otel_ai_incident.generate import artefacts, dashboard
from otel_ai_incident.generate.links import Links
from otel_ai_incident.incidents import postmortem
from otel_ai_incident.incidents.sql_store import open_incident_store
from otel_ai_incident.names import Severity
from otel_ai_incident.promptlog.backends import open_store
from otel_ai_incident.promptlog.evidence import SignalEvidence
from otel_ai_incident.signals import BUILTIN_SIGNALS, DEMO, MonitoringSignal

NORMAL_RATE_PER_S = 5.0
HISTORY_TURNS = 1200  # before the paced traffic: enough calls for the tool-argument baseline to warm up
SCENARIO_TIMEOUT_S = 90.0
POLL_S = 0.25
# The dashboard checks look back over the whole demo, one point per step, as Grafana shows an hour.
VERIFY_RANGE_S = 3600.0
VERIFY_STEP = "15s"


@dataclass(frozen=True)
class Scenario:
    title: str
    signal: str
    alertname: str
    attack: Attack | None = None
    p1_reports: int = 0  # harmful-content reports flagged P1, sent when the scenario starts


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "Jailbreak wave: output blocks spike",
        "safety_classifier_block_rate",
        "SafetyClassifierBlockRate",
        Attack("jailbreak", ("attacker-1", "attacker-2", "attacker-3"), 20.0),
    ),
    Scenario(
        "Users report harmful content (P1 flag)",
        "user_reports_harmful_content",
        "UserReportsHarmfulContentP1",
        p1_reports=1,
    ),
    Scenario(
        "PII leak in model output",
        "pii_detection_in_output",
        "PiiDetectionInOutput",
        Attack("leak", ("curious-customer",), 2.0),
    ),
    Scenario(
        "Agent calls refund with anomalous arguments",
        "anomalous_tool_usage",
        "AnomalousToolUsage",
        Attack("misuse", ("agent-7",), 4.0),
    ),
    Scenario(
        "Refusal spike",
        "refusal_rate_spike",
        "RefusalRateSpike",
        Attack("refusal", ("prober-1", "prober-2", "prober-3"), 20.0),
    ),
)


@dataclass
class Outcome:
    """What happened in one scenario; times are seconds after its first bad event."""

    scenario: Scenario
    incident_type: str
    action: str
    started_at: float
    marks: dict[str, float] = field(default_factory=dict)
    incident_id: str | None = None
    #: The replicas seen enforcing the containment (the fleet demo waits for every one of them).
    enforcing: tuple[str, ...] = ()

    @property
    def contained_after_s(self) -> float | None:
        return self.marks.get("enforced")

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.scenario.title,
            "signal": self.scenario.signal,
            "alertname": self.scenario.alertname,
            "incident_type": self.incident_type,
            "action": self.action,
            "incident_id": self.incident_id,
            "marks": self.marks,
            "contained_after_s": self.contained_after_s,
            "enforcing": list(self.enforcing),
        }


MARK_TEXT = {
    "pending": "alert {alert} pending in Prometheus",
    "firing": "alert {alert} firing",
    "notified": "receiver notified by Alertmanager: incident {incident} ({incident_type})",
    "applied": "containment applied by the receiver: {action}",
    "enforced": "app enforces it: {effect}",
}
EFFECTS = {
    "rate_limit_user": "turns of the flagged users are refused",
    "kill_switch": "every turn is refused (kill switch)",
    "restrict_to_read_only": "write tools are refused (read-only)",
    "disable_tool": "the tool is refused",
    "tighten_guardrail": "output classifier threshold lowered to 0.3",
}


def say_now(text: str) -> None:
    print(text, flush=True)  # live output, also through a pipe


class Stack(Protocol):
    """What the story needs of a running stack: `DemoStack` on one host, `FleetStack` for a fleet."""

    workdir: Path
    bot: Bot
    prometheus: Prometheus | None

    @property
    def incidents_url(self) -> str: ...

    @property
    def prompt_log_url(self) -> str: ...

    def report_user_feedback(self, *, kind: str, severity: str, session_id: str) -> None: ...

    def receiver_api(self, path: str, body: dict[str, Any] | None = None) -> Any: ...


class Demo:
    def __init__(self, stack: Stack, say: Callable[[str], None] = say_now, replicas: Collection[str] = ()) -> None:
        """With `replicas`, a scenario is contained only once every one of them was seen enforcing it."""
        self.stack = stack
        self.say = say
        self.replicas = frozenset(replicas)
        self.signals: dict[str, MonitoringSignal] = {s.name: s for s in BUILTIN_SIGNALS}
        self.playbooks = playbooks_by_incident_type(DEFAULT_PLAYBOOKS)
        self.driver = Driver(stack.bot, Traffic(seed=7), NORMAL_RATE_PER_S)
        self.outcomes: list[Outcome] = []

    def run(self, normal_s: float, after_scenario: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        """Normal traffic, then each scenario; `after_scenario` runs after each one's outcome is known (the
        fleet demo kills a receiver there)."""
        self.say(f"History: {HISTORY_TURNS} normal turns, so every tool has a baseline.")
        self.driver.burst(HISTORY_TURNS)
        self.driver.start()
        try:
            self._normal_phase(normal_s)
            for scenario in SCENARIOS:
                self.outcomes.append(self._run_scenario(scenario))
                if after_scenario is not None:
                    after_scenario(self.outcomes[-1])
                self._lift_all()
        finally:
            self.driver.stop()
        return self.outcomes

    def _normal_phase(self, seconds: float) -> None:
        """Normal traffic only; any alert, even one pending for a moment, fails the demo."""
        self.say(f"Normal traffic ({NORMAL_RATE_PER_S:g} turns/s) for {seconds:g}s: nothing may fire.")
        deadline = time.time() + seconds
        while time.time() < deadline:
            alerts = self._alerts()
            if alerts:
                seen = sorted({f"{a['labels']['alertname']} ({a['state']})" for a in alerts})
                raise RuntimeError(f"alerts during normal traffic: {', '.join(seen)}")
            time.sleep(POLL_S)
        self.say(f"  no alert pending or firing at any time; {self.driver.sent} turns so far.")

    def _run_scenario(self, scenario: Scenario) -> Outcome:
        signal = self.signals[scenario.signal]
        playbook = self.playbooks[signal.incident_type]
        outcome = Outcome(scenario, signal.incident_type, playbook.primary_action.value, time.time())
        self.say(f"\n== {scenario.title} ==")
        self.say(f"  signal {signal.name} ({signal.severity.value}): {signal.detection_method}")
        self.say(f"  playbook {signal.incident_type}: {playbook.primary_action.value} first")
        self._mark(outcome, "start", 0.0, "first bad event")
        for _ in range(scenario.p1_reports):
            self.stack.report_user_feedback(kind="harmful", severity=Severity.P1.value, session_id="s-reporter")
        self.driver.attack(scenario.attack)
        deadline = outcome.started_at + SCENARIO_TIMEOUT_S
        try:
            while not self._contained(outcome) and time.time() < deadline:
                self._observe(outcome)
                time.sleep(POLL_S)
        finally:
            self.driver.attack(None)
        if self.replicas:
            self.say(
                f"  enforced by {len(outcome.enforcing)} of {len(self.replicas)} replicas: "
                f"{', '.join(outcome.enforcing)}"
            )
        if "enforced" not in outcome.marks:
            self.say(f"  !! containment not seen within {SCENARIO_TIMEOUT_S:g}s")
        else:
            self.say(f"  => {outcome.contained_after_s:.1f}s from the first bad event to containment in force")
        return outcome

    def _contained(self, outcome: Outcome) -> bool:
        """Enforced by the app (by every replica in a fleet) and on the incident's timeline: the gate can see
        the state change a moment before the receiver records it on the incident, so wait for both."""
        if "enforced" not in outcome.marks or "applied" not in outcome.marks:
            return False
        seen = self.driver.enforcing_replicas(outcome.action, outcome.started_at)
        outcome.enforcing = tuple(sorted(r for r in seen if r is not None))
        return self.replicas <= set(outcome.enforcing)

    def _observe(self, outcome: Outcome) -> None:
        scenario = outcome.scenario
        for alert in self._alerts():
            if alert["labels"].get("alertname") == scenario.alertname and alert["state"] in ("pending", "firing"):
                self._mark(outcome, "pending", _rfc3339_seconds(alert["activeAt"]) - outcome.started_at)
                if alert["state"] == "firing":
                    self._mark(outcome, "firing", time.time() - outcome.started_at)
        incident = self._incident_for(outcome)
        if incident is not None:
            outcome.incident_id = incident["id"]
            for event in incident["timeline"]:
                at = event["at"] - outcome.started_at
                if event["kind"] == "notified":
                    self._mark(outcome, "notified", at)
                elif event["kind"] == "containment_applied" and event["detail"].get("action") == outcome.action:
                    self._mark(outcome, "applied", at)
        seen = self.driver.first_enforcement(outcome.action, outcome.started_at)
        if seen is not None:
            self._mark(outcome, "enforced", seen.at - outcome.started_at)

    def _mark(self, outcome: Outcome, mark: str, at: float, text: str | None = None) -> None:
        if mark in outcome.marks:
            return
        outcome.marks[mark] = at
        line = text or MARK_TEXT[mark].format(
            alert=outcome.scenario.alertname,
            incident=outcome.incident_id,
            incident_type=outcome.incident_type,
            action=outcome.action,
            effect=EFFECTS.get(outcome.action, outcome.action),
        )
        self.say(f"  [{max(at, 0.0):5.1f}s] {line}")

    def _alerts(self) -> list[dict[str, Any]]:
        assert self.stack.prometheus is not None
        return self.stack.prometheus.api("alerts")["alerts"]

    def _incident_for(self, outcome: Outcome) -> dict[str, Any] | None:
        listing = self.stack.receiver_api("/v1/incidents")
        for summary in listing["incidents"]:
            if outcome.scenario.signal in summary["signals"] and summary["opened_at"] >= outcome.started_at - 60:
                return self.stack.receiver_api(f"/v1/incidents/{summary['id']}")
        return None

    def _lift_all(self) -> None:
        """The on-call lifts everything before the next scenario (kill switch and read-only need a human)."""
        entries = self.stack.receiver_api("/v1/containment")["entries"]
        for entry in entries:
            self.stack.receiver_api(
                "/v1/containment/lift",
                {
                    "action": entry["action"],
                    "target": entry["target"],
                    "by": "demo on-call",
                    "reason": "demo: next scenario",
                },
            )
        if entries:
            self.say(f"  on-call lifts {len(entries)} containment entr{'y' if len(entries) == 1 else 'ies'}")
            time.sleep(2.5)  # the gate's cache period, and a margin


@dataclass(frozen=True)
class Verification:
    """Checks on the live stack after the scenarios: the dashboard shows data; receiver and app agree."""

    panel_queries: int
    panels_without_data: tuple[str, ...]
    annotations_without_data: tuple[str, ...]
    applied_by_receiver: tuple[str, ...]
    enforced_by_app: tuple[str, ...]

    @property
    def agree(self) -> bool:
        return self.applied_by_receiver == self.enforced_by_app

    def to_json(self) -> dict[str, Any]:
        return {
            "panel_queries": self.panel_queries,
            "panels_without_data": list(self.panels_without_data),
            "annotations_without_data": list(self.annotations_without_data),
            "applied_by_receiver": list(self.applied_by_receiver),
            "enforced_by_app": list(self.enforced_by_app),
            "agree": self.agree,
        }


def receiver_applied(action: str | None = None) -> str:
    """The receivers' count of the containment actions they applied (their /metrics): one action, or all."""
    only = f',action="{action}"' if action is not None else ""
    return f'aii_containment_actions_total{{job="{RECEIVER_JOB}",outcome="applied"{only}}}'


def wait_until_scraped(prometheus: Prometheus, action: str, timeout_s: float = 15.0) -> None:
    """Wait until Prometheus holds the receivers' count of `action` applied. A receiver's counters die with it,
    and the checks at the end read what Prometheus scraped: a receiver killed within a scrape interval of
    acting would otherwise leave its action out of them. After `timeout_s` it stops waiting, and the check at
    the end shows the action missing."""
    applied = f"sum({receiver_applied(action)}) > 0"
    deadline = time.monotonic() + timeout_s
    while not prometheus.query(applied) and time.monotonic() < deadline:
        time.sleep(0.2)


def verify(stack: Stack, say: Callable[[str], None] = say_now) -> Verification:
    """Run every dashboard panel and annotation query against the live Prometheus over the last hour, as
    Grafana would, and compare the receiver's and the app's /metrics on which containment actions were
    applied and enforced.

    Over a range, not at the last instant: the alerts panel and the annotations show what happened during
    the demo (an alert that fired and has since stopped), which a query at the end alone would not see.
    """
    assert stack.prometheus is not None
    prometheus = stack.prometheus
    signals = artefacts.catalogue(None, DEMO)
    queries = dashboard.panel_queries(signals, Links())
    end = time.time()

    def shows_nothing(expr: str) -> bool:
        sent = dashboard.as_grafana_sends(expr, rate_interval="1m", interval=VERIFY_STEP)
        return not prometheus.query_range(sent, end - VERIFY_RANGE_S, end, VERIFY_STEP)

    empty = tuple(filter(shows_nothing, queries))
    quiet = tuple(filter(shows_nothing, dashboard.annotation_queries(signals)))
    # Over the last hour, so a receiver that died after acting (the fleet demo kills one) still counts.
    applied = prometheus.query(f"sum by (action) (max_over_time({receiver_applied()}[1h])) > 0")
    enforced = prometheus.query(
        f'sum by (action) (max_over_time(ai_containment_enforced_total{{job="{APP_JOB}"}}[1h])) > 0'
    )
    result = Verification(
        len(queries),
        empty,
        quiet,
        tuple(sorted(r["metric"]["action"] for r in applied)),
        tuple(sorted(r["metric"]["action"] for r in enforced)),
    )
    say(
        f"\nDashboard: {len(queries) - len(empty)} of {len(queries)} panel queries return data"
        + (f" (no data: {', '.join(empty)})" if empty else "")
        + (f"; annotations without data: {', '.join(quiet)}" if quiet else "; every annotation marks an event")
    )
    say(
        f"Receiver applied {', '.join(result.applied_by_receiver) or 'nothing'}; the app enforced "
        f"{', '.join(result.enforced_by_app) or 'nothing'}: {'they agree' if result.agree else 'MISMATCH'}"
    )
    return result


def write_postmortems(stack: Stack, outcomes: list[Outcome], say: Callable[[str], None] = say_now) -> list[Path]:
    """Each incident's post-mortem draft, from the receiver's incident store and the app's prompt log."""
    incidents = open_incident_store(stack.incidents_url)
    log = open_store(stack.prompt_log_url)
    evidence = SignalEvidence(BUILTIN_SIGNALS)  # the demo runs the built-in catalogue
    out = stack.workdir / "postmortems"
    out.mkdir(exist_ok=True)
    written = []
    try:
        for outcome in outcomes:
            if outcome.incident_id is None:
                continue
            path = out / f"{outcome.incident_id}.md"
            text = postmortem.draft(incidents, log, evidence, outcome.incident_id, time.time())
            path.write_text(text, encoding="utf-8")
            written.append(path)
    finally:
        incidents.close()
        log.close()
    say(f"\nPost-mortem drafts ({len(written)}): {out}/")
    for path in written:
        say(f"  {path.name}")
    return written


def _rfc3339_seconds(value: str) -> float:
    """Prometheus' activeAt ("2026-11-26T23:59:01.123456789Z") as Unix time."""
    from datetime import datetime

    head, _, fraction = value.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(head + "+00:00").timestamp()
    return seconds + (float("0." + fraction) if fraction else 0.0)


def summary_table(outcomes: list[Outcome]) -> str:
    header = ("signal", "alert", "playbook", "containment", "seconds to containment")
    rows = [
        (
            o.scenario.signal,
            o.scenario.alertname,
            o.incident_type,
            o.action,
            "not seen" if o.contained_after_s is None else f"{o.contained_after_s:.1f}",
        )
        for o in outcomes
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in (header, *rows)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
