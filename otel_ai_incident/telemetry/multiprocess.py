"""Metrics of every worker process of a server (gunicorn, `uvicorn --workers N`) on one /metrics endpoint.

Only one worker can bind the /metrics port, so without help Prometheus sees the turns of that worker alone.
With AII_METRICS_DIR (or prometheus_client's PROMETHEUS_MULTIPROC_DIR, which gunicorn users already set)
naming a directory private to the server (one per host or pod):

- every worker writes its metric families to a file of its own about once a second and at exit (to a
  temporary file, then renamed, so a reader never sees half of one);
- whichever worker holds the port serves its own families merged (`merge.merge`) with the other workers'
  files; the others try to bind once a second, so when it dies one of them takes over;
- the serving worker writes its own file before it answers a scrape, so nothing it served is fresher than
  what survives it: a worker killed outright cannot make a counter go backwards;
- counts of workers that exited stay, and their files are folded into one archive file, so recycled workers
  (gunicorn `max_requests`) do not pile files up; gauges count only from workers still alive.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.metrics_core import Metric

from otel_ai_incident import names
from otel_ai_incident.telemetry.merge import Snapshot, decode, encode, merge, summed_only

try:
    import fcntl
except ImportError:  # not POSIX: exited workers' files are kept rather than folded
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("otel_ai_incident")

FLUSH_INTERVAL = 1.0  # seconds between a worker's writes, and between its attempts to take the port
LIVE_WITHIN = 10.0  # a worker's gauges count while its file is younger than this
DEAD_AFTER = 60.0  # a worker silent this long whose process is gone is folded into the archive
FOLD_EVERY = 10  # the serving worker folds every this many writes
FORGET_FOLDED_AFTER = 3600.0  # how long the archive remembers a folded file's name after deleting it

WORKER_PREFIX = "aii-worker-"
SUFFIX = ".json"
ARCHIVE = "aii-archive.json"
ARCHIVE_LOCK = "aii-archive.lock"


def metrics_dir() -> Path | None:
    """The directory the workers share, from AII_METRICS_DIR or PROMETHEUS_MULTIPROC_DIR; None when neither."""
    for variable in (names.ENV_METRICS_DIR, names.ENV_PROMETHEUS_MULTIPROC_DIR):
        value = os.environ.get(variable, "").strip()
        if value:
            return Path(value)
    return None


class WorkerMetrics:
    """One worker's part: write its own metrics, serve everyone's while it holds the port, fold the departed.

    `registry` holds this worker's families (the OpenTelemetry exporter's collector). Never raises into the
    app: failures to write, read or fold are logged once per kind and counted with `count_errors_with`.
    """

    def __init__(
        self, directory: Path, registry: CollectorRegistry, host: str, port: int, interval: float = FLUSH_INTERVAL
    ) -> None:
        self._dir = directory
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
        """A new identity and fresh locks; in a forked child too, where the parent's may be held forever."""
        self._lock = threading.Lock()  # one collection and write of this worker's own families at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._path = self._dir / f"{WORKER_PREFIX}{self._pid}-{secrets.token_hex(4)}{SUFFIX}"

    @property
    def address(self) -> tuple[str, int] | None:
        """Where this worker serves /metrics, or None while another worker does."""
        server = self._server
        return server.server_address[:2] if server is not None else None

    @property
    def path(self) -> Path:
        """This worker's own file."""
        return self._path

    def count_errors_with(self, count: Callable[[], None]) -> None:
        """Count each failure with `count` (ai_instrumentation_errors_total), including those seen before."""
        self._count_error = count
        for _ in range(self._uncounted):
            count()
        self._uncounted = 0

    def start(self) -> None:
        try:
            self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            self._error("write", f"cannot create the metrics directory {self._dir}", error)
        self._serve()
        if self._server is None:
            logger.info(
                "otel-ai-incident: another worker serves /metrics on %s:%s; this one's metrics reach it through %s",
                self._host,
                self._port,
                self._dir,
            )
        self._thread = threading.Thread(target=self._run, name="otel-ai-incident-worker-metrics", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 2.0) -> None:
        """Write this worker's final counts (no gauges: it no longer sees any state) and stop serving."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._write(self._path, Snapshot(summed_only(self._registry.collect()), pid=self._pid, final=True))
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    # -- the worker's own file --------------------------------------------------------------------------

    def _own_families(self) -> list[Metric]:
        """This worker's families, written to its file first, so nothing served is fresher than what stays."""
        with self._lock:
            families = list(self._registry.collect())
            if not self._closed:
                self._write(self._path, Snapshot(families, pid=self._pid))
        return families

    def _write(self, path: Path, snapshot: Snapshot) -> bool:
        temporary = path.with_name(f".{path.name}.tmp")  # hidden from the workers' glob
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as file:
                file.write(encode(snapshot))
            os.replace(temporary, path)
            return True
        except OSError as error:
            self._error("write", f"cannot write {path}", error)
            return False

    def _run(self) -> None:
        writes = 0
        while not self._stop.wait(self._interval):
            try:
                self._own_families()
                writes += 1
                if self._server is None:
                    self._serve()
                elif writes % FOLD_EVERY == 0:
                    self._fold()
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

    # -- serving everyone's -----------------------------------------------------------------------------

    def collect(self) -> list[Metric]:
        """The merged families of every worker: what the served registry answers a scrape with."""
        own = self._own_families()
        try:
            return merge([own, *self._others()])
        except Exception as error:
            self._error("merge", "cannot merge the other workers' metrics; serving this worker's only", error)
            return own

    def _others(self) -> list[list[Metric]]:
        """The other workers' families (gauges only from the living) and the archive of those that left.

        Workers' files are read before the archive: see `_fold` for why that order counts everyone once.
        """
        read = [(path.name, found) for path in self._worker_files() if (found := self._read(path))]
        archive = self._read_archive() or Snapshot(())
        sources = [list(archive.families)]
        now = time.time()
        for name, (snapshot, written_at) in read:
            if name in archive.folded:
                continue
            alive = not snapshot.final and now - written_at <= LIVE_WITHIN
            sources.append(list(snapshot.families) if alive else summed_only(snapshot.families))
        return sources

    def _worker_files(self) -> list[Path]:
        try:
            return sorted(p for p in self._dir.glob(f"{WORKER_PREFIX}*{SUFFIX}") if p != self._path)
        except OSError as error:
            self._error("read", f"cannot list {self._dir}", error)
            return []

    def _read(self, path: Path) -> tuple[Snapshot, float] | None:
        """A file's snapshot and when it was written; None when it is gone (folded meanwhile) or unreadable."""
        try:
            with open(path, "rb") as file:
                written_at = os.fstat(file.fileno()).st_mtime
                data = file.read()
        except FileNotFoundError:
            return None
        except OSError as error:
            self._error("read", f"cannot read {path}", error)
            return None
        try:
            return decode(data), written_at
        except ValueError as error:
            self._error("read", f"ignoring unreadable metrics file {path}", error)
            return None

    def _read_archive(self) -> Snapshot | None:
        """The archive (empty if there is none yet), or None when it cannot be read."""
        path = self._dir / ARCHIVE
        if not path.exists():
            return Snapshot(())
        found = self._read(path)
        return found[0] if found else None

    # -- folding the files of workers that left ---------------------------------------------------------

    def _fold(self) -> None:
        """Fold the files of workers that are gone into the archive, then delete them.

        The archive lists the files it holds, and is written before they are deleted; readers read the
        workers' files first, then the archive, and skip the files it lists. A reader that found a file then
        sees either an archive without it (and counts the file) or one listing it (and counts the archive);
        a reader that found it deleted sees the archive written before the deletion. Each count, once.
        """
        with self._archive_lock() as held:
            archive = self._read_archive() if held else None
            if archive is None:
                return
            now = time.time()
            files = self._worker_files()
            leftovers = [p for p in files if p.name in archive.folded]
            gone = [
                (p, found[0])
                for p in files
                if p.name not in archive.folded and (found := self._read(p)) and _has_left(*found, now)
            ]
            if gone:
                folded = {
                    n: t for n, t in archive.folded.items() if now - t < FORGET_FOLDED_AFTER or (self._dir / n).exists()
                }
                folded.update({path.name: now for path, _ in gone})
                families = merge([archive.families, *(summed_only(s.families) for _, s in gone)])
                if not self._write(self._dir / ARCHIVE, Snapshot(families, folded=folded)):
                    return
                leftovers += [path for path, _ in gone]
            for path in leftovers:
                try:
                    path.unlink(missing_ok=True)
                except OSError as error:
                    self._error("fold", f"cannot delete {path}", error)

    @contextmanager
    def _archive_lock(self) -> Iterator[bool]:
        """Whether this process holds the archive's lock: one folder at a time, and none without flock."""
        if fcntl is None:
            yield False
            return
        try:
            fd = os.open(self._dir / ARCHIVE_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            self._error("fold", "cannot open the archive lock", error)
            yield False
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            yield False
            return
        try:
            yield True
        finally:
            os.close(fd)

    # -- failures ---------------------------------------------------------------------------------------

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


def _has_left(snapshot: Snapshot, written_at: float, now: float) -> bool:
    """True when the worker that wrote `snapshot` will never write again: it said so, or it is long dead."""
    return snapshot.final or (now - written_at > DEAD_AFTER and not _running(snapshot.pid))


def _running(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process now has that pid
        return True
    return True


def _begin_in_child(ref: weakref.ref[WorkerMetrics]) -> None:
    """After a fork (gunicorn --preload): the child gets a file and a thread of its own; the parent serves."""
    workers = ref()
    if workers is None or workers._closed:
        return
    if workers._server is not None:
        workers._server.socket.close()  # the child's copy of the parent's listening socket
        workers._server = None
    workers._begin()
    workers._thread = threading.Thread(target=workers._run, name="otel-ai-incident-worker-metrics", daemon=True)
    workers._thread.start()
