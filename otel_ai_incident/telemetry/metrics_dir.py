"""The directory a server's worker processes share their metrics through: one file per worker, one archive.

Each worker owns one file, named after its pid and a random token (a recycled pid never takes over a dead
worker's counts), and replaces it whole each time (written to a hidden temporary file, then renamed: a
reader never sees half of one). Workers that left are folded into the archive, so recycled workers (gunicorn
`max_requests`) do not pile files up, while their counts stay, and no counter goes backwards.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client.metrics_core import Metric

from otel_ai_incident import names
from otel_ai_incident.telemetry.merge import Snapshot, decode, encode, merge, summed_only

try:
    import fcntl
except ImportError:  # not POSIX: files of exited workers are kept rather than folded
    fcntl = None  # type: ignore[assignment]

LIVE_WITHIN = 10.0  # a worker's gauges count while its file is younger than this (it writes every second)
DEAD_AFTER = 60.0  # a worker silent this long whose process is gone is folded into the archive
FORGET_FOLDED_AFTER = 3600.0  # how long the archive remembers a folded file's name after deleting it

WORKER_PREFIX = "aii-worker-"
SUFFIX = ".json"
ARCHIVE = "aii-archive.json"
ARCHIVE_LOCK = "aii-archive.lock"

# (kind of failure, what failed, the error): reported, never raised
OnError = Callable[[str, str, BaseException], None]


def metrics_dir() -> Path | None:
    """The directory the workers share, from AII_METRICS_DIR or PROMETHEUS_MULTIPROC_DIR; None when neither."""
    for variable in (names.ENV_METRICS_DIR, names.ENV_PROMETHEUS_MULTIPROC_DIR):
        value = os.environ.get(variable, "").strip()
        if value:
            return Path(value)
    return None


class MetricsDirectory:
    """Reading and writing the workers' files and the archive. Never raises: failures go to `on_error`."""

    def __init__(self, path: Path, on_error: OnError) -> None:
        self.path = path
        self._on_error = on_error

    def create(self) -> None:
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            self._on_error("write", f"cannot create the metrics directory {self.path}", error)

    def worker_file(self) -> Path:
        """A new file name for the calling process."""
        return self.path / f"{WORKER_PREFIX}{os.getpid()}-{secrets.token_hex(4)}{SUFFIX}"

    def write(self, path: Path, snapshot: Snapshot) -> bool:
        temporary = path.with_name(f".{path.name}.tmp")  # hidden from the workers' glob
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as file:
                file.write(encode(snapshot))
            os.replace(temporary, path)
            return True
        except OSError as error:
            self._on_error("write", f"cannot write {path}", error)
            return False

    def others(self, own: Path) -> list[list[Metric]]:
        """The families of every worker but `own` (gauges only from the living) and the archive's.

        Workers' files are read before the archive: see `fold` for why that order counts everyone once.
        """
        read = [(path.name, found) for path in self._worker_files(own) if (found := self._read(path))]
        archive = self._read_archive() or Snapshot(())
        sources = [list(archive.families)]
        now = time.time()
        for name, (snapshot, written_at) in read:
            if name in archive.folded:
                continue
            alive = not snapshot.final and now - written_at <= LIVE_WITHIN
            sources.append(list(snapshot.families) if alive else summed_only(snapshot.families))
        return sources

    def fold(self, own: Path) -> None:
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
            files = self._worker_files(own)
            leftovers = [p for p in files if p.name in archive.folded]  # the last fold stopped before deleting
            gone = [
                (p, found[0])
                for p in files
                if p.name not in archive.folded and (found := self._read(p)) and _has_left(*found, now)
            ]
            if gone:
                present = {p.name for p in files}  # never forget a file still there: it would count twice
                folded = {n: t for n, t in archive.folded.items() if now - t < FORGET_FOLDED_AFTER or n in present}
                folded.update({path.name: now for path, _ in gone})
                families = merge([archive.families, *(summed_only(s.families) for _, s in gone)])
                if not self.write(self.path / ARCHIVE, Snapshot(families, folded=folded)):
                    return
                leftovers += [path for path, _ in gone]
            for path in leftovers:
                try:
                    path.unlink(missing_ok=True)
                except OSError as error:
                    self._on_error("fold", f"cannot delete {path}", error)

    def _worker_files(self, own: Path) -> list[Path]:
        try:
            return sorted(p for p in self.path.glob(f"{WORKER_PREFIX}*{SUFFIX}") if p != own)
        except OSError as error:
            self._on_error("read", f"cannot list {self.path}", error)
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
            self._on_error("read", f"cannot read {path}", error)
            return None
        try:
            return decode(data), written_at
        except ValueError as error:
            self._on_error("read", f"ignoring unreadable metrics file {path}", error)
            return None

    def _read_archive(self) -> Snapshot | None:
        """The archive (empty if there is none yet), or None when it cannot be read."""
        path = self.path / ARCHIVE
        if not path.exists():
            return Snapshot(())
        found = self._read(path)
        return found[0] if found else None

    @contextmanager
    def _archive_lock(self) -> Iterator[bool]:
        """Whether this process holds the archive's lock: one folder at a time, and none without flock."""
        if fcntl is None:
            yield False
            return
        try:
            fd = os.open(self.path / ARCHIVE_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            self._on_error("fold", "cannot open the archive lock", error)
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
    except PermissionError:  # someone else's process has that pid now
        return True
    return True
