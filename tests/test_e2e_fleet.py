"""The loop on a fleet, for real: `otel-ai-incident demo --fleet` with PostgreSQL, 3 app replicas, 2 receivers,
2 clustered Alertmanagers and one Prometheus.

Each of the five signals must be contained with its playbook's action and enforced by every replica; the
PII incident's blast radius must count exactly the leaking turns the replicas answered (one prompt log, one
pseudonym key: one attacker is one user); no action may be applied twice although every notification
reaches both receivers through both Alertmanagers; and a receiver killed after the second incident must
leave no accepted notification unfinished.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import find_binary, missing
from otel_ai_incident.demo.postgres import MissingPostgres, find_bindir
from processes import clean_env, scratch_dir
from test_e2e_demo import EXPECTED_ACTION, STEPS, _processes_using


def test_fleet_demo_contains_every_signal_on_every_replica(tmp_path: Path) -> None:
    find_binary("prometheus")
    find_binary("alertmanager")
    try:
        find_bindir()
    except MissingPostgres as error:
        missing(error)
    workdir, report = tmp_path / "work", tmp_path / "fleet.json"
    command = [sys.executable, "-m", "otel_ai_incident.cli", "demo", "--fleet", "--workdir", str(workdir)]
    done = subprocess.run(
        [*command, "--json", str(report)],
        capture_output=True,
        text=True,
        timeout=1200,
        env=clean_env(),
        cwd=scratch_dir(),
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-4000:]
    result = json.loads(report.read_text())

    assert {s["signal"]: s["action"] for s in result["scenarios"]} == EXPECTED_ACTION
    for scenario in result["scenarios"]:
        assert set(STEPS) <= set(scenario["marks"]), scenario
        assert scenario["enforcing"] == ["app-0", "app-1", "app-2"], scenario
    fleet = result["fleet"]
    leaks = fleet["leak_turns_answered"]
    assert len(leaks) == 3 and all(n > 0 for n in leaks.values()), leaks  # the leak reached every replica
    assert fleet["blast_radius_entries"] == sum(leaks.values()), fleet
    assert fleet["blast_radius_users"] == 1, fleet
    assert fleet["actions_applied_too_often"] == [], fleet
    assert fleet["pending_notifications"] == 0 and fleet["finished_notifications"] > 0, fleet
    assert result["checks"]["agree"], result["checks"]
    assert _processes_using(workdir) == []
