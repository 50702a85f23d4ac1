"""Investigation end to end: a real notification through the receiver, a prompt log with a known mix, then
the on-call's commands (show, replay, rca, close, export-regressions, postmortem) on the real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from conftest import free_port
from otel_ai_incident import cli
from otel_ai_incident.containment.state import SqliteContainmentState
from otel_ai_incident.containment.targets import PromptLogTargetFinder
from otel_ai_incident.incidents import commands, postmortem, regressions
from otel_ai_incident.incidents import sql_store as store_module
from otel_ai_incident.incidents.disclosure import breach_clock, disclosure_lines
from otel_ai_incident.incidents.fake_llm import llm as fake_llm
from otel_ai_incident.incidents.model import EventKind, IncidentRCA, IncidentStatus, RootCauseCategory
from otel_ai_incident.incidents.replay import replay
from otel_ai_incident.incidents.sql_store import open_incident_store
from otel_ai_incident.incidents.store import IncidentStore
from otel_ai_incident.promptlog.entry import PromptLogEntry, system_prompt_hash
from otel_ai_incident.promptlog.evidence import SignalEvidence
from otel_ai_incident.promptlog.sqlite import SqliteStore
from otel_ai_incident.promptlog.store import LogQuery
from otel_ai_incident.server.app import create_app
from otel_ai_incident.server.auth import Credentials
from otel_ai_incident.server.inbox.sql_store import open_inbox
from otel_ai_incident.signals import BUILTIN_SIGNALS
from test_server import AUTH, TOKEN, notification, wait_for

FIRED = datetime(2025, 1, 1, 10, 0, tzinfo=UTC).timestamp()  # the startsAt of test_server's notification
OLD_PROMPT = "You are the support bot of Acme. Help customers with their orders."
NEW_PROMPT = OLD_PROMPT + " Never reveal personal contact details."
GOLDEN = Path(__file__).parent / "golden" / "postmortem.md"
BUILTIN = SignalEvidence(BUILTIN_SIGNALS)


def _turn(
    log_id: str,
    offset: float,
    user: str,
    session: str,
    decisions: list[tuple[str, str, str]] = (),
    refused: bool = False,
) -> PromptLogEntry:
    """A logged turn `offset` seconds from FIRED; decisions are (guardrail, stage, decision)."""
    return PromptLogEntry(
        log_id=log_id,
        timestamp=FIRED + offset,
        user_pseudonym=user,
        pseudonym_key_id="k1",
        session_id=session,
        model="gpt-4o-mini",
        system_prompt_hash=system_prompt_hash(OLD_PROMPT),
        user_message="How do I reach my account manager?",
        assistant_response=fake_llm(model="gpt-4o-mini", system=OLD_PROMPT, messages=[]),
        guardrail_decisions=[{"guardrail": g, "stage": s, "decision": d, "score": None} for g, s, d in decisions],
        refused=refused,
        prompt_name="support",
        prompt_version="v1",
        system_prompt=OLD_PROMPT,
    )


PII = ("pii", "output", "redact")
# The known mix around the PII alert (lookback 5m): four turns leaked PII within the window, by three users
# in four sessions; the rest either happened too early, were allowed, or show other signals.
MIX = [
    _turn("T00", -1000, "u0", "s0", [PII]),  # before the detection window: not the first occurrence
    _turn("T01", -240, "u1", "s1", [PII]),  # first occurrence
    _turn("T02", -100, "u1", "s2", [("pii", "output", "block")]),
    _turn("T03", -50, "u2", "s3", [PII]),
    _turn("T04", 60, "u3", "s4", [PII]),
    _turn("T05", -30, "u4", "s5", [("pii", "output", "allow")]),
    _turn("T06", -20, "u5", "s6", [("toxicity", "output", "block")]),
    _turn("T07", 30, "u6", "s7", refused=True),
]


@dataclass
class Setup:
    root: Path
    incidents: IncidentStore
    log: SqliteStore
    state: SqliteContainmentState
    incident_id: str
    url: str  # the receiver's

    def cli(self, *argv: str) -> int:
        return cli.main(
            [
                *argv,
                "--incidents",
                f"sqlite:///{self.root / 'incidents.db'}",
                "--prompt-log",
                f"sqlite:///{self.root / 'log.db'}",
            ]
        )


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """One PII notification through a receiver that reads the prompt log, processed to the end."""
    root = tmp_path_factory.mktemp("investigation")
    log = SqliteStore(str(root / "log.db"))
    log.write(MIX)
    state = SqliteContainmentState(root / "containment.db")
    incidents = open_incident_store(f"sqlite:///{root / 'incidents.db'}")
    inbox = open_inbox(f"sqlite:///{root / 'incidents.db'}")
    # min_turns=1: the mix is small, and this module checks the ranking (the minimum is tested below).
    app = create_app(
        state=state,
        incidents=incidents,
        inbox=inbox,
        credentials=Credentials(TOKEN),
        finder=PromptLogTargetFinder(log, BUILTIN, min_turns=1),
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started)
    payload = notification()
    assert httpx.post(f"http://127.0.0.1:{port}/alertmanager", json=payload, headers=AUTH).status_code == 200
    wait_for(lambda: inbox.count(pending=True) == 0)
    [incident] = incidents.list()
    yield Setup(root, incidents, log, state, incident.id, f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(timeout=10)


def test_a_user_needs_several_turns_showing_the_signal_to_become_a_target(setup: Setup) -> None:
    since, until = FIRED - 1000, FIRED + 100
    signal = "pii_detection_in_output"
    assert PromptLogTargetFinder(setup.log, BUILTIN).top_users(since, until, 10, signal) == []
    assert PromptLogTargetFinder(setup.log, BUILTIN, min_turns=2).top_users(since, until, 10, signal) == ["u1"]


def test_rate_limits_go_to_the_few_accounts_behind_a_spike_not_to_everyone_refused_once(tmp_path: Path) -> None:
    log = SqliteStore(str(tmp_path / "spike.db"))
    prober = [_turn(f"P{i:02d}", -i, "prober", f"p{i}", refused=True) for i in range(40)]
    regular = [_turn(f"R{i}", -i, "regular", f"r{i}", refused=True) for i in range(3)]  # 3 refusals, ordinary
    log.write([*prober, *regular, _turn("O1", -5, "other", "o1", refused=True)])
    assert PromptLogTargetFinder(log, BUILTIN).top_users(FIRED - 600, FIRED, 10, "refusal_rate_spike") == ["prober"]
    log.close()


def _show(setup: Setup, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert setup.cli("incidents", "show", setup.incident_id, "--json") == 0
    return json.loads(capsys.readouterr().out)


def test_receiver_records_first_occurrence_and_holds_exactly_the_affected_turns(setup: Setup) -> None:
    incident = setup.incidents.get(setup.incident_id)
    first = incident.first(EventKind.FIRST_OCCURRED)
    assert (first.at, first.detail) == (FIRED - 240, {"log_id": "T01"})
    held = [s.entry.log_id for s in setup.log.query(LogQuery(incident_id=setup.incident_id))]
    assert held == ["T01", "T02", "T03", "T04"]
    # The rate limits waiting for approval target the users whose turns show the alert's signal (PII in the
    # output, blocked or redacted), most involved first; u5's toxicity block is another signal's evidence.
    pending = [p.planned for p in setup.state.pending() if p.planned.action.value == "rate_limit_user"]
    assert [p.target for p in pending] == ["u1", "u0", "u2", "u3"]


def test_show_gives_the_timeline_blast_radius_and_gdpr_clock(
    setup: Setup, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commands, "clock", lambda: FIRED + 3600)
    shown = _show(setup, capsys)
    radius = shown["blast_radius"]
    assert (radius["users"], radius["sessions"], radius["entries"]) == (3, 4, 4)
    assert (radius["since"], radius["until"]) == (FIRED - 240, FIRED + 3600)
    milestones = shown["milestones"]
    assert milestones["first_occurred"] == FIRED - 240 and milestones["monitoring_fired"] == FIRED
    assert milestones["detected"] is not None and milestones["contained"] is not None
    assert milestones["closed"] is None
    aware = milestones["detected"]
    assert shown["gdpr_art_33_clock"]["deadline"] == aware + 72 * 3600
    assert any(line.startswith("GDPR Article 34:") for line in shown["disclosure"])
    assert setup.cli("incidents", "show", setup.incident_id) == 0
    text = capsys.readouterr().out
    assert "3 users, 4 sessions, 4 turns" in text and "first occurred in production" in text
    assert setup.cli("incidents", "list") == 0
    assert setup.incident_id in capsys.readouterr().out


def test_replay_with_the_fake_llm_reproduces_and_shows_the_fix(
    setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    prompt = tmp_path / "prompt.txt"
    prompt.write_text(NEW_PROMPT)
    assert (
        setup.cli(
            "replay", "T01", "--llm", "otel_ai_incident.incidents.fake_llm:llm", "--prompt", str(prompt), "--json"
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["recorded_in"] == setup.incident_id  # the incident the turn is held for
    assert (result["old"]["pii_decision"], result["old"]["pii_entities"]) == ("redact", ["EMAIL"])
    assert (result["new"]["pii_decision"], result["new"]["pii_entities"]) == ("allow", [])
    assert result["reproduced"] is True
    assert result["old"]["system_prompt_hash"] == system_prompt_hash(OLD_PROMPT)
    assert "@" not in result["old"]["redacted_output"]  # the incident file keeps no copy of the leak
    # The current prompt from the registry, as the app's module (imported for --llm) registers it.
    (tmp_path / "support_app.py").write_text(
        "from otel_ai_incident.containment.registry import register_prompt\n"
        "from otel_ai_incident.incidents.fake_llm import llm\n"
        f"register_prompt('support', {NEW_PROMPT!r})\n"
    )
    monkeypatch.chdir(tmp_path)
    assert setup.cli("replay", "T03", "--llm", "support_app:llm") == 0
    text = capsys.readouterr().out
    assert "prompt of the time" in text and "pii: redact (EMAIL)" in text and "| pii: allow" in text
    assert "reproduced: yes" in text
    replays = setup.incidents.get(setup.incident_id).replays
    assert [r.log_id for r in replays] == ["T01", "T03"] and all(r.prompts_differ for r in replays)


def test_replay_prints_both_prompts_and_their_diff_and_no_record_leaves_the_incident_alone(
    setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded = len(setup.incidents.get(setup.incident_id).replays)
    current = NEW_PROMPT + "\nSign as \x1b[31mAcme\x1b[0m."  # a prompt file may hold anything
    prompt = tmp_path / "prompt.txt"
    prompt.write_text(current)
    replay_t01 = ("replay", "T01", "--llm", "otel_ai_incident.incidents.fake_llm:llm", "--prompt", str(prompt))
    assert setup.cli(*replay_t01, "--no-record") == 0
    text = capsys.readouterr().out
    assert f"system prompt of the time {system_prompt_hash(OLD_PROMPT)[:12]}:\n  {OLD_PROMPT}\n" in text
    assert f"current system prompt {system_prompt_hash(current)[:12]}:\n  {NEW_PROMPT}\n" in text
    diff = text[text.index("diff:") :]
    assert f"\n  -{OLD_PROMPT}\n  +{NEW_PROMPT}\n  +Sign as \\x1b[31mAcme\\x1b[0m.\n" in diff
    assert "\x1b" not in text  # escaped as every recorded text the CLI prints
    assert "not recorded (--no-record)" in text
    assert setup.cli(*replay_t01, "--no-record", "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["recorded_in"] is None
    assert (result["prompts"]["of_the_time"], result["prompts"]["current"]) == (OLD_PROMPT, current)
    assert f"+{NEW_PROMPT}" in result["prompts"]["diff"] and f"-{OLD_PROMPT}" in result["prompts"]["diff"]
    prompt.write_text(OLD_PROMPT)
    assert setup.cli(*replay_t01, "--no-record") == 0
    assert "diff: none (the current prompt is the prompt of the time)" in capsys.readouterr().out
    assert setup.cli(*replay_t01, "--no-record", "--incident", setup.incident_id) == 2  # one or the other
    assert len(setup.incidents.get(setup.incident_id).replays) == recorded


@pytest.mark.parametrize("option", ["--prompt-log", "--db"])
def test_the_prompt_log_is_named_by_prompt_log_or_by_its_old_name(
    setup: Setup, option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    incidents = f"sqlite:///{setup.root / 'incidents.db'}"
    log = f"sqlite:///{setup.root / 'log.db'}"
    argv = ["incidents", "show", setup.incident_id, "--json", "--incidents", incidents, option, log]
    assert cli.main(argv) == 0
    assert json.loads(capsys.readouterr().out)["blast_radius"]["entries"] == 4


def test_export_regressions_round_trip(setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "evals"
    assert setup.cli("incidents", "export-regressions", setup.incident_id, "--out", str(out)) == 0
    [cases_file] = out.glob("*.jsonl")
    cases = [json.loads(line) for line in cases_file.read_text().splitlines()]
    assert [c["log_id"] for c in cases] == ["T01", "T02", "T03", "T04"]
    assert cases[0]["system_prompt"] == OLD_PROMPT and cases[0]["expected"] == regressions.NO_PII_IN_ANSWER
    (tmp_path / "pipelines.py").write_text(
        "from otel_ai_incident.incidents.fake_llm import llm\n"
        f"def fixed(message):\n    return llm(model='m', system={NEW_PROMPT!r}, messages=[])\n"
        f"def leaky(message):\n    return llm(model='m', system={OLD_PROMPT!r}, messages=[])\n"
    )

    def run(pipeline: str | None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != regressions.PIPELINE_ENV}
        env["PYTHONPATH"] = str(tmp_path)
        if pipeline:
            env[regressions.PIPELINE_ENV] = f"pipelines:{pipeline}"
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(out)],
            cwd=out,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    fixed, leaky, unset = run("fixed"), run("leaky"), run(None)
    assert fixed.returncode == 0 and "4 passed" in fixed.stdout, fixed.stdout
    assert leaky.returncode == 1 and "4 failed" in leaky.stdout, leaky.stdout
    assert unset.returncode != 0 and regressions.PIPELINE_ENV in unset.stdout


def test_close_needs_a_root_cause_then_releases_the_hold(
    setup: Setup, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Runs last in this module: it closes the incident and lets retention delete its turns.
    assert setup.cli("postmortem", setup.incident_id, "--out", str(tmp_path / "pm.md")) == 0
    assert "| T01 |" in (tmp_path / "pm.md").read_text()  # the replay is in the draft
    assert setup.cli("incidents", "close", setup.incident_id, "--by", "alice") == 1
    assert "no root cause" in capsys.readouterr().err
    assert (
        setup.cli(
            "incidents",
            "rca",
            setup.incident_id,
            "--category",
            "prompt_failure",
            "--description",
            "the prompt had no rule against sharing contact details",
            "--factor",
            "prompt v1 shipped",
            "--remediation",
            "add the rule",
            "--remediation",
            "review prompts",
            "--regression-test-added",
        )
        == 0
    )
    rca = setup.incidents.get(setup.incident_id).rca
    assert (rca.root_cause_category, rca.remediation_steps) == (
        RootCauseCategory.PROMPT_FAILURE,
        ("add the rule", "review prompts"),
    )
    far_future = FIRED + 10**9
    assert setup.log.purge(far_future) == 4  # everything but the four held turns
    assert setup.cli("incidents", "close", setup.incident_id, "--by", "alice") == 0
    assert "released the hold on 4" in capsys.readouterr().out
    assert setup.incidents.get(setup.incident_id).status is IncidentStatus.CLOSED
    # Its turns still export as cases (without counting it again), and stay released: retention deletes them.
    assert setup.cli("incidents", "export-regressions", setup.incident_id, "--out", str(tmp_path / "evals")) == 0
    assert "wrote 4 cases" in capsys.readouterr().out
    assert setup.log.purge(far_future) == 4
    # Retention deleted the turns; the blast radius counted at the close stays, in every report.
    radius = _show(setup, capsys)["blast_radius"]
    assert (radius["users"], radius["sessions"], radius["entries"]) == (3, 4, 4)
    assert radius["since"] == FIRED - 240
    api = httpx.get(f"{setup.url}/v1/incidents/{setup.incident_id}", headers=AUTH).json()
    assert api["blast_radius"] == radius
    assert setup.cli("incidents", "show", setup.incident_id) == 0
    assert "3 users, 4 sessions, 4 turns" in capsys.readouterr().out
    assert setup.cli("postmortem", setup.incident_id, "--out", str(tmp_path / "closed.md")) == 0
    assert "3 users and 4 sessions affected, in 4 turns" in (tmp_path / "closed.md").read_text()
    assert setup.log.purge(far_future) == 0  # and reading the closed incident held nothing again
    assert setup.cli("incidents", "rca", setup.incident_id, "--category", "model_failure", "--description", "x") == 1


# -- the GDPR clock and the post-mortem, on fixed data with a fixed clock -------------------------------


def _fixed_incident(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, incident_type: str = "data_leakage"):
    monkeypatch.setattr(store_module, "new_incident_id", lambda now: "INC-20250101-golden")
    incidents = open_incident_store(f"sqlite:///{tmp_path / 'incidents.db'}")
    incident = incidents.open_for_group(
        "g",
        title="PII in output",
        incident_type=incident_type,
        severity="p1",
        signals=["pii_detection_in_output"],
        at=FIRED,
    )
    incidents.add_event(incident.id, EventKind.MONITORING_FIRED, FIRED, {"alertname": "PiiDetectionInOutput"})
    incidents.add_event(incident.id, EventKind.NOTIFIED, FIRED + 20, {"alerts": 1})
    incidents.add_event(incident.id, EventKind.CONTAINMENT_APPLIED, FIRED + 21, {"action": "kill_switch"})
    incidents.transition(incident.id, IncidentStatus.CONTAINED, FIRED + 21, "receiver")
    return incidents, incident.id


def test_gdpr_clock_inside_the_72_hours_and_overdue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    incidents, incident_id = _fixed_incident(tmp_path, monkeypatch)
    incident = incidents.get(incident_id)
    inside = breach_clock(incident, FIRED + 20 + 10 * 3600 + 15 * 60)
    assert (inside.deadline, inside.overdue, inside.describe()) == (FIRED + 20 + 72 * 3600, False, "61h45m remaining")
    late = breach_clock(incident, FIRED + 20 + 80 * 3600)
    assert (late.overdue, late.describe()) == (True, "overdue by 8h00m")
    assert "overdue by 8h00m" in disclosure_lines(incident, FIRED + 20 + 80 * 3600)[0]
    (tmp_path / "other").mkdir()
    other_store, other_id = _fixed_incident(tmp_path / "other", monkeypatch, "jailbreak_wave")
    other = other_store.get(other_id)
    assert breach_clock(other, FIRED) is None
    assert [line.split(":")[0] for line in disclosure_lines(other, FIRED)] == ["Contract / SLA"]


def test_postmortem_matches_the_golden_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    incidents, incident_id = _fixed_incident(tmp_path, monkeypatch)
    log = SqliteStore(str(tmp_path / "log.db"))
    log.write(MIX)
    incidents.add_event(incident_id, EventKind.RESOLVED, FIRED + 900, {"alertname": "PiiDetectionInOutput"})
    incidents.transition(incident_id, IncidentStatus.RESOLVED, FIRED + 900, "receiver")
    [t01] = [e for e in MIX if e.log_id == "T01"]
    incidents.record_replay(incident_id, replay(t01, OLD_PROMPT, NEW_PROMPT, fake_llm, now=FIRED + 1800))
    incidents.record_rca(
        IncidentRCA(
            incident_id,
            "data_leakage",
            RootCauseCategory.PROMPT_FAILURE,
            "The prompt had no rule against sharing contact details.",
            ("Prompt v1 shipped without review",),
            ("Add the rule to the prompt",),
            True,
            "Prompt changes need a PII eval run",
        ),
        FIRED + 2000,
    )
    now = FIRED + 4 * 3600
    text = postmortem.draft(incidents, log, BUILTIN, incident_id, now)
    assert text == GOLDEN.read_text(), "post-mortem changed: review the diff, then update tests/golden/postmortem.md"
