"""Metrics of several worker processes on one /metrics endpoint: merge, takeover, archive, faults.

Workers here are real OpenTelemetry pipelines (a meter provider, the contract instruments, the Prometheus
reader) sharing a directory and a port, several in one test process; the end-to-end test with a real
multi-worker server and a real Prometheus is test_worker_metrics_e2e.py.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from otel_ai_incident import names
from otel_ai_incident.telemetry import metrics_dir as shared
from otel_ai_incident.telemetry.instruments import Instruments
from otel_ai_incident.telemetry.merge import Snapshot, decode, encode, merge
from otel_ai_incident.telemetry.metrics_dir import ARCHIVE, metrics_dir
from otel_ai_incident.telemetry.multiprocess import WorkerMetrics
from processes import clean_env, http_get, run_script, wait_until

MODEL = "m"
KILL_SWITCH = {names.ACTION: names.ContainmentActionName.KILL_SWITCH.value}


def record_duration(instruments: Instruments, seconds: float) -> None:
    """One model call of `seconds` on the duration histogram, as the hooks record it (no tokens)."""
    labels = SimpleNamespace(base={names.GEN_AI_REQUEST_MODEL: MODEL}, input_tokens={}, output_tokens={})
    for inference in instruments.inference:
        inference.record(seconds, labels, None, (None, None))


@dataclass
class Worker:
    """One worker's metrics pipeline and its part in serving everyone's."""

    provider: MeterProvider
    instruments: Instruments
    metrics: WorkerMetrics
    errors: list[int]

    def turns(self, count: int, outcome: str = "ok") -> None:
        for _ in range(count):
            self.instruments.turns.add(1, {names.GEN_AI_REQUEST_MODEL: MODEL, names.OUTCOME: outcome})
            record_duration(self.instruments, 0.05)

    def close(self) -> None:
        self.metrics.close()
        self.provider.shutdown()


class Workers:
    """Workers sharing one directory and one port, each closed at the end of the test."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory, self.port = directory, port
        self.started: list[Worker] = []

    def start(self, directory: Path | None = None, interval: float = 0.05) -> Worker:
        registry = CollectorRegistry(auto_describe=True)
        resource = Resource.create({"service.instance.id": f"worker-{len(self.started)}"})  # one per process
        provider = MeterProvider(resource=resource, metric_readers=[PrometheusMetricReader(registry=registry)])
        instruments = Instruments(provider.get_meter(names.INSTRUMENTATION_SCOPE))
        errors: list[int] = []
        metrics = WorkerMetrics(directory or self.directory, registry, "127.0.0.1", self.port, interval=interval)
        metrics.count_errors_with(lambda: errors.append(1))
        metrics.start()
        self.started.append(Worker(provider, instruments, metrics, errors))
        return self.started[-1]


@pytest.fixture
def workers(tmp_path: Path, port: int) -> Iterator[Workers]:
    pool = Workers(tmp_path / "metrics", port)
    yield pool
    for worker in pool.started:
        worker.close()


def scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    by_name: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(http_get(f"http://127.0.0.1:{port}/metrics")):
        for sample in family.samples:
            by_name.setdefault(sample.name, []).append((sample.labels, sample.value))
    return by_name


def value(samples: dict, name: str, **labels: str) -> float:
    matching = [v for found, v in samples.get(name, []) if all(found.get(k) == w for k, w in labels.items())]
    assert len(matching) == 1, (name, labels, matching)
    return matching[0]


def ok_turns(port: int) -> float:
    return value(scrape(port), "ai_turns_total", outcome="ok")


# -- merge ----------------------------------------------------------------------------------------------


def test_merge_adds_counters_and_histograms_and_takes_the_largest_gauge(workers: Workers) -> None:
    a, b = workers.start(), workers.start()
    a.turns(3)
    b.turns(4, outcome="error")
    for worker in (a, b):
        worker.instruments.containment_active.add(1, KILL_SWITCH)
    record_duration(b.instruments, 100.0)  # above every bucket

    families = merge([a.metrics._registry.collect(), b.metrics._registry.collect()])
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}

    def get(name: str, **labels: str) -> float:
        (found,) = [v for (n, lab), v in samples.items() if n == name and labels.items() <= dict(lab).items()]
        return found

    assert get("ai_turns_total", outcome="ok") == 3 and get("ai_turns_total", outcome="error") == 4
    assert get("ai_containment_active", action="kill_switch") == 1  # the same state seen twice, not 2
    assert get("gen_ai_client_operation_duration_seconds_count") == 8
    assert get("gen_ai_client_operation_duration_seconds_bucket", le="0.08") == 7  # cumulative, summed
    assert get("gen_ai_client_operation_duration_seconds_bucket", le="+Inf") == 8
    assert get("gen_ai_client_operation_duration_seconds_sum") == pytest.approx(7 * 0.05 + 100.0)
    target_info = [f for f in families if f.type == "info"]
    assert [s.labels["service_instance_id"] for s in target_info[0].samples] == ["worker-0"]  # the first source's


