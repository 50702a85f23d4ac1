"""What an instrumented LLM turn costs, against the OpenTelemetry SDK floor measured in the same run.

Four ways of doing the same turn (an input guardrail decision, one model call with token usage, one tool
call, an output guardrail decision, the completion), each as two spans: the turn, and the model call in it:
  bare   no telemetry at all;
  floor  the same spans, attributes and metric records written by hand against the SDK (the least any
         library can do for this telemetry);
  hooks  the hooks of otel_ai_incident as `instrument()` sets them up, without the prompt log: spans,
         metrics, the pseudonymised user, the gate (on a SQLite containment state, nothing contained) and
         the tool-argument anomaly scorer;
  full   the same with the prompt log on (SQLite in a temporary directory). Its writer thread inserts the
         entries in the background; a round of `full` ends when the writer has written them all (`flush`),
         so the writer's CPU (under the GIL) is charged to the turns that caused it, as in a CPU-bound app.
All use the providers `instrument()` installs, with a batch span processor and an exporter that drops added,
as in an app exporting its spans.

    python benchmarks/overhead.py [--turns 20000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import otel_ai_incident as aii
from otel_ai_incident import names
from otel_ai_incident.promptlog.pseudonym import Pseudonymizer
from otel_ai_incident.telemetry import hooks
from otel_ai_incident.telemetry.instruments import Instruments

SYSTEM = "You are the support assistant of Example Shop." * 4
MESSAGE = "Hi, when will my order 12345 arrive? It has been a week."
REPLY = "Your order 12345 left our warehouse yesterday and should arrive by Friday."
MODEL = "gpt-4o-mini"


class DropExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def bare_turn() -> str:
    guard_in = 0.02 < 0.8
    tool_result = {"id": 42}
    guard_out = 0.01 < 0.8
    return REPLY if guard_in and guard_out and tool_result else ""


def make_floor(tracer: trace.Tracer, meter: metrics.Meter, pseudonymizer: Pseudonymizer) -> Callable[[], str]:
    """The same telemetry written directly against the SDK: the floor no library can go under."""
    inst = Instruments(meter)  # the counters, summed as the hooks sum them
    duration = meter.create_histogram(names.OPERATION_DURATION.name, unit="s")
    token_usage = meter.create_histogram(names.TOKEN_USAGE.name, unit="{token}")
    prompt_hash = hashlib.sha256(SYSTEM.encode()).hexdigest()
    op = {names.GEN_AI_OPERATION_NAME: "chat", names.GEN_AI_PROVIDER_NAME: "openai", names.GEN_AI_REQUEST_MODEL: MODEL}
    replied = {**op, names.GEN_AI_RESPONSE_MODEL: MODEL}
    guardrail_names = names.GUARDRAIL_PR_427

    def guardrail(ctx: otel_context.Context, name: str, stage: str, target: str, score: float) -> None:
        inst.guardrail_decisions.add(1, {names.GUARDRAIL: name, names.STAGE: stage, names.DECISION: "allow"})
        tracer.start_span(
            f"run_guardrail {name}",
            context=ctx,
            attributes={
                names.GEN_AI_OPERATION_NAME: "run_guardrail",
                guardrail_names.component: name,
                guardrail_names.target_type: target,
                guardrail_names.target_subtype: "llm",
                guardrail_names.verdict: "allow",
                guardrail_names.action: "allow",
                guardrail_names.score: score,
            },
        ).end()

    def turn() -> str:
        span = tracer.start_span(
            "invoke_agent",
            attributes={
                names.GEN_AI_OPERATION_NAME: "invoke_agent",
                names.GEN_AI_REQUEST_MODEL: MODEL,
                names.GEN_AI_CONVERSATION_ID: "sess-1",
                names.ENDUSER_PSEUDO_ID: pseudonymizer.pseudonymize("u1"),
                names.AI_SYSTEM_PROMPT_HASH: prompt_hash,
                names.AI_PROMPT_LOG_ID: "0190f0e1a2b3c4d5e6f7a8b9",
            },
        )
        ctx = trace.set_span_in_context(span)
        token = otel_context.attach(ctx)
        guardrail(ctx, "prompt_injection", "input", "input", 0.02)
        start = time.perf_counter()
        chat = tracer.start_span(
            f"chat {MODEL}",
            context=ctx,
            kind=trace.SpanKind.CLIENT,
            attributes={**op, names.GEN_AI_CONVERSATION_ID: "sess-1"},
        )
        chat_token = otel_context.attach(trace.set_span_in_context(chat, ctx))
        chat.set_attributes(
            {
                names.GEN_AI_RESPONSE_MODEL: MODEL,
                names.GEN_AI_USAGE_INPUT_TOKENS: 42,
                names.GEN_AI_USAGE_OUTPUT_TOKENS: 17,
            }
        )
        duration.record(time.perf_counter() - start, replied)
        token_usage.record(42, {**replied, names.GEN_AI_TOKEN_TYPE: "input"})
        token_usage.record(17, {**replied, names.GEN_AI_TOKEN_TYPE: "output"})
        chat.end()
        otel_context.detach(chat_token)
        inst.tool_anomaly_score.record(0.02, {names.GEN_AI_TOOL_NAME: "get_order"})
        tool = tracer.start_span(
            "execute_tool get_order",
            context=ctx,
            attributes={
                names.GEN_AI_OPERATION_NAME: "execute_tool",
                names.GEN_AI_TOOL_NAME: "get_order",
                names.AI_TOOL_WRITES: False,
                names.AI_TOOL_ANOMALY_SCORE: 0.02,
            },
        )
        tool_token = otel_context.attach(trace.set_span_in_context(tool, ctx))
        inst.tool_calls.add(1, {names.GEN_AI_TOOL_NAME: "get_order", names.OUTCOME: "ok"})
        tool.end()
        otel_context.detach(tool_token)
        guardrail(ctx, "toxicity", "output", "output", 0.01)
        span.set_attribute(names.GEN_AI_USAGE_INPUT_TOKENS, 42)
        span.set_attribute(names.GEN_AI_USAGE_OUTPUT_TOKENS, 17)
        inst.turns.add(1, {names.GEN_AI_REQUEST_MODEL: MODEL, names.OUTCOME: "ok"})
        span.end()
        otel_context.detach(token)
        return REPLY

    return turn


REPLY_USAGE = aii.ModelReply(response_model=MODEL, input_tokens=42, output_tokens=17)


def full_turn() -> str:
    with aii.llm_turn(
        model=MODEL, user_id="u1", session_id="sess-1", system_prompt=SYSTEM, user_message=MESSAGE, provider="openai"
    ) as turn:
        turn.guardrail("prompt_injection", stage="input", decision="allow", score=0.02)
        with turn.model_call() as call:
            call.reply(REPLY_USAGE)
        with turn.tool_call("get_order", {"order_id": 12345}):
            pass
        turn.guardrail("toxicity", stage="output", decision="allow", score=0.01)
        turn.complete(REPLY)
    return REPLY


def per_call_us(fn: Callable[[], object], n: int, then: Callable[[], object]) -> float:
    start = time.perf_counter_ns()
    for _ in range(n):
        fn()
    then()
    return (time.perf_counter_ns() - start) / n / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="aii-bench-"))
    os.environ.setdefault(names.ENV_PSEUDONYM_KEY_FILE, str(workdir / "pseudonym.key"))
    handle = aii.instrument(
        service_name="benchmark",
        prometheus=False,
        containment=f"sqlite:///{workdir / 'containment.db'}",
        prompt_log=f"sqlite:///{workdir / 'prompt_log.db'}",
    )
    tracer_provider = trace.get_tracer_provider()
    tracer_provider.add_span_processor(BatchSpanProcessor(DropExporter(), max_queue_size=65536))
    tracer = tracer_provider.get_tracer("floor")
    floor_meter = metrics.get_meter_provider().get_meter("floor")
    pseudonymizer = Pseudonymizer(b"benchmark-key-0123456789abcdef")
    full_runtime = hooks.get_runtime()
    hooks_runtime = copy.copy(full_runtime)
    hooks_runtime.prompt_log = None

    def nothing() -> None:
        return None

    def written() -> None:
        full_runtime.prompt_log.flush()

    modes = {
        "bare": (None, bare_turn, nothing),
        "floor": (None, make_floor(tracer, floor_meter, pseudonymizer), nothing),
        "hooks": (hooks_runtime, full_turn, nothing),
        "full": (full_runtime, full_turn, written),
    }
    results: dict[str, list[float]] = {mode: [] for mode in modes}
    for runtime, fn, then in modes.values():
        hooks.set_runtime(runtime)
        per_call_us(fn, 2000, then)  # warm caches and first-sight series
    for _ in range(args.rounds):  # alternate so drift hits every mode alike
        for mode, (runtime, fn, then) in modes.items():
            hooks.set_runtime(runtime)
            results[mode].append(per_call_us(fn, args.turns, then))
    hooks.set_runtime(full_runtime)
    handle.shutdown()
    shutil.rmtree(workdir, ignore_errors=True)

    medians = {mode: statistics.median(values) for mode, values in results.items()}
    print(f"{'mode':<6} {'µs/turn (median of rounds)':>28} {'min':>8} {'max':>8}")
    for mode, values in results.items():
        print(f"{mode:<6} {medians[mode]:>28.2f} {min(values):>8.2f} {max(values):>8.2f}")
    print(f"hooks / floor = {medians['hooks'] / medians['floor']:.3f}   (goal <= 1.30)")
    print(f"full / floor = {medians['full'] / medians['floor']:.3f}   (prompt log included)")
    print(
        f"added by full over bare: {medians['full'] - medians['bare']:.1f} µs per turn; the prompt log's share: "
        f"{medians['full'] - medians['hooks']:.1f} µs"
    )


if __name__ == "__main__":
    main()
