"""`instrument()` in real processes: /metrics over HTTP, OTLP to a receiver, env vars, failure modes."""

from __future__ import annotations

import gzip
import http.server
import inspect
import threading
from collections import defaultdict
from collections.abc import Iterator

import pytest
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client.parser import text_string_to_metric_families

from otel_ai_incident import names
from processes import SUPPORT_BOT, clean_env, http_get, run_script, scratch_dir, support_bot

SCOPE_LABELS = {"otel_scope_name", "otel_scope_version", "otel_scope_schema_url"}
# opentelemetry-exporter-prometheus puts the instrumentation scope in those labels from 0.64b0 on.
SCOPE_IN_LABELS = "scope_info_enabled" in inspect.signature(PrometheusMetricReader.__init__).parameters
# The bot's traffic mix causes no internal errors, so that counter has no series.
NOT_IN_MIX = {names.INSTRUMENTATION_ERRORS.name}


def _samples(exposition: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    by_name: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            by_name[sample.name].append((sample.labels, sample.value))
    return by_name


def _value(samples: dict, name: str, **labels: str) -> float:
    matching = [v for lab, v in samples[name] if all(lab.get(k) == val for k, val in labels.items())]
    assert len(matching) == 1, f"{name}{labels}: {matching}"
    return matching[0]


def test_scrape_after_a_mixed_workload_has_every_metric_with_exact_counts() -> None:
    with support_bot("--turns", "300", "--seed", "3", "--reports", "4") as summary:
        exposition = http_get(summary["metrics_url"])
    kinds = defaultdict(int, summary["kinds"])
    samples = _samples(exposition)
    model = {"gen_ai_request_model": "fake-support-1"}

    for spec in names.METRICS:
        if spec.name in NOT_IN_MIX:
            continue
        series = spec.prometheus + ("_count" if spec.kind is names.InstrumentKind.HISTOGRAM else "")
        assert samples[series], f"{spec.prometheus} missing from /metrics"
        for labels, _ in samples[series]:
            label_names = set(labels) - SCOPE_LABELS - {"le"}
            optional = set(spec.conditional_labels)
            assert set(spec.labels) - optional <= label_names <= set(spec.labels), (spec.prometheus, labels)

    assert _value(samples, "ai_turns_total", outcome="ok", **model) == 300
    assert _value(samples, "ai_turns_total", outcome="error", **model) == 0
    injections, jailbreaks = kinds["injection"], kinds["jailbreak"]
    assert _value(samples, "ai_guardrail_decisions_total", guardrail="prompt_injection", decision="block") == injections
    assert _value(samples, "ai_guardrail_decisions_total", guardrail="toxicity", decision="block") == jailbreaks
    assert _value(samples, "ai_guardrail_decisions_total", guardrail="toxicity", decision="allow") == (
        300 - injections - jailbreaks
    )
    assert _value(samples, "ai_tool_calls_total", gen_ai_tool_name="get_order", outcome="ok") == (
        kinds["lookup"] + kinds["refund"]
    )
    assert _value(samples, "ai_tool_calls_total", gen_ai_tool_name="refund", outcome="ok") == kinds["refund"]
    assert _value(samples, "ai_refusals_total", **model) == kinds["refusal"]
    assert _value(samples, "ai_user_reports_total", kind="harmful", severity="p2") == 2
    assert _value(samples, "ai_user_reports_total", kind="harmful", severity="p3") == 2
    assert _value(samples, "ai_user_reports_total", kind="harmful", severity="p1") == 0
    pii_allowed = _value(samples, "ai_guardrail_decisions_total", guardrail="pii", decision="allow")
    assert pii_allowed == 300 - injections
    assert _value(samples, "ai_pii_detections_total", entity_type="EMAIL", action="redact") == 0
    scored = sum(v for lab, v in samples["ai_tool_call_anomaly_score_count"])
    assert scored == kinds["lookup"] + 2 * kinds["refund"]
    # One model call per turn, except where the input guardrail stopped the turn before the model was asked.
    assert _value(samples, "gen_ai_client_operation_duration_seconds_count", **model) == 300 - injections
    buckets = {lab["le"] for lab, _ in samples["gen_ai_client_operation_duration_seconds_bucket"]}
    assert buckets == {str(b) for b in names.DURATION_BUCKETS} | {"+Inf"}
    # Usage of model calls carries the response model; that of turns that never asked the model does not.
    output_usage = samples["gen_ai_client_token_usage_count"]
    assert (
        sum(v for lab, v in output_usage if lab["gen_ai_token_type"] == "output" and lab.items() >= model.items())
        == 300
    )

    for secret in ("customer", "example.com", "order arrive", "DAN", "system prompt", "Example Shop"):
        assert secret not in exposition


class _OtlpReceiver(http.server.ThreadingHTTPServer):
    """An OTLP/HTTP receiver that decodes what it gets with opentelemetry-proto."""

    def __init__(self) -> None:
        self.spans: list = []
        self.resources: list = []
        self.metric_names: set[str] = set()
        self.events: list[tuple[str, dict]] = []  # (event name, attributes) of the log records received
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _OtlpHandler)