def test_a_histograms_samples_stay_together_after_a_merge() -> None:
    """The exposition formats want one label set's buckets, sum and count next to each other."""
    from prometheus_client.core import HistogramMetricFamily

    first, second = HistogramMetricFamily("h", "", labels=["k"]), HistogramMetricFamily("h", "", labels=["k"])
    first.add_metric(["a"], buckets=[("1", 1), ("+Inf", 2)], sum_value=3)
    second.add_metric(["b"], buckets=[("1", 0), ("+Inf", 1)], sum_value=5)
    second.add_metric(["a"], buckets=[("1", 1), ("+Inf", 1)], sum_value=1)
    (merged,) = merge([[first], [second]])
    order = [(s.labels["k"], s.name, s.labels.get("le"), s.value) for s in merged.samples]
    assert order == [
        ("a", "h_bucket", "1", 2),
        ("a", "h_bucket", "+Inf", 3),
        ("a", "h_count", None, 3),
        ("a", "h_sum", None, 4),
        ("b", "h_bucket", "1", 0),
        ("b", "h_bucket", "+Inf", 1),
        ("b", "h_count", None, 1),
        ("b", "h_sum", None, 5),
    ]


def test_snapshots_round_trip_exactly_and_anything_else_is_refused(workers: Workers) -> None:
    worker = workers.start()
    record_duration(worker.instruments, 0.1 + 0.2)
    families = list(worker.metrics._registry.collect())
    decoded = decode(encode(Snapshot(families, pid=42, final=True, folded={"x": 1.5})))
    assert decoded.families == families and (decoded.pid, decoded.final, decoded.folded) == (42, True, {"x": 1.5})
    for garbage in (
        b"",
        b"\x00\xff",
        b"[]",
        b'{"version": 1}',
        json.dumps({"version": 99}).encode(),
        encode(Snapshot([])).replace(b'"families":[]', b'"families":[{"name":"bad name"}]'),
    ):
        with pytest.raises(ValueError):
            decode(garbage)


# -- one endpoint for every worker ----------------------------------------------------------------------


def test_one_worker_serves_everyones_metrics_and_another_takes_over(workers: Workers, port: int) -> None:
    a, b = workers.start(), workers.start()
    assert a.metrics.address == ("127.0.0.1", port) and b.metrics.address is None
    a.turns(3)
    b.turns(4)
    a.instruments.containment_active.add(1, KILL_SWITCH)
    b.instruments.containment_active.add(1, KILL_SWITCH)
    wait_until(lambda: ok_turns(port) == 7, timeout=5)  # b's count arrives through its file
    assert value(scrape(port), "ai_containment_active", action="kill_switch") == 1

    b.instruments.containment_active.add(-1, KILL_SWITCH)  # lifted: b saw it first
    a.close()  # a's final file holds its counts, and no gauge: a sees no state any more
    wait_until(lambda: b.metrics.address == ("127.0.0.1", port), timeout=5)
    samples = scrape(port)
    assert value(samples, "ai_turns_total", outcome="ok") == 7
    assert value(samples, "ai_containment_active", action="kill_switch") == 0


def test_what_was_served_survives_the_serving_worker(workers: Workers, port: int) -> None:
    """The serving worker writes its file before it answers, so a worker killed outright takes nothing back."""
    a = workers.start(interval=3600.0)  # no periodic write: only the scrape writes
    a.turns(5)
    assert ok_turns(port) == 5
    on_disk = decode(a.metrics.path.read_bytes())
    assert [s.value for f in on_disk.families for s in f.samples if s.labels.get("outcome") == "ok"] == [5]


