"""What auto-instrumenting a mocked OpenAI chat call costs: this project against OpenLLMetry (traceloop-sdk).
`--client anthropic` measures a mocked Anthropic `messages.create` instead (benchmarks/_anthropic_call.py),
`--client litellm` a `litellm.completion` to a mocked OpenAI model (benchmarks/_litellm_call.py, with LiteLLM's
own OpenTelemetry callback as a second reference, `litellm_otel`), `--client langchain` a fake chat model's
`invoke` (benchmarks/_langchain_call.py).

Four modes (five for LiteLLM): `bare` (no instrumentation); `sdk_floor` (only the OpenTelemetry work the
contract asks of a chat turn: its spans and its duration and token histograms, with no logic around them);
`openllmetry` (Traceloop.init with its instrumentation of the client); `ours` (instrument(prometheus=False,
integrations=[client]): spans, metrics, gate, prompt log). Each round runs every mode once, in a fresh process
(benchmarks/_openai_call.py and the other helpers), in an order rotated per round. All modes run in one
dedicated venv holding traceloop-sdk, the clients and this project, so they share the interpreter and the
clients' and OpenTelemetry versions, and traceloop-sdk never enters the project's own environment. The venv is
created on first use (this needs PyPI). Goals, against OpenLLMetry (the first reference mode): ours adds at
most 0.30 of what it adds, and at most 0.10 above the SDK floor. Process CPU time is reported first: on a
shared machine the wall clock mostly measures the wait for a free core.

`--instructions` counts instead of timing: each mode runs under valgrind's callgrind at two call counts, and
the difference over the extra calls is the instructions per call (all threads). The count does not vary with
the machine's load, so it settles small differences that the clocks' noise hides; it does not see cache misses.
Work done per second rather than per call is left out of the count (AII_CONTAINMENT_REFRESH_S and
AII_PROMPT_LOG_FLUSH_S set to an hour): under callgrind a call lasts about fifty times longer, which would
charge each call fifty times its share of the gate's re-read (once a second) and of the prompt log's wake-ups
(ten a second), and make the count follow the machine's load. The entries are still written, as one batch
when the process exits, so the count holds what writing an entry costs in a batch.

    python benchmarks/vs_openllmetry.py [--client openai|anthropic|litellm|langchain] [--rounds 5]
                                        [--calls 2000] [--warmup 300] [--venv PATH]
    python benchmarks/vs_openllmetry.py --instructions [--calls 800]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from otel_ai_incident import names

BENCHMARKS = Path(__file__).resolve().parent
REPO = BENCHMARKS.parent


@dataclass(frozen=True)
class Client:
    """One client's benchmark process and the modes it measures besides bare, sdk_floor and ours."""

    helper: Path
    references: tuple[str, ...] = ("openllmetry",)  # the first is the one the goals are judged against

    @property
    def modes(self) -> tuple[str, ...]:
        return ("bare", "sdk_floor", *self.references, "ours")


CLIENTS = {
    "openai": Client(BENCHMARKS / "_openai_call.py"),
    "anthropic": Client(BENCHMARKS / "_anthropic_call.py"),
    "litellm": Client(BENCHMARKS / "_litellm_call.py", ("openllmetry", "litellm_otel")),
    "langchain": Client(BENCHMARKS / "_langchain_call.py"),
}
DEFAULT_VENV = BENCHMARKS / ".venv-openllmetry"
#: Goals per integration: what it adds at most this share of what OpenLLMetry adds for the same call, and its own
#: code above the OpenTelemetry SDK floor (the spans and metrics the conventions require) at most the second.
GOAL_TOTAL, GOAL_ABOVE_FLOOR = 0.30, 0.10
CLOCKS = {"cpu_us": "process CPU time", "wall_us": "wall clock"}
PACKAGES = (
    "openai",
    "anthropic",
    "litellm",
    "langchain-core",
    "traceloop-sdk",
    "opentelemetry-sdk",
    "otel-ai-incident",
)


def ensure_venv(venv: Path) -> Path:
    """The venv's python, after creating it and installing traceloop-sdk, the clients and this project if
    needed."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        # An old pip backtracks for many minutes over traceloop-sdk's pins; a current one resolves at once.
        subprocess.run([python, "-m", "pip", "install", "-q", "-U", "pip"], check=True)
    check = "import traceloop.sdk, openai, anthropic, litellm, langchain, otel_ai_incident"
    ready = subprocess.run([python, "-c", check], capture_output=True)
    if ready.returncode != 0:
        # httpx: traceloop-sdk imports it without declaring it (openai 3.x brings httpx2 instead). langchain, not
        # only langchain-core: Traceloop.init turns its LangChain instrumentation on only when `langchain` is there.
        packages = ["traceloop-sdk", "openai", "anthropic", "litellm", "langchain", "httpx", "-e", str(REPO)]
        subprocess.run([python, "-m", "pip", "install", "-q", *packages], check=True)
    return python


def versions(python: Path) -> str:
    code = "import importlib.metadata as m, sys; print(', '.join(f'{p} {m.version(p)}' for p in sys.argv[1:]))"
    return subprocess.run([python, "-c", code, *PACKAGES], capture_output=True, text=True, check=True).stdout.strip()


def clean_env() -> dict[str, str]:
    """No OTEL_* or TRACELOOP_* settings from the caller's shell: nothing configured to leave the machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACELOOP_"))}
    env["TRACELOOP_TELEMETRY"] = "false"
    return env


