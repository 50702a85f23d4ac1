"""One benchmark process: time a mocked OpenAI chat call under one mode, print µs per call as JSON.

Both wall-clock and process CPU time are reported: on a loaded machine the wall clock also measures waiting
for a core, while CPU time (all threads of the process, so background export work counts too) does not.

Run by benchmarks/vs_openllmetry.py, one process per mode and round, so no mode inherits another's patches,
providers or warm caches. The mock transport answers from memory: what is timed is the SDK plus the
instrumentation, no network. All instrumented modes get the same telemetry pipeline: spans through a
SimpleSpanProcessor into an in-memory exporter, and metrics aggregated by a reader that is not read while timing.

    python benchmarks/_openai_call.py {bare,sdk_floor,openllmetry,ours} [--calls 2000] [--warmup 300]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any

MODEL = "gpt-4o-mini"
MESSAGES = [
    {"role": "system", "content": "You are the support assistant of Example Shop."},
    {"role": "user", "content": "Hi, when will my order 12345 arrive? It has been a week."},
]
REPLY = json.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "content": "Your order 12345 left our warehouse yesterday and should arrive by Friday.",
                },
            }
        ],
        "usage": {"prompt_tokens": 42, "completion_tokens": 17, "total_tokens": 59},
    }
).encode()


def make_client() -> Any:
    import httpx2
    import openai

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=REPLY, headers={"content-type": "application/json"})

    return openai.OpenAI(
        api_key="bench",
        base_url="http://openai.bench/v1",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(answer)),
    )


def in_memory_providers() -> tuple[Any, Any]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    return tracer_provider, MeterProvider(metric_readers=[InMemoryMetricReader()])


def setup_openllmetry(instrument: str = "OPENAI") -> None:
    """Traceloop's auto-instrumentation of one client (OpenAI unless `instrument` names another of its
    `Instruments`): spans to memory, metrics to a reader that drops them.

    Content tracing is off, as in this project by default; its own telemetry is off; its endpoint is a dead
    local port, though nothing is sent there since both exporters are given.
    """
    os.environ["TRACELOOP_TELEMETRY"] = "false"
    os.environ["TRACELOOP_TRACE_CONTENT"] = "false"
    from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from traceloop.sdk import Traceloop
    from traceloop.sdk.instruments import Instruments

    class DropMetrics(MetricExporter):
        def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis: float = 10_000) -> bool:
            return True

        def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
            return None

    Traceloop.init(
        app_name="bench",
        api_endpoint="http://127.0.0.1:9",
        exporter=InMemorySpanExporter(),
        metrics_exporter=DropMetrics(),
        disable_batch=True,
        telemetry_enabled=False,
        instruments={Instruments[instrument]},
    )


def setup_sdk_floor() -> None:
    """The SDK floor (`install_sdk_floor`) around OpenAI's chat completions."""
    from openai.resources.chat.completions import Completions

    def read(reply: Any) -> tuple[int, int, str, str, tuple[str, ...]]:
        usage = reply.usage
        reasons = tuple(c.finish_reason for c in reply.choices)
        return usage.prompt_tokens, usage.completion_tokens, reply.model, reply.id, reasons

    install_sdk_floor(Completions, "openai", read)