def test_workers_that_left_are_folded_into_the_archive_and_counted_once(
    workers: Workers, port: int, tmp_path: Path
) -> None:
    a, b = workers.start(interval=3600.0), workers.start()  # a folds only when told to
    b.turns(4)
    a.turns(1)
    b.close()
    directory = a.metrics.path.parent
    left_file, saved = b.metrics.path, tmp_path / "saved.json"
    shutil.copy(left_file, saved)
    assert decode(left_file.read_bytes()).final

    killed = subprocess.Popen(["true"])  # a worker that died without a word, long ago
    killed.wait()
    silent = directory / f"{shared.WORKER_PREFIX}{killed.pid}-0000beef.json"
    silent.write_bytes(encode(Snapshot(decode(saved.read_bytes()).families, pid=killed.pid)))
    long_ago = time.time() - shared.DEAD_AFTER - 1
    os.utime(silent, (long_ago, long_ago))
    assert ok_turns(port) == 9

    a.metrics._dir.fold(a.metrics.path)
    assert not left_file.exists() and not silent.exists()
    archive = decode((directory / ARCHIVE).read_bytes())
    assert set(archive.folded) == {left_file.name, silent.name}
    assert ok_turns(port) == 9

    shutil.copy(saved, left_file)  # as if the folder died between writing the archive and deleting the file
    assert ok_turns(port) == 9
    a.metrics._dir.fold(a.metrics.path)
    assert not left_file.exists() and ok_turns(port) == 9


# -- faults ---------------------------------------------------------------------------------------------


def test_a_corrupt_sibling_file_is_counted_logged_once_and_skipped(
    workers: Workers, port: int, caplog: pytest.LogCaptureFixture
) -> None:
    a = workers.start()
    a.turns(2)
    (a.metrics.path.parent / f"{shared.WORKER_PREFIX}1-deadbeef.json").write_bytes(b'{"version": 1, "fam')
    with caplog.at_level(logging.WARNING, logger="otel_ai_incident"):
        assert ok_turns(port) == 2
        assert ok_turns(port) == 2
    assert len(a.errors) >= 2
    assert len([r for r in caplog.records if "unreadable metrics file" in r.getMessage()]) == 1


def test_an_unusable_directory_is_counted_and_the_worker_still_serves_its_own(
    workers: Workers, port: int, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    with caplog.at_level(logging.WARNING, logger="otel_ai_incident"):
        a = workers.start(not_a_directory / "metrics")
        a.turns(3)
        assert ok_turns(port) == 3
        wait_until(lambda: len(a.errors) >= 3, timeout=5)
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1, caplog.records


# -- wiring ---------------------------------------------------------------------------------------------


def test_the_directory_comes_from_our_variable_first_then_prometheus_clients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(names.ENV_METRICS_DIR, raising=False)
    monkeypatch.delenv(names.ENV_PROMETHEUS_MULTIPROC_DIR, raising=False)
    assert metrics_dir() is None
    monkeypatch.setenv(names.ENV_PROMETHEUS_MULTIPROC_DIR, "/a")
    assert metrics_dir() == Path("/a")
    monkeypatch.setenv(names.ENV_METRICS_DIR, "/b")
    assert metrics_dir() == Path("/b")


_FORKED_WORKERS = """
import json, os, otel_ai_incident as aii
from otel_ai_incident.demo.bot import Request, SupportBot
from otel_ai_incident.telemetry.merge import decode
from processes import http_get
handle = aii.instrument(service_name='x')
children = []
for turns in (2, 3):  # gunicorn --preload: the app, instrumented once, forked into workers
    pid = os.fork()
    if pid == 0:
        for i in range(turns):
            SupportBot().handle(Request('u', 's', 'leak' if i == 0 else 'chat', 1))
        raise SystemExit(0)  # atexit writes the worker's final file
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
SupportBot().handle(Request('u', 's', 'chat', 1))
directory = os.environ['AII_METRICS_DIR']
print(json.dumps({
    'metrics': http_get('http://127.0.0.1:%s/metrics' % os.environ['OTEL_EXPORTER_PROMETHEUS_PORT']),
    'final': sorted(decode(open(os.path.join(directory, f), 'rb').read()).final for f in os.listdir(directory)
                    if f.startswith('aii-worker-')),
}))
"""


def test_workers_forked_from_an_instrumented_app_are_counted(tmp_path: Path, port: int) -> None:
    env = clean_env(
        AII_METRICS_DIR=str(tmp_path / "metrics"),
        OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1",
        OTEL_EXPORTER_PROMETHEUS_PORT=str(port),
        AII_PROMPT_LOG="off",
        AII_CONTAINMENT=f"sqlite:///{tmp_path / 'containment.db'}",
        AII_PSEUDONYM_KEY="ab" * 32,
        PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]),
    )
    result = run_script(_FORKED_WORKERS, env)
    families = {f.name: f for f in text_string_to_metric_families(result["metrics"])}
    ok = [s.value for s in families["ai_turns"].samples if s.labels["outcome"] == "ok"]
    redacted = [
        s.value
        for s in families["ai_guardrail_decisions"].samples
        if s.labels["guardrail"] == "pii" and s.labels["decision"] == "redact"
    ]
    assert ok == [6] and redacted == [2]
    assert result["final"] == [False, True, True]  # the serving parent's file, and each child's last one
