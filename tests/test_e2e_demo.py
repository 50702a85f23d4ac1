"""The whole loop for real: `otel-ai-incident demo` with Prometheus, Alertmanager, the receiver and the app.

Each of the five signals must fire from scraped metrics, reach the receiver through Alertmanager, and end
with the right playbook's containment enforced by the app's gate; normal traffic before must fire nothing
(the demo fails otherwise); every dashboard panel must return data; the receiver's and the app's /metrics
must agree on what was enforced; and no process may outlive the demo, whether it ends or is interrupted.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import find_binary
from processes import clean_env, scratch_dir

# The contract's default playbooks: the primary action of each signal's incident type.
EXPECTED_ACTION = {
    "safety_classifier_block_rate": "rate_limit_user",
    "user_reports_harmful_content": "tighten_guardrail",
    "pii_detection_in_output": "kill_switch",
    "anomalous_tool_usage": "restrict_to_read_only",
    "refusal_rate_spike": "rate_limit_user",
}
STEPS = ("pending", "firing", "notified", "applied", "enforced")


def _demo(workdir: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "otel_ai_incident.cli", "demo", "--workdir", str(workdir), *options]


def _processes_using(workdir: Path) -> list[str]:
    """Command lines of live processes that mention `workdir` (every process of the demo's stack does)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended meanwhile
            continue
        if str(workdir) in args:
            found.append(args)
    return found


def test_demo_detects_and_contains_every_signal(tmp_path: Path) -> None:
    find_binary("prometheus")
    find_binary("alertmanager")
    workdir, report = tmp_path / "work", tmp_path / "demo.json"
    done = subprocess.run(
        _demo(workdir, "--json", str(report)),
        capture_output=True,
        text=True,
        timeout=900,
        env=clean_env(),
        cwd=scratch_dir(),
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    result = json.loads(report.read_text())

    assert {s["signal"]: s["action"] for s in result["scenarios"]} == EXPECTED_ACTION
    for scenario in result["scenarios"]:
        marks = scenario["marks"]
        assert set(STEPS) <= set(marks), scenario
        assert marks["pending"] <= marks["firing"] <= marks["notified"] + 1.0, scenario
        assert marks["notified"] <= marks["applied"] <= marks["enforced"] + 1.0, scenario
        assert scenario["contained_after_s"] < 30, scenario
        assert scenario["incident_id"], scenario
    checks = result["checks"]
    assert checks["panels_without_data"] == []
    assert checks["annotations_without_data"] == []
    assert checks["agree"] and set(checks["enforced_by_app"]) >= set(EXPECTED_ACTION.values())
    assert _processes_using(workdir) == []


@pytest.mark.parametrize(("stop", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 130), (signal.SIGKILL, -9)])
def test_a_stopped_demo_leaves_no_process_behind(tmp_path: Path, stop: signal.Signals, exit_code: int) -> None:
    """Ctrl-C and SIGTERM stop the stack in order; even SIGKILL, which the demo cannot catch, takes its
    children along (they are started to die with their parent)."""
    find_binary("prometheus")
    find_binary("alertmanager")
    workdir = tmp_path / "work"
    demo = subprocess.Popen(
        _demo(workdir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=clean_env(PYTHONUNBUFFERED="1"),
        cwd=scratch_dir(),
    )
    try:
        for line in demo.stdout:
            if line.startswith("Normal traffic"):
                break
        assert len(_processes_using(workdir)) >= 4, "demo, receiver, Prometheus and Alertmanager should be up"
        demo.send_signal(stop)
        assert demo.wait(timeout=60) == exit_code
    finally:
        if demo.poll() is None:
            demo.terminate()
            demo.wait(timeout=60)
    deadline = time.monotonic() + 10
    while _processes_using(workdir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_using(workdir) == []