def install_sdk_floor(
    owner: Any,
    provider: str,
    read: Callable[[Any], tuple[int, int, str, str, tuple[str, ...]]],
    attribute: str = "create",
    request_model: Callable[[dict[str, Any]], str] = itemgetter("model"),
) -> None:
    """The OpenTelemetry work the contract asks of one chat turn, and nothing else: the turn's `invoke_agent`
    span, the `chat {model}` span inside it with its request and usage attributes, the duration histogram
    (recorded while the chat span is current, as the hooks do) and the two token-usage records, labelled with
    the response model and server. No request or reply reading beyond that (`read(reply)` gives input and
    output tokens, response model and id, finish reasons), no gate, no prompt log. Whatever any
    instrumentation does on top of this is its own logic.

    Replaces `owner.<attribute>` (a method of a class or a function of a module, hence no `self` of its own);
    the request model is the call's `model` keyword unless `request_model(kwargs)` finds it elsewhere."""
    from opentelemetry import context, trace
    from opentelemetry.trace import SpanKind

    from otel_ai_incident import names

    tracer_provider, meter_provider = in_memory_providers()
    tracer = tracer_provider.get_tracer(names.INSTRUMENTATION_SCOPE)
    meter = meter_provider.get_meter(names.INSTRUMENTATION_SCOPE)
    duration_spec, tokens_spec = names.OPERATION_DURATION, names.TOKEN_USAGE
    duration = meter.create_histogram(
        duration_spec.name, unit=duration_spec.unit, explicit_bucket_boundaries_advisory=list(duration_spec.buckets)
    )
    tokens = meter.create_histogram(
        tokens_spec.name, unit=tokens_spec.unit, explicit_bucket_boundaries_advisory=list(tokens_spec.buckets)
    )
    original = getattr(owner, attribute)

    def create(*args: Any, **kwargs: Any) -> Any:
        model = request_model(kwargs)
        operation = {
            names.GEN_AI_OPERATION_NAME: names.OPERATION_CHAT,
            names.GEN_AI_PROVIDER_NAME: provider,
            names.GEN_AI_REQUEST_MODEL: model,
            names.SERVER_ADDRESS: "api.bench.test",
            names.SERVER_PORT: 443,
        }
        turn = tracer.start_span(
            names.OPERATION_INVOKE_AGENT,
            attributes={names.GEN_AI_OPERATION_NAME: names.OPERATION_INVOKE_AGENT, names.GEN_AI_REQUEST_MODEL: model},
        )
        turn_context = trace.set_span_in_context(turn)
        start = time.perf_counter()
        span = tracer.start_span(f"chat {model}", context=turn_context, kind=SpanKind.CLIENT, attributes=operation)
        token = context.attach(trace.set_span_in_context(span, turn_context))
        try:
            reply = original(*args, **kwargs)
            input_tokens, output_tokens, response_model, response_id, finish_reasons = read(reply)
            replied = {**operation, names.GEN_AI_RESPONSE_MODEL: response_model}
            tokens.record(input_tokens, {**replied, names.GEN_AI_TOKEN_TYPE: names.TOKEN_TYPE_INPUT})
            tokens.record(output_tokens, {**replied, names.GEN_AI_TOKEN_TYPE: names.TOKEN_TYPE_OUTPUT})
            span.set_attributes(
                {
                    names.GEN_AI_USAGE_INPUT_TOKENS: input_tokens,
                    names.GEN_AI_USAGE_OUTPUT_TOKENS: output_tokens,
                    names.GEN_AI_RESPONSE_ID: response_id,
                    names.GEN_AI_RESPONSE_MODEL: response_model,
                    names.GEN_AI_RESPONSE_FINISH_REASONS: finish_reasons,
                }
            )
            duration.record(time.perf_counter() - start, replied)
            return reply
        finally:
            span.end()
            context.detach(token)
            turn.end()

    setattr(owner, attribute, create)


def setup_ours(integration: str = "openai") -> None:
    """This project: instrument() on the app's in-memory providers, with one client's integration."""
    from opentelemetry import metrics, trace

    import otel_ai_incident as aii
    from otel_ai_incident import names

    state = tempfile.mkdtemp(prefix="aii-bench-")
    os.environ.setdefault(names.ENV_PROMPT_LOG, f"sqlite:///{state}/prompt_log.db")
    os.environ.setdefault(names.ENV_CONTAINMENT, f"sqlite:///{state}/containment.db")
    os.environ.setdefault(names.ENV_PSEUDONYM_KEY_FILE, f"{state}/pseudonym.key")
    tracer_provider, meter_provider = in_memory_providers()
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    aii.instrument(service_name="bench", prometheus=False, integrations=[integration])


SETUPS = {"bare": lambda: None, "sdk_floor": setup_sdk_floor, "openllmetry": setup_openllmetry, "ours": setup_ours}


def main() -> None:
    def make_call() -> Callable[[], Any]:
        create = make_client().chat.completions.create
        return lambda: create(model=MODEL, messages=MESSAGES)

    run(__doc__, SETUPS, make_call)


def run(doc: str | None, setups: Mapping[str, Callable[[], None]], make_call: Callable[[], Callable[[], Any]]) -> None:
    """The command line every client's helper shares: `MODE [--calls N] [--warmup N]`; sets the mode up, then
    times the call `make_call()` builds (after the set-up, which may have replaced the method it looks up) and
    prints the result as one JSON line."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=sorted(setups))
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300)
    args = parser.parse_args()
    setups[args.mode]()
    print(json.dumps(time_calls(args.mode, make_call(), args.calls, args.warmup)))


def time_calls(mode: str, call: Any, calls: int, warmup: int) -> dict[str, Any]:
    """µs per call of `call()` after `warmup` untimed calls, by the wall clock and by process CPU time.

    What imports, set-up and warm-up left on the heap is frozen first (`gc.freeze()`, as a server that forks
    its workers does): otherwise a full collection falling among the timed calls charges them for scanning
    every module's objects, at a moment set by how much each mode allocated before, not by what a call costs.
    """
    for _ in range(warmup):
        call()
    gc.collect()
    gc.freeze()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        call()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"mode": mode, "wall_us": wall / calls * 1e6, "cpu_us": cpu / calls * 1e6}


if __name__ == "__main__":
    main()
