"""A real multi-worker server of the example app (`uvicorn --workers 3`), scraped by a real Prometheus.

One target counts every worker's turns exactly, `ai_containment_active` is not multiplied by the number of
workers, and when the worker serving /metrics is killed another takes the port over without any counter
going backwards.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import time
from pathlib import Path

import pytest

from conftest import find_binary, free_port
from otel_ai_incident import names
from otel_ai_incident.containment.state import PlannedAction, SqliteContainmentState
from otel_ai_incident.demo.services import Prometheus
from otel_ai_incident.telemetry.merge import decode
from otel_ai_incident.telemetry.metrics_dir import WORKER_PREFIX
from processes import ROOT, clean_env, post_turn, support_bot_server, wait_until

pytestmark = pytest.mark.e2e

WORKERS = 3
JOB = "support-bot"
TAKEOVER_WITHIN_S = 5.0


def send(base_url: str, kinds: list[str]) -> set[int]:
    """Send the turns concurrently, so that they spread over the workers; the pids that answered."""
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return set(pool.map(lambda kind: post_turn(base_url, kind)["worker_pid"], kinds))


def children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def listening_pid(port: int, candidates: set[int]) -> int | None:
    """Which of `candidates` listens on 127.0.0.1:`port` (from /proc: the socket's inode among its fds)."""
    sockets = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
            sockets.add(f"socket:[{fields[9]}]")
    for pid in candidates:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                if os.readlink(fd) in sockets:
                    return pid
            except OSError:
                continue
    return None


def scalar(prometheus: Prometheus, expr: str) -> float | None:
    result = prometheus.query(expr)
    return float(result[0]["value"][1]) if result else None


def test_every_workers_turns_reach_prometheus_through_one_target(tmp_path: Path) -> None:
    find_binary("prometheus")
    containment = tmp_path / "containment.db"
    state = SqliteContainmentState(containment)
    state.apply(
        PlannedAction(names.ContainmentActionName.DISABLE_TOOL, target="refund"), actor="test", incident_id=None
    )
    state.close()
    metrics_dir, metrics_port = tmp_path / "metrics", free_port()
    env = clean_env(
        AII_METRICS_DIR=str(metrics_dir),
        OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1",
        OTEL_EXPORTER_PROMETHEUS_PORT=str(metrics_port),
        AII_CONTAINMENT=f"sqlite:///{containment}",
        AII_PROMPT_LOG="off",
        AII_PSEUDONYM_KEY="ab" * 32,
        PYTHONPATH=str(ROOT),
    )
    turns = ["leak"] * 6 + ["chat"] * 18 + ["lookup"] * 6
    more = ["leak"] * 3 + ["chat"] * 6

    with support_bot_server(env, tmp_path / "uvicorn.log", WORKERS) as (server, url), Prometheus() as prometheus:
        prometheus.start({JOB: [f"127.0.0.1:{metrics_port}"]})
        wait_until(lambda: len(list(metrics_dir.glob(f"{WORKER_PREFIX}*"))) == WORKERS, timeout=20)
        answered = send(url, turns)
        assert len(answered) >= 2, f"the turns all went to one worker ({answered}): nothing to merge"

        def total(metric: str = "ai_turns_total") -> float | None:
            return scalar(prometheus, f'sum({metric}{{job="{JOB}"}})')

        wait_until(lambda: total() == len(turns), timeout=10)
        leaks = f'ai_guardrail_decisions_total{{job="{JOB}",guardrail="pii",decision="redact"}}'
        assert scalar(prometheus, f"sum({leaks})") == turns.count("leak")
        assert scalar(prometheus, f'count(up{{job="{JOB}"}})') == 1
        # Every worker's gate reads the same containment state: one action in force, not one per worker.
        assert scalar(prometheus, f'sum(ai_containment_active{{job="{JOB}",action="disable_tool"}})') == 1

        workers = children(server.pid)
        serving = listening_pid(metrics_port, workers)
        assert serving is not None
        os.kill(serving, signal.SIGKILL)
        killed_at = time.monotonic()
        successor = wait_until(lambda: listening_pid(metrics_port, children(server.pid) - {serving}), timeout=10)
        takeover_s = time.monotonic() - killed_at
        assert takeover_s < TAKEOVER_WITHIN_S, takeover_s
        after_kill = time.time()
        last_scrape = f'timestamp(up{{job="{JOB}"}} == 1)'
        wait_until(lambda: (scalar(prometheus, last_scrape) or 0) > after_kill, timeout=10)
        assert total() == len(turns)  # the killed worker's counts stay

        send(url, more)
        wait_until(lambda: total() == len(turns) + len(more), timeout=10)
        assert scalar(prometheus, f"sum({leaks})") == turns.count("leak") + more.count("leak")
        for counter in (
            "ai_turns_total",
            "ai_guardrail_decisions_total",
            "gen_ai_client_operation_duration_seconds_count",
        ):
            assert scalar(prometheus, f'sum(resets({counter}{{job="{JOB}"}}[5m]))') == 0, counter
        assert scalar(prometheus, f'sum(ai_containment_active{{job="{JOB}",action="disable_tool"}})') == 1
        print(f"serving worker {serving} killed; worker {successor} served /metrics {takeover_s:.2f}s later")

    finals = [decode(p.read_bytes()) for p in metrics_dir.glob(f"{WORKER_PREFIX}*")]
    assert sum(s.final for s in finals) >= WORKERS, "workers stopped by SIGTERM leave a final file"
