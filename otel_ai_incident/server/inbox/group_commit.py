"""The request path's way into the inbox: requests that arrive while a commit is on disk share the next one.

A slow fsync (or a PostgreSQL round trip) then delays a batch once instead of queueing every request behind
the previous one. A failed commit fails every request of its batch, which then answers 5xx, so Alertmanager
retries what was never stored.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future

from otel_ai_incident.server.inbox.store import InboxStore

MAX_BATCH = 256

_Item = tuple[str, float, "Future[int]"]


class GroupCommit:
    def __init__(self, inbox: InboxStore) -> None:
        self._inbox = inbox
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write_batches, name="aii-inbox-writer", daemon=True)
        self._thread.start()
        #: Whether the latest commit failed (its requests got a 5xx), until one succeeds: for `/healthz`.
        self.failing = False

    def submit(self, body: str, received_at: float) -> Future[int]:
        """Queue a notification; the future gives its id once it is stored (or the storing error)."""
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
                ids = self._inbox.add([(body, received_at) for body, received_at, _ in batch])
            except Exception as error:
                self.failing = True
                for _, _, future in batch:
                    future.set_exception(error)
                continue
            self.failing = False
            for (_, _, future), notification_id in zip(batch, ids, strict=True):
                future.set_result(notification_id)

    def close(self) -> None:
        """Store what was queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout=10)
