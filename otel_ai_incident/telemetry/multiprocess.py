"""Metrics of every worker process of a server (gunicorn, `uvicorn --workers N`) on one /metrics endpoint.

Only one worker can bind the /metrics port, so without help Prometheus sees the turns of that worker alone.
With AII_METRICS_DIR (or prometheus_client's PROMETHEUS_MULTIPROC_DIR, which gunicorn users already set)
naming a directory private to the server (one per host or pod), see `metrics_dir`:

- every worker writes its metric families to a file of its own about once a second and at exit;
- whichever worker holds the port serves its own families merged (`merge.merge`) with the other workers'
  files; the others try to bind once a second, so when it dies one of them takes over;
- the serving worker writes its own file before it answers a scrape, so nothing it served is fresher than
  what survives it: a worker killed outright cannot make a counter go backwards;
- counts of workers that exited stay (folded into an archive); gauges count only from workers alive.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.metrics_core import Metric

from otel_ai_incident import names
from otel_ai_incident.telemetry.merge import Snapshot, merge, summed_only
from otel_ai_incident.telemetry.metrics_dir import MetricsDirectory

logger = logging.getLogger("otel_ai_incident")

FLUSH_INTERVAL = 1.0  # seconds between a worker's writes, and between its attempts to take the port
FOLD_EVERY = 10  # the serving worker folds the files of workers that left every this many writes


class WorkerMetrics:
    """One worker's part: write its own metrics, serve everyone's while it holds the port, fold the departed.

    `registry` holds this worker's families (the OpenTelemetry exporter's collector). Never raises into the
    app: failures to write, read or fold are logged once per kind and counted with `count_errors_with`.
    """

    def __init__(
        self, directory: Path, registry: CollectorRegistry, host: str, port: int, interval: float = FLUSH_INTERVAL
    ) -> None:
        self._dir = MetricsDirectory(directory, self._error)
        self._registry = registry
        self._host, self._port = host, port
        self._interval = interval
        self._served = CollectorRegistry(auto_describe=False)
        self._served.register(self)  # type: ignore[arg-type]  # a collector: it has collect()
        self._server: Any = None
        self._closed = False
        self._logged: set[str] = set()
        self._count_error: Callable[[], None] | None = None
        self._uncounted = 0
        self._begin()
        os.register_at_fork(after_in_child=partial(_begin_in_child, weakref.ref(self)))

    def _begin(self) -> None:
        """A file of its own and fresh locks; in a forked child too, where the parent's may be held forever."""
        # One collection and write of this worker's own families at a time: writes stay in order, and the
        # OpenTelemetry exporter's collector cannot collect on two threads at once (both drain one deque).
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.path = self._dir.worker_file()

    @property
    def address(self) -> tuple[str, int] | None:
        """Where this worker serves /metrics, or None while another worker does."""
        server = self._server
        return server.server_address[:2] if server is not None else None

    def count_errors_with(self, count: Callable[[], None]) -> None:
        """Count each failure with `count` (ai_instrumentation_errors_total), including those seen before."""
        self._count_error = count
        for _ in range(self._uncounted):
            count()
        self._uncounted = 0

    def start(self) -> None:
        self._dir.create()
        self._serve()
        if self._server is None:
            logger.info(
                "otel-ai-incident: another worker serves /metrics on %s:%s; this one's metrics reach it through %s",
                self._host,
                self._port,
                self._dir.path,
            )
        self._start_thread()

    def close(self, timeout: float = 2.0) -> None:
        """Write this worker's final counts (no gauges: it no longer sees any state) and stop serving."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._dir.write(self.path, Snapshot(summed_only(self._registry.collect()), pid=self._pid, final=True))
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def collect(self) -> list[Metric]:
        """The merged families of every worker: what the served registry answers a scrape with."""
        own = self._own_families()
        try:
            return merge([own, *self._dir.others(self.path)])
        except Exception as error:
            self._error("merge", "cannot merge the other workers' metrics; serving this worker's only", error)
            return own

    def _own_families(self) -> list[Metric]:
        """This worker's families, written to its file first, so nothing served is fresher than what stays."""
        with self._lock:
            families = list(self._registry.collect())
            if not self._closed:
                self._dir.write(self.path, Snapshot(families, pid=self._pid))
        return families

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._run, name="otel-ai-incident-worker-metrics", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        writes = 0
        while not self._stop.wait(self._interval):
            try:
                self._own_families()
                writes += 1
                if self._server is None:
                    self._serve()
                elif writes % FOLD_EVERY == 0:
                    self._dir.fold(self.path)
            except Exception as error:  # the thread must outlive any surprise, and the app never sees one
                self._error("worker", "worker metrics update failed", error)

    def _serve(self) -> None:
        try:
            self._server, _thread = start_http_server(self._port, addr=self._host, registry=self._served)
        except OSError:
            return  # another worker holds the port: try again at the next write
        logger.info(
            "otel-ai-incident: serving /metrics of every worker on %s:%s (pid %s)", self._host, self._port, self._pid
        )

    def _error(self, kind: str, what: str, error: BaseException) -> None:
        if kind not in self._logged:
            self._logged.add(kind)
            logger.warning(
                "otel-ai-incident: %s: %s (logged once; counted in %s{%s=%r})",
                what,
                error,
                names.INSTRUMENTATION_ERRORS.prometheus,
                names.COMPONENT,
                names.COMPONENT_WORKER_METRICS,
            )
        else:
            logger.debug("otel-ai-incident: %s: %s", what, error)
        if self._count_error is None:
            self._uncounted += 1
        else:
            self._count_error()


def _begin_in_child(ref: weakref.ref[WorkerMetrics]) -> None:
    """After a fork (gunicorn --preload): the child gets a file and a thread of its own; the parent serves."""
    workers = ref()
    if workers is None or workers._closed:
        return
    if workers._server is not None:
        workers._server.socket.close()  # the child's copy of the parent's listening socket
        workers._server = None
    workers._begin()
    workers._start_thread()
