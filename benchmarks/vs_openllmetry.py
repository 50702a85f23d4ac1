"""What auto-instrumenting a mocked OpenAI chat call costs: this project against OpenLLMetry (traceloop-sdk).

Three modes: `bare` (no instrumentation), `openllmetry` (Traceloop.init with its OpenAI instrumentation) and
`ours` (instrument(prometheus=False) + instrument_openai(): spans, metrics, gate, prompt log). Each round runs
every mode once, in a fresh process (benchmarks/_openai_call.py), in an order rotated per round. All modes run
in one dedicated venv holding traceloop-sdk, openai and this project, so they share the interpreter and the
openai and OpenTelemetry versions, and traceloop-sdk never enters the project's own environment. The venv is
created on first use (this needs PyPI). Goal: ours adds at most a fifth of what OpenLLMetry adds. Process CPU
time is reported first: on a shared machine the wall clock mostly measures the wait for a free core.

    python benchmarks/vs_openllmetry.py [--rounds 5] [--calls 2000] [--warmup 300] [--venv PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HELPER = Path(__file__).resolve().parent / "_openai_call.py"
DEFAULT_VENV = Path(__file__).resolve().parent / ".venv-openllmetry"
MODES = ("bare", "openllmetry", "ours")
GOAL = 0.2
CLOCKS = {"cpu_us": "process CPU time", "wall_us": "wall clock"}
PACKAGES = ("openai", "traceloop-sdk", "opentelemetry-sdk", "otel-ai-incident")


def ensure_venv(venv: Path) -> Path:
    """The venv's python, after creating it and installing traceloop-sdk, openai and this project if needed."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        # An old pip backtracks for many minutes over traceloop-sdk's pins; a current one resolves at once.
        subprocess.run([python, "-m", "pip", "install", "-q", "-U", "pip"], check=True)
    ready = subprocess.run([python, "-c", "import traceloop.sdk, openai, otel_ai_incident"], capture_output=True)
    if ready.returncode != 0:
        # httpx: traceloop-sdk imports it without declaring it (openai 3.x brings httpx2 instead).
        subprocess.run([python, "-m", "pip", "install", "-q", "traceloop-sdk", "openai", "httpx", "-e", str(REPO)],
                       check=True)
    return python


def versions(python: Path) -> str:
    code = "import importlib.metadata as m, sys; print(', '.join(f'{p} {m.version(p)}' for p in sys.argv[1:]))"
    return subprocess.run([python, "-c", code, *PACKAGES], capture_output=True, text=True, check=True).stdout.strip()


def run_mode(python: Path, mode: str, calls: int, warmup: int) -> dict[str, float]:
    """µs per call of one mode in a fresh process: {"wall_us": ..., "cpu_us": ...}."""
    # No OTEL_* or TRACELOOP_* settings from the caller's shell: nothing configured to leave the machine.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACELOOP_"))}
    env["TRACELOOP_TELEMETRY"] = "false"
    done = subprocess.run([python, str(HELPER), mode, "--calls", str(calls), "--warmup", str(warmup)],
                          capture_output=True, text=True, env=env, check=True)
    # Traceloop prints banners to stdout: the result is the last line.
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {clock: result[clock] for clock in CLOCKS}


def report(clock: str, samples: dict[str, list[dict[str, float]]]) -> None:
    values = {mode: [sample[clock] for sample in samples[mode]] for mode in MODES}
    median = {mode: statistics.median(v) for mode, v in values.items()}
    added = {mode: median[mode] - median["bare"] for mode in MODES}
    print(f"\n{CLOCKS[clock]}, median of {len(values['bare'])} rounds, µs per call:")
    for mode in MODES:
        spread = f"{min(values[mode]):.0f}..{max(values[mode]):.0f}"
        print(f"  {mode:<12} {median[mode]:8.1f}   added over bare {added[mode]:7.1f}   (rounds {spread})")
    ratio = added["ours"] / added["openllmetry"]
    verdict = "meets" if ratio <= GOAL else "misses"
    print(f"  ours added / openllmetry added = {ratio:.3f} ({verdict} the goal of <= {GOAL})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    args = parser.parse_args()

    python = ensure_venv(args.venv)
    print(versions(python))
    samples: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    for round_no in range(args.rounds):
        order = MODES[round_no % len(MODES):] + MODES[:round_no % len(MODES)]
        for mode in order:
            samples[mode].append(run_mode(python, mode, args.calls, args.warmup))
        print(f"round {round_no + 1} (cpu µs): " + "  ".join(f"{m} {samples[m][-1]['cpu_us']:.0f}" for m in MODES),
              flush=True)
    for clock in CLOCKS:
        report(clock, samples)


if __name__ == "__main__":
    main()
