"""The receiver keeps its queues bounded: finished work older than the keep period is deleted at start and
then at most once per period, a long backlog a batch at a time across rounds, and a prune that fails is
counted and leaves the receiver working and healthy. Driven through the `Pruner` on an injected clock, a
receiver app on a real socket, and `otel-ai-incident serve` itself."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from conftest import free_port
from otel_ai_incident import names
from otel_ai_incident.containment.state import open_containment_state
from otel_ai_incident.demo.services import Receiver
from otel_ai_incident.incidents.sql_store import open_incident_store
from otel_ai_incident.incidents.store import IncidentStore
from otel_ai_incident.names import PrunedQueue
from otel_ai_incident.server.app import create_app
from otel_ai_incident.server.inbox.sql_store import open_inbox
from otel_ai_incident.server.inbox.store import InboxStore
from otel_ai_incident.server.metrics import ReceiverMetrics
from otel_ai_incident.server.prune import BATCH, Pruner, PruneSchedule
from processes import clean_env, scratch_dir
from test_server import notification, wait_for

HOUR = 3600.0


def _metric(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


def _pruned(metrics: ReceiverMetrics, name: str, queue: PrunedQueue) -> float:
    return metrics.registry.get_sample_value(name, {names.QUEUE: queue.value}) or 0.0


def _finished(inbox: InboxStore, count: int) -> None:
    inbox.add([(f"n{i}", float(i)) for i in range(count)])
    for stored in inbox.claim("r", limit=count, lease_s=60, now=time.time()):
        inbox.finish(stored.id)


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[str, InboxStore, IncidentStore]]:
    url = f"sqlite:///{tmp_path / 'receiver.db'}"
    inbox, incidents = open_inbox(url), open_incident_store(url)
    yield url, inbox, incidents
    inbox.close()
    incidents.close()


def test_a_run_is_due_at_start_then_once_a_period_and_a_backlog_goes_on_next_round(stores) -> None:
    url, inbox, incidents = stores
    metrics = ReceiverMetrics(open_containment_state(url), inbox, incidents)
    _finished(inbox, 2 * BATCH + 100)
    inbox.add([("pending", 1.0)])
    now = [time.time() + 30]
    pruner = Pruner(
        PrunedQueue.INBOX,
        inbox.prune,
        metrics,
        PruneSchedule(keep_s=60, every_s=HOUR),
        clock=lambda: now[0],
        budget_s=0,
    )
    assert pruner.run_if_due() == 0  # at start: nothing finished 60 s ago yet
    now[0] += 40
    assert pruner.run_if_due() == 0  # old enough now, but the next run is an hour away
    assert inbox.count(pending=False) == 2 * BATCH + 100
    now[0] += HOUR
    assert [pruner.run_if_due() for _ in range(4)] == [BATCH, BATCH, 100, 0]  # one batch a round, then done
    assert inbox.count(pending=False) == 0 and inbox.count(pending=True) == 1
    assert _pruned(metrics, "aii_pruned_rows_total", PrunedQueue.INBOX) == 2 * BATCH + 100


def test_a_failing_run_is_counted_and_tried_again_at_the_next_run(stores, caplog: pytest.LogCaptureFixture) -> None:
    url, inbox, incidents = stores
    metrics = ReceiverMetrics(open_containment_state(url), inbox, incidents)
    _finished(inbox, 3)
    calls = []

    def failing_once(finished_before: float, *, limit: int) -> int:
        calls.append(finished_before)
        if len(calls) == 1:
            raise OSError("disk I/O error")
        return inbox.prune(finished_before, limit=limit)

    now = [time.time() + 10]
    pruner = Pruner(
        PrunedQueue.INBOX, failing_once, metrics, PruneSchedule(keep_s=1, every_s=HOUR), clock=lambda: now[0]
    )
    assert pruner.run_if_due() == 0 and "pruning the inbox failed" in caplog.text
    assert _pruned(metrics, "aii_prune_errors_total", PrunedQueue.INBOX) == 1
    assert pruner.run_if_due() == 0 and len(calls) == 1  # not again before the period is over
    now[0] += HOUR
    assert pruner.run_if_due() == 3 and inbox.count(pending=False) == 0


@contextmanager
def _receiver(url: str, inbox: InboxStore, incidents: IncidentStore, pruning: PruneSchedule) -> Iterator[str]:
    app = create_app(
        state=open_containment_state(url), incidents=incidents, inbox=inbox, credentials=None, pruning=pruning
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _post_and_settle(base: str, inbox: InboxStore, incidents: IncidentStore, count: int) -> None:
    opened = len(incidents.list())
    for _ in range(count):
        assert httpx.post(f"{base}/alertmanager", json=notification(), timeout=10).status_code == 200
    wait_for(lambda: len(incidents.list()) == opened + count and inbox.count(pending=True) == 0)


def _scraped(base: str, name: str, queue: PrunedQueue) -> Callable[[], float]:
    return lambda: _metric(httpx.get(f"{base}/metrics", timeout=10).text, name, queue=queue.value) or 0.0


def _rows(path: Path, table: str) -> int:
    """Rows left in a table of the receiver's SQLite file (read beside the running receiver)."""
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_the_receiver_prunes_what_its_worker_and_notifier_finished(stores, tmp_path: Path) -> None:
    url, inbox, incidents = stores
    with _receiver(url, inbox, incidents, PruneSchedule(keep_s=2.0, every_s=0.2)) as base:
        _post_and_settle(base, inbox, incidents, 3)
        assert _rows(tmp_path / "receiver.db", "outbox") >= 3  # an `opened` update per incident at least
        inbox_pruned = _scraped(base, "aii_pruned_rows_total", PrunedQueue.INBOX)
        outbox_pruned = _scraped(base, "aii_pruned_rows_total", PrunedQueue.OUTBOX)
        wait_for(lambda: all(_rows(tmp_path / "receiver.db", t) == 0 for t in ("notifications", "outbox")))
        wait_for(lambda: inbox_pruned() == 3 and outbox_pruned() >= 3)
        assert _rows(tmp_path / "receiver.db", "deliveries") == 0 and incidents.notification_backlog() == (0, None)
        assert all(incidents.get(i.id).timeline for i in incidents.list())  # incidents and timelines are kept
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200