def run_mode(python: Path, helper: Path, mode: str, calls: int, warmup: int) -> dict[str, float]:
    """µs per call of one mode in a fresh process: {"wall_us": ..., "cpu_us": ...}."""
    done = subprocess.run(
        [python, str(helper), mode, "--calls", str(calls), "--warmup", str(warmup)],
        capture_output=True,
        text=True,
        env=clean_env(),
        check=True,
    )
    # Traceloop prints banners to stdout: the result is the last line.
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {clock: result[clock] for clock in CLOCKS}


def instructions(python: Path, helper: Path, mode: str, calls: int, warmup: int) -> float:
    """Instructions per call of one mode: the callgrind totals of `calls` + 1 and of 1 timed call, subtracted."""

    per_call_only = {**clean_env(), names.ENV_CONTAINMENT_REFRESH: "3600", names.ENV_PROMPT_LOG_FLUSH: "3600"}

    def total(extra_calls: int, out: Path) -> int:
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                str(python),
                str(helper),
                mode,
                "--calls",
                str(extra_calls),
                "--warmup",
                str(warmup),
            ],
            capture_output=True,
            env=per_call_only,
            check=True,
        )
        summary = next(line for line in out.read_text().splitlines() if line.startswith("summary:"))
        return int(summary.split()[1])

    with tempfile.TemporaryDirectory(prefix="aii-callgrind-") as tmp, ThreadPoolExecutor(2) as pool:
        long, short = pool.map(total, (calls + 1, 1), (Path(tmp) / "long.out", Path(tmp) / "short.out"))
    return (long - short) / calls


def report(title: str, unit: str, values: dict[str, list[float]], references: tuple[str, ...]) -> None:
    """Medians, what each mode adds over bare, and ours against each reference; the goals' verdicts are given
    against the first reference only."""
    median = {mode: statistics.median(v) for mode, v in values.items()}
    added = {mode: median[mode] - median["bare"] for mode in values}
    print(f"\n{title}, per call:")
    for mode in values:
        spread = f"   (rounds {min(values[mode]):.0f}..{max(values[mode]):.0f})" if len(values[mode]) > 1 else ""
        print(f"  {mode:<12} {median[mode]:12,.1f} {unit}   added over bare {added[mode]:10,.1f}{spread}")
    above_floor = added["ours"] - added["sdk_floor"]
    print(f"  ours above the floor = {above_floor:,.1f} {unit}")
    for reference in references:
        ratio, above = added["ours"] / added[reference], above_floor / added[reference]
        judged = reference == references[0]
        print(
            f"  against {reference}: ours added / {reference} added = {ratio:.3f}"
            f"{_verdict(ratio, GOAL_TOTAL) if judged else ''}; sdk_floor added / {reference} added ="
            f" {added['sdk_floor'] / added[reference]:.3f}; ours above the floor / {reference} added ="
            f" {above:.3f}{_verdict(above, GOAL_ABOVE_FLOOR) if judged else ''}"
        )


def _verdict(ratio: float, goal: float) -> str:
    return f" ({'meets' if ratio <= goal else 'misses'} the goal of <= {goal})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--client", choices=sorted(CLIENTS), default="openai")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--instructions", action="store_true", help="count instructions under callgrind")
    args = parser.parse_args()

    client = CLIENTS[args.client]
    helper, modes = client.helper, client.modes
    python = ensure_venv(args.venv)
    print(versions(python))
    if args.instructions:
        if shutil.which("valgrind") is None:
            sys.exit("--instructions needs valgrind (apt-get install -y valgrind)")
        counts: dict[str, list[float]] = {}
        for mode in modes:  # each count as it comes: a run of all modes takes many minutes under callgrind
            counts[mode] = [instructions(python, helper, mode, args.calls, args.warmup)]
            print(f"{mode}: {counts[mode][0]:,.0f} instructions per call", flush=True)
        title = f"instructions (callgrind, {args.calls} calls after {args.warmup} warm-up)"
        report(title, "instr", counts, client.references)
        return
    samples: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    for round_no in range(args.rounds):
        order = modes[round_no % len(modes) :] + modes[: round_no % len(modes)]
        for mode in order:
            samples[mode].append(run_mode(python, helper, mode, args.calls, args.warmup))
        print(
            f"round {round_no + 1} (cpu µs): " + "  ".join(f"{m} {samples[m][-1]['cpu_us']:.0f}" for m in modes),
            flush=True,
        )
    for clock, title in CLOCKS.items():
        values = {mode: [sample[clock] for sample in samples[mode]] for mode in modes}
        report(f"{title}, median of {args.rounds} rounds", "µs", values, client.references)


if __name__ == "__main__":
    main()