class _OtlpHandler(http.server.BaseHTTPRequestHandler):
    server: _OtlpReceiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        with self.server.lock:
            if self.path == "/v1/traces":
                request = ExportTraceServiceRequest.FromString(body)
                for rs in request.resource_spans:
                    self.server.resources.append({a.key: a.value.string_value for a in rs.resource.attributes})
                    for ss in rs.scope_spans:
                        self.server.spans.extend(ss.spans)
            elif self.path == "/v1/metrics":
                request = ExportMetricsServiceRequest.FromString(body)
                for rm in request.resource_metrics:
                    for sm in rm.scope_metrics:
                        self.server.metric_names.update(m.name for m in sm.metrics)
            elif self.path == "/v1/logs":
                request = ExportLogsServiceRequest.FromString(body)
                for rl in request.resource_logs:
                    for sl in rl.scope_logs:
                        self.server.events.extend(
                            (r.event_name, {a.key: a.value.string_value for a in r.attributes}) for r in sl.log_records
                        )
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def otlp_receiver() -> Iterator[_OtlpReceiver]:
    server = _OtlpReceiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_otlp_export_configured_only_by_environment(otlp_receiver: _OtlpReceiver) -> None:
    import subprocess
    import sys

    port = otlp_receiver.server_address[1]
    env = clean_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}",
        OTEL_SERVICE_NAME="otlp-bot",
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment=test",
        OTEL_METRIC_EXPORT_INTERVAL="500",
    )
    done = subprocess.run(
        [sys.executable, str(SUPPORT_BOT), "--turns", "20", "--host", "127.0.0.1", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=scratch_dir(),
    )
    assert done.returncode == 0, done.stderr
    span_names = {s.name for s in otlp_receiver.spans}
    assert {"invoke_agent", "chat fake-support-1", "execute_tool get_order", "run_guardrail toxicity"} <= span_names
    assert otlp_receiver.resources[0]["service.name"] == "otlp-bot"
    assert otlp_receiver.resources[0]["deployment.environment"] == "test"
    turn = next(s for s in otlp_receiver.spans if s.name == "invoke_agent")
    attributes = {a.key for a in turn.attributes}
    assert {names.GEN_AI_REQUEST_MODEL, names.ENDUSER_PSEUDO_ID, names.AI_PROMPT_LOG_ID} <= attributes
    assert names.GEN_AI_INPUT_MESSAGES not in attributes
    expected = {spec.name for spec in names.METRICS} - NOT_IN_MIX
    assert expected <= otlp_receiver.metric_names
    # The bot's user reports arrive as gen_ai.evaluation.result events on the logs signal.
    evaluations = [attrs for name, attrs in otlp_receiver.events if name == names.EVENT_EVALUATION_RESULT]
    assert evaluations and all(e[names.GEN_AI_EVALUATION_NAME] == "user_feedback" for e in evaluations)


def test_sdk_disabled_gives_working_no_op_hooks() -> None:
    result = run_script(
        "import json, otel_ai_incident as aii\n"
        "h = aii.instrument(service_name='x')\n"
        "with aii.llm_turn(model='m', user_id='u') as t:\n"
        "    with t.tool_call('x'): pass\n"
        "    t.complete('ok', input_tokens=1, output_tokens=1)\n"
        "aii.report_user_feedback(kind='harmful', severity='p1')\n"
        "print(json.dumps({'address': h.prometheus_address, 'recording': t._span.is_recording()}))\n",
        clean_env(OTEL_SDK_DISABLED="true"),
    )
    assert result == {"address": None, "recording": False}


_LATENCY_SCRIPT = """
import json, time, otel_ai_incident as aii
h = aii.instrument(service_name='x', prometheus=False)
def run(n):
    start = time.perf_counter()
    for _ in range(n):
        with aii.llm_turn(model='m', user_id='u') as turn:
            turn.complete('x', input_tokens=1, output_tokens=1)
    return (time.perf_counter() - start) / n
run(300)
per_turn = min(run(1500) for _ in range(3))
start = time.perf_counter()
h.shutdown(timeout=2.0)
print(json.dumps({'per_turn': per_turn, 'shutdown': time.perf_counter() - start}))
"""


def test_dead_collector_neither_slows_turns_nor_blocks_shutdown(otlp_receiver: _OtlpReceiver) -> None:
    from conftest import free_port

    live = run_script(
        _LATENCY_SCRIPT, clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{otlp_receiver.server_address[1]}")
    )
    dead = run_script(_LATENCY_SCRIPT, clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{free_port()}"))
    assert dead["per_turn"] < 2 * live["per_turn"], (dead, live)
    assert dead["shutdown"] < 3.0, dead


def test_second_instrument_is_harmless_and_app_providers_are_kept() -> None:
    result = run_script(
        "import json\n"
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter\n"
        "exporter = InMemorySpanExporter()\n"
        "app_provider = TracerProvider()\n"
        "app_provider.add_span_processor(SimpleSpanProcessor(exporter))\n"
        "trace.set_tracer_provider(app_provider)\n"
        "import otel_ai_incident as aii\n"
        "first = aii.instrument(service_name='x', prometheus_host='127.0.0.1', prometheus_port=0)\n"
        "second = aii.instrument(service_name='y', prometheus_host='127.0.0.1', prometheus_port=0)\n"
        "with aii.llm_turn(model='m') as t:\n"
        "    t.complete('ok')\n"
        "print(json.dumps({'same': first is second, 'kept': trace.get_tracer_provider() is app_provider,\n"
        "                  'spans': [s.name for s in exporter.get_finished_spans()],\n"
        "                  'metrics': first.prometheus_address is not None}))\n",
        clean_env(),
    )
    assert result == {"same": True, "kept": True, "spans": ["invoke_agent"], "metrics": True}


def test_metrics_port_in_use_does_not_crash_the_app() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_script(
            "import json, otel_ai_incident as aii\n"
            f"h = aii.instrument(service_name='x', prometheus_host='127.0.0.1', prometheus_port={port})\n"
            "with aii.llm_turn(model='m') as t:\n"
            "    t.complete('ok')\n"
            "print(json.dumps({'address': h.prometheus_address}))\n",
            clean_env(),
        )
    assert result == {"address": None}


_GATE_SCRIPT = """
import json, sys, time, otel_ai_incident as aii
aii.instrument(service_name='x', prometheus=False, containment=sys.argv[1])
print('ready', flush=True)
sys.stdin.readline()  # the test applies the kill switch, then writes a line
applied = time.monotonic()
while True:
    try:
        with aii.llm_turn(model='m') as turn:
            turn.complete('ok')
    except aii.ContainmentActive as contained:
        print(json.dumps({'action': contained.action, 'seconds': time.monotonic() - applied}), flush=True)
        break
    time.sleep(0.01)
"""


def test_the_apps_gate_enforces_a_kill_switch_within_the_cache_period(tmp_path) -> None:
    import json
    import subprocess
    import sys

    from otel_ai_incident.containment.state import PlannedAction, SqliteContainmentState
    from otel_ai_incident.names import ContainmentActionName

    url = f"sqlite:///{tmp_path / 'containment.db'}"
    state = SqliteContainmentState.from_url(url)
    app = subprocess.Popen(
        [sys.executable, "-c", _GATE_SCRIPT, url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=clean_env(),
        cwd=tmp_path,
    )
    try:
        assert app.stdout.readline().strip() == "ready"
        state.apply(PlannedAction(ContainmentActionName.KILL_SWITCH, None, {}, None), actor="test", incident_id=None)
        app.stdin.write("go\n")
        app.stdin.flush()
        result = json.loads(app.stdout.readline())
    finally:
        app.kill()
        app.wait()
        state.close()
    assert result["action"] == "kill_switch"
    assert result["seconds"] < 1.5


@pytest.mark.parametrize(
    ("opt_in", "present", "absent"),
    [
        (
            names.SEMCONV_OPT_IN_LATEST,
            ("gen_ai_client_inference_duration_seconds_count", "gen_ai_client_inference_usage_output_tokens_total"),
            ("gen_ai_client_operation_duration_seconds_count", "gen_ai_client_token_usage_count"),
        ),
        (
            names.SEMCONV_OPT_IN_DUP,
            ("gen_ai_client_inference_duration_seconds_count", "gen_ai_client_operation_duration_seconds_count"),
            (),
        ),
    ],
)
def test_the_opt_in_renames_what_prometheus_scrapes(opt_in: str, present: tuple, absent: tuple) -> None:
    """A real scrape of an app started with OTEL_SEMCONV_STABILITY_OPT_IN: the names the generator then uses."""
    with support_bot("--turns", "40", "--seed", "5", env=clean_env(OTEL_SEMCONV_STABILITY_OPT_IN=opt_in)) as summary:
        samples = _samples(http_get(summary["metrics_url"]))
    for series in present:
        assert sum(value for _, value in samples[series]) > 0, series
    for series in absent:
        assert series not in samples, series
    if SCOPE_IN_LABELS:
        schema_urls = {labels["otel_scope_schema_url"] for labels, _ in samples["ai_turns_total"]}
        assert schema_urls == {names.LATEST_GENERATION.schema_url}