def test_a_failing_prune_leaves_the_receiver_working_and_healthy(
    stores, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    url, inbox, incidents = stores

    def broken(finished_before: float, *, limit: int) -> int:
        raise OSError("database disk image is malformed")

    monkeypatch.setattr(inbox, "prune", broken)
    monkeypatch.setattr(incidents, "prune_notifications", broken)
    with _receiver(url, inbox, incidents, PruneSchedule(keep_s=0.1, every_s=0.2)) as base:
        _post_and_settle(base, inbox, incidents, 2)
        for queue in PrunedQueue:
            wait_for(lambda q=queue: _scraped(base, "aii_prune_errors_total", q)() >= 2)  # tried again, failing
        _post_and_settle(base, inbox, incidents, 2)  # still acting on what arrives
        health = httpx.get(f"{base}/healthz", timeout=10)
        assert health.status_code == 200, health.text
        assert inbox.count(pending=False) == 4
    assert "pruning the outbox failed" in caplog.text and "pruning the inbox failed" in caplog.text


def test_serve_prunes_at_start_what_finished_longer_ago_than_keep_finished_days(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'receiver.db'}"
    inbox, incidents = open_inbox(url), open_incident_store(url)
    _finished(inbox, 2)
    incidents.open_for_group("g", title="leak", incident_type="data_leakage", severity="p2", signals=(), at=1.0)
    incidents.route_notifications({}, limit=10, at=time.time())  # no target: done once routed
    time.sleep(1.0)  # older than the 0.864 s kept below
    monkeypatch.setenv(names.ENV_KEEP_FINISHED_DAYS, "0.00001")
    with Receiver(tmp_path).start("--insecure-no-auth", "--incidents", url, "--containment", url) as receiver:
        pruned = {queue: _scraped(receiver.url, "aii_pruned_rows_total", queue) for queue in PrunedQueue}
        wait_for(lambda: pruned[PrunedQueue.INBOX]() == 2 and pruned[PrunedQueue.OUTBOX]() == 1)
    assert inbox.count(pending=False) == 0 and len(incidents.list()) == 1
    inbox.close()
    incidents.close()


@pytest.mark.parametrize(
    "option, env", [(["--keep-finished-days", "0"], {}), ([], {names.ENV_KEEP_FINISHED_DAYS: "x"})]
)
def test_serve_refuses_a_keep_period_that_is_not_a_positive_number(option: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "otel_ai_incident.cli", "serve", "--insecure-no-auth", *option],
        capture_output=True,
        text=True,
        env=clean_env(**env),
        cwd=scratch_dir(),
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "must be a positive number of days" in done.stderr
