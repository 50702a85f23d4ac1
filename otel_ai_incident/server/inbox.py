"""The receiver's durable inbox: a notification is committed here before Alertmanager gets its 200.

Acting happens later, off the request; a notification stays "pending" until it was processed, so one the
receiver crashed on is processed again at start-up. Alert keys already acted on are remembered, so that
re-processing, and the duplicates Alertmanager HA pairs deliver, act once.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from otel_ai_incident.storage.sqlite import connect

MAX_BATCH = 256
_SCHEMA = """
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT, received_at REAL NOT NULL, body TEXT NOT NULL,
    processed_at REAL, error TEXT);
CREATE INDEX IF NOT EXISTS pending_notifications ON notifications (id) WHERE processed_at IS NULL;
CREATE TABLE IF NOT EXISTS processed_alerts (key TEXT PRIMARY KEY, at REAL NOT NULL);
"""


@dataclass(frozen=True)
class StoredNotification:
    id: int
    received_at: float
    body: str


class Inbox:
    """Storing is fsynced (an acknowledged notification survives power loss) and group-committed: requests
    that arrive while a commit is on disk share the next one, so a slow fsync delays a batch once instead of
    queueing every request behind the previous one. The worker's bookkeeping is not fsynced, since replaying
    a notification is idempotent; it has its own connection and lock."""

    def __init__(self, path: str | Path) -> None:
        self._receiving = connect(path)
        self._receiving.executescript(_SCHEMA)
        self._queue: queue.SimpleQueue[tuple[str, float, Future[int]] | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_batches, name="aii-inbox-writer", daemon=True)
        self._writer.start()
        self._lock = threading.Lock()
        self._conn = connect(path, durable=False)

    def submit(self, body: str, received_at: float) -> Future[int]:
        """Queue a notification; the future gives its id once it is on disk."""
        future: Future[int] = Future()
        self._queue.put((body, received_at, future))
        return future

    def store(self, body: str, received_at: float) -> int:
        return self.submit(body, received_at).result()

    def _write_batches(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = [first]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                item = self._queue.get()
                if item is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(item)
            try:
                self._receiving.execute("BEGIN IMMEDIATE")
                ids = [self._receiving.execute("INSERT INTO notifications (received_at, body) VALUES (?, ?)",
                                               (received_at, body)).lastrowid for body, received_at, _ in batch]
                self._receiving.execute("COMMIT")
            except Exception as error:
                if self._receiving.in_transaction:
                    self._receiving.execute("ROLLBACK")
                for _, _, future in batch:
                    future.set_exception(error)
                continue
            for (_, _, future), notification_id in zip(batch, ids, strict=True):
                future.set_result(int(notification_id or 0))

    def pending(self, limit: int = 100) -> list[StoredNotification]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, received_at, body FROM notifications WHERE processed_at IS NULL ORDER BY id LIMIT ?",
                (limit,),
            ).fetchall()
        return [StoredNotification(*row) for row in rows]

    def finish(self, notification_id: int, error: str | None = None) -> None:
        with self._lock:
            self._conn.execute("UPDATE notifications SET processed_at = ?, error = ? WHERE id = ?",
                               (time.time(), error, notification_id))

    def count(self, *, pending: bool) -> int:
        condition = "processed_at IS NULL" if pending else "processed_at IS NOT NULL"
        with self._lock:
            return self._conn.execute(f"SELECT count(*) FROM notifications WHERE {condition}").fetchone()[0]

    def alert_processed(self, key: str) -> bool:
        with self._lock:
            return self._conn.execute("SELECT 1 FROM processed_alerts WHERE key = ?", (key,)).fetchone() is not None

    def mark_alert_processed(self, key: str) -> None:
        with self._lock:
            self._conn.execute("INSERT OR IGNORE INTO processed_alerts VALUES (?, ?)", (key, time.time()))

    def close(self) -> None:
        self._queue.put(None)
        self._writer.join(timeout=10)
        with self._lock:
            self._receiving.close()
            self._conn.close()
