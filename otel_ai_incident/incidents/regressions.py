"""`incidents export-regressions`: the incident's turns as eval cases, and a pytest file that runs them.

"Add a regression test to the eval suite" becomes one command: each held turn with a user message becomes a
JSON Lines case (the input, the system prompt's hash and text when stored, and the guardrail outcome the
answer must get), and a small pytest module replays the inputs through the app's pipeline. Only the PII
guardrail can be re-run here; a turn whose evidence is another guardrail's decision, a refusal or a tool
call is exported with `expected: null` and the logged decisions, and its test is skipped with that reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from otel_ai_incident import names
from otel_ai_incident.incidents.replay import logged_pii_decision
from otel_ai_incident.promptlog.entry import PromptLogEntry
from otel_ai_incident.promptlog.store import LogQuery, PromptLogStore
from otel_ai_incident.storage.private import write_private_text

PIPELINE_ENV = "AII_REGRESSION_PIPELINE"
# Whatever the model says to these inputs now, the user must not get personal data: the PII guardrail re-run
# on the pipeline's answer has to allow it (the model no longer leaks, or the pipeline redacted it).
NO_PII_IN_ANSWER = {
    names.GUARDRAIL: names.GUARDRAIL_PII,
    names.STAGE: names.Stage.OUTPUT.value,
    names.DECISION: names.Decision.ALLOW.value,
}

_TEST_MODULE = Template('''\
"""Regression cases from incident $incident_id, exported by `otel-ai-incident incidents export-regressions`.

Each case sends a logged user message through your pipeline, the app as its users get it (current prompt,
model and guardrails), and re-runs the PII guardrail on the answer. Name the pipeline with
$env=module:function; its signature is

    def pipeline(message: str) -> str  # the answer the user would see
"""

import json
import os
from pathlib import Path

import pytest

from otel_ai_incident.guardrails.output import PiiOutputGuard
from otel_ai_incident.incidents.replay import load_callable

CASES = [json.loads(line) for line in Path(__file__).with_name("$cases_file").read_text().splitlines() if line]


@pytest.fixture(scope="module")
def pipeline():
    spec = os.environ.get("$env")
    if not spec:
        pytest.fail("set $env=module:function, the pipeline to test (message -> answer)")
    return load_callable(spec)


@pytest.mark.parametrize("case", CASES, ids=[case["log_id"] for case in CASES])
def test_incident_turn(case, pipeline):
    expected = case["expected"]
    if expected is None:
        pytest.skip(f"no automatic check for this turn; logged decisions: {case['logged_decisions']}")
    check = PiiOutputGuard().check(pipeline(case["input"]))
    assert check.decision == expected["decision"], f"PII in the answer: {sorted(check.entity_counts)}"
''')


@dataclass(frozen=True)
class Export:
    cases_file: Path
    test_file: Path
    cases: int
    checked: int  # cases with an automatic check
    skipped_without_input: int


def case(entry: PromptLogEntry, system_prompt: str | None) -> dict[str, Any]:
    """One eval case; `expected` is None when no guardrail this package runs can judge the turn."""
    logged = logged_pii_decision(entry)
    fired = logged is not None and logged != names.Decision.ALLOW
    return {
        "log_id": entry.log_id,
        "model": entry.model,
        "input": entry.user_message,
        "system_prompt_hash": entry.system_prompt_hash,
        "system_prompt": system_prompt,
        "expected": NO_PII_IN_ANSWER if fired else None,
        "logged_decisions": entry.guardrail_decisions,
    }


def export(log: PromptLogStore, incident_id: str, out: Path) -> Export:
    """Write `<slug>.jsonl` and `test_<slug>.py` into `out` (created if needed); several incidents can share it."""
    slug = "regressions_" + re.sub(r"[^0-9a-z]+", "_", incident_id.lower()).strip("_")
    entries = [s.entry for s in log.query(LogQuery(incident_id=incident_id))]
    usable = [e for e in entries if e.user_message is not None]
    cases = [case(e, log.get_system_prompt(e.system_prompt_hash) if e.system_prompt_hash else None) for e in usable]
    out.mkdir(parents=True, exist_ok=True)
    cases_file, test_file = out / f"{slug}.jsonl", out / f"test_{slug}.py"
    write_private_text(cases_file, "".join(json.dumps(c, sort_keys=True) + "\n" for c in cases))
    write_private_text(
        test_file, _TEST_MODULE.substitute(incident_id=incident_id, env=PIPELINE_ENV, cases_file=cases_file.name)
    )
    return Export(
        cases_file, test_file, len(cases), sum(c["expected"] is not None for c in cases), len(entries) - len(usable)
    )
