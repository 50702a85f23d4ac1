"""The LiteLLM and LangChain benchmark processes run their modes in the project's own environment (OpenLLMetry's
mode needs the benchmark's separate venv and is left out): each mode's calls succeed, and in `ours` every call,
warm-up included, is a turn with its prompt-log entry, so the benchmark times the integration doing its work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from otel_ai_incident import names
from otel_ai_incident.promptlog.backends import open_store

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
CALLS, WARMUP = 3, 2


def run_helper(helper: str, mode: str, state: Path) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        {
            names.ENV_PROMPT_LOG: f"sqlite:///{state}/prompt_log.db",
            names.ENV_CONTAINMENT: f"sqlite:///{state}/containment.db",
            names.ENV_PSEUDONYM_KEY_FILE: str(state / "pseudonym.key"),
        }
    )
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / helper), mode, "--calls", str(CALLS), "--warmup", str(WARMUP)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["mode"] == mode and result["cpu_us"] > 0 and result["wall_us"] > 0
    return result


def logged_entries(state: Path) -> int:
    store = open_store(f"sqlite:///{state}/prompt_log.db")
    try:
        return store.count_affected(0, time.time() + 60).entries
    finally:
        store.close()


@pytest.mark.parametrize(
    ("helper", "modes"),
    [
        ("_litellm_call.py", ("bare", "sdk_floor", "litellm_otel")),
        ("_langchain_call.py", ("bare", "sdk_floor")),
    ],
)
def test_the_reference_modes_run(helper: str, modes: tuple[str, ...], tmp_path: Path) -> None:
    for mode in modes:
        run_helper(helper, mode, tmp_path)
    assert not (tmp_path / "prompt_log.db").exists()  # none of them is this project's integration


@pytest.mark.parametrize("helper", ["_litellm_call.py", "_langchain_call.py"])
def test_ours_logs_every_call(helper: str, tmp_path: Path) -> None:
    run_helper(helper, "ours", tmp_path)
    assert logged_entries(tmp_path) == CALLS + WARMUP
