"""Cost of serving the metrics of several worker processes (AII_METRICS_DIR): per worker, and per scrape.

1. write: the CPU one worker spends on its periodic write (collect its families, encode, write, rename), which
   it does once a second, so the CPU per write is the CPU per second. Timed in process CPU time.
2. scrape: the latency of GET /metrics on the example web app under `uvicorn --workers N` with AII_METRICS_DIR
   (the serving worker merges everyone's files), against one worker without it (today's single-process path),
   and the CPU the server's processes spent per scrape (the others' periodic writes meanwhile included).

    python benchmarks/worker_metrics.py write [--models 1] [--tools 2] [--writes 300]
    python benchmarks/worker_metrics.py scrape [--workers 4] [--turns 200] [--scrapes 200]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from otel_ai_incident import names  # noqa: E402
from otel_ai_incident.demo.services import free_port  # noqa: E402


def write_cost(models: int, tools: int, writes: int) -> dict[str, object]:
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from prometheus_client import CollectorRegistry

    from otel_ai_incident.telemetry.attributes import AttributeCache
    from otel_ai_incident.telemetry.instruments import Instruments
    from otel_ai_incident.telemetry.multiprocess import WorkerMetrics

    registry = CollectorRegistry(auto_describe=True)
    provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)])
    instruments = Instruments(provider.get_meter(names.INSTRUMENTATION_SCOPE))
    attributes = AttributeCache(instruments)
    for m in range(models):
        model = attributes.model(f"model-{m}", "openai")  # sees the model: its label sets start at zero
        instruments.turns.add(1, model.turns[names.TurnOutcome.OK.value])
        labels = attributes.inference(model, f"model-{m}-served", "api.example.test", 443)
        for metrics in instruments.inference:
            metrics.record(0.3, labels, None, (100, 100))
    for t in range(tools):
        instruments.see_tool(f"tool-{t}")
        instruments.tool_anomaly_score.record(0.1, {names.GEN_AI_TOOL_NAME: f"tool-{t}"})
    with tempfile.TemporaryDirectory() as directory:
        worker = WorkerMetrics(Path(directory), registry, "127.0.0.1", free_port(), interval=3600.0)
        families = worker._own_families()
        label_sets = {
            (f.name, tuple(sorted((k, v) for k, v in s.labels.items() if k != "le")))
            for f in families
            for s in f.samples
        }
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        for _ in range(writes):
            worker._own_families()
        cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
        size = worker.path.stat().st_size
    provider.shutdown()
    return {
        "label_sets": len(label_sets),
        "samples": sum(len(f.samples) for f in families),
        "file_bytes": size,
        "cpu_ms_per_write": round(cpu / writes * 1000, 3),
        "wall_ms_per_write": round(wall / writes * 1000, 3),
        "cpu_share_at_one_write_per_s": f"{cpu / writes:.2%}",
    }


def _post_turn(base_url: str, kind: str) -> None:
    request = urllib.request.Request(
        f"{base_url}/turns", data=json.dumps({"kind": kind}).encode(), headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request, timeout=10).read()


def _scrape_latency(workers: int, metrics_dir: str | None, turns: int, scrapes: int) -> dict[str, object]:
    app_port, metrics_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as scratch:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AII_", "PROMETHEUS_"))}
        env.update(
            OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1",
            OTEL_EXPORTER_PROMETHEUS_PORT=str(metrics_port),
            AII_PROMPT_LOG="off",
            AII_CONTAINMENT=f"sqlite:///{scratch}/containment.db",
            AII_PSEUDONYM_KEY="ab" * 32,
            PYTHONPATH=str(ROOT),
        )
        if metrics_dir is not None:
            env[names.ENV_METRICS_DIR] = os.path.join(scratch, metrics_dir)
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "support_bot_server:app",
                "--app-dir",
                str(ROOT / "examples"),
                "--workers",
                str(workers),
                "--host",
                "127.0.0.1",
                "--port",
                str(app_port),
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=scratch,
        )
        try:
            base_url, metrics_url = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{metrics_port}/metrics"
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(metrics_url, timeout=2).read()
                    urllib.request.urlopen(f"{base_url}/openapi.json", timeout=2).read()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            time.sleep(2)  # every worker up and written once
            kinds = ["leak", "chat", "lookup", "refund", "jailbreak"]
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda i: _post_turn(base_url, kinds[i % len(kinds)]), range(turns)))
            time.sleep(1.5)
            latencies, body = [], b""
            cpu_before = _server_cpu_s(server.pid)
            for _ in range(scrapes):
                start = time.perf_counter()
                body = urllib.request.urlopen(metrics_url, timeout=10).read()
                latencies.append((time.perf_counter() - start) * 1000)
            cpu_per_scrape_ms = (_server_cpu_s(server.pid) - cpu_before) / scrapes * 1000
            files = len(os.listdir(env[names.ENV_METRICS_DIR])) if metrics_dir is not None else 0
        finally:
            server.terminate()
            server.wait(timeout=30)
    latencies.sort()
    return {
        "workers": workers,
        "metrics_dir": metrics_dir is not None,
        "files": files,
        "bytes": len(body),
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(latencies[int(len(latencies) * 0.95)], 2),
        "server_cpu_ms_per_scrape": round(cpu_per_scrape_ms, 2),
    }


def _server_cpu_s(server: int) -> float:
    """CPU seconds (user + system) of the server and its worker processes, from /proc: whoever serves counts
    (with --workers 1 uvicorn serves in its own process)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if server in (int(stat.parent.name), int(fields[1])):  # after the command: state, ppid, ..., utime, stime
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("write")
    write.add_argument("--models", type=int, default=1)
    write.add_argument("--tools", type=int, default=2)
    write.add_argument("--writes", type=int, default=300)
    scrape = commands.add_parser("scrape")
    scrape.add_argument("--workers", type=int, default=4)
    scrape.add_argument("--turns", type=int, default=200)
    scrape.add_argument("--scrapes", type=int, default=200)
    args = parser.parse_args()
    if args.command == "write":
        print(json.dumps(write_cost(args.models, args.tools, args.writes)))
    else:
        print(json.dumps(_scrape_latency(args.workers, "metrics", args.turns, args.scrapes)))
        print(json.dumps(_scrape_latency(1, None, args.turns, args.scrapes)))


if __name__ == "__main__":
    main()
