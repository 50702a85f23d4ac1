"""The prompt log's writer: the request path hands an entry over in about a microsecond, a thread writes it.

`submit()` is a length check and a deque append (both atomic under the GIL), so an app never waits for the
database, never sees its errors and never slows down when the database does. One daemon thread writes
batches of up to `batch_size` entries, one transaction each, at least every `flush_interval` seconds.

Nothing accepted is given up while it can still be written. When the store is unavailable (a database
restarting or unreachable, a lock held past its timeout: `StoreUnavailableError`) the batch goes back to the
head of the queue and the thread tries again after a pause that doubles up to `max_retry_interval`. The
queue stays bounded, so during a long outage what does not fit is dropped and counted (`queue_full`), as
OpenTelemetry's batch span processor does, and never retried into an unbounded backlog. A batch the store
refuses for another reason is dropped (`store_error`): retrying it would only hold up the ones behind it.
Entries arriving after close are dropped as `shutdown`; those still kept when close stops waiting for an
unavailable store, as `store_unavailable`. A hard kill loses the entries still queued (one flush
interval's worth when the store keeps up).
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace

from otel_ai_incident.names import DEFAULT_PROMPT_LOG_FLUSH_S, PromptLogDropReason
from otel_ai_incident.promptlog.entry import PromptLogEntry
from otel_ai_incident.promptlog.retention import Retention
from otel_ai_incident.promptlog.store import PromptLogStore
from otel_ai_incident.storage.errors import StoreUnavailableError

logger = logging.getLogger("otel_ai_incident")

DEFAULT_MAX_QUEUE = 10_000
DEFAULT_BATCH_SIZE = 500
DEFAULT_FLUSH_INTERVAL = DEFAULT_PROMPT_LOG_FLUSH_S
DEFAULT_CLOSE_TIMEOUT = 5.0
DEFAULT_RETRY_INTERVAL = 0.1
DEFAULT_MAX_RETRY_INTERVAL = 1.0

DropCallback = Callable[[str, int], None]


class PromptLogWriter:
    """Implements `PromptLogSink` over a `PromptLogStore`. Thread-safe; survives `os.fork()`: a fork waits
    for the batch being written, and the child starts its own thread, leaving queued entries to the parent.

    `on_drop(reason, count)` is called from the writer thread (or `close()`), never from `submit()`, with a
    `PromptLogDropReason` value; wire it to the `ai.prompt_log.dropped` counter. `redact`, when given,
    scrubs user_message and assistant_response before they are written (on the writer thread); if it fails
    the batch is dropped as a store error rather than written unscrubbed. `retention`, when given, is
    purged by the writer thread between batches. At most `max_queue` entries wait (plus the batch taken
    back after a failed attempt); `retry_interval` is the first pause after the store was unavailable.
    """

    def __init__(
        self,
        store: PromptLogStore,
        *,
        on_drop: DropCallback | None = None,
        max_queue: int = DEFAULT_MAX_QUEUE,
        batch_size: int = DEFAULT_BATCH_SIZE,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        redact: Callable[[str], str] | None = None,
        retention: Retention | None = None,
        retry_interval: float = DEFAULT_RETRY_INTERVAL,
        max_retry_interval: float = DEFAULT_MAX_RETRY_INTERVAL,
    ) -> None:
        self._store = store
        self._on_drop = on_drop
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._redact = redact
        self._retention = retention
        self._retry_interval = retry_interval
        self._max_retry_interval = max_retry_interval
        self._closed = False
        self._logged: set[str] = set()
        self._start()
        atexit.register(self._close_at_exit)
        ref = weakref.ref(self)
        os.register_at_fork(
            before=lambda: _call(ref, "_before_fork"),
            after_in_parent=lambda: _call(ref, "_after_fork_in_parent"),
            after_in_child=lambda: _call(ref, "_after_fork_in_child"),
        )

    def _start(self) -> None:
        self._queue: deque[PromptLogEntry] = deque()
        # Held by the writer thread while it talks to the store, and by a fork: a child must never inherit
        # a half-done SQLite transaction (SQLite's locks are per process and would be wrong in the child).
        self._store_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()  # set by close(): cuts a pause between retries short
        self._stopping = False
        self._deadline = math.inf  # when close() stops waiting for the store
        self._retry_delay = 0.0  # the current pause between attempts; 0 while the store answers
        self._retry_at = 0.0
        # One item per entry dropped for a full queue, counted off by the writer thread: an append is atomic
        # and, unlike a lock, costs the request path no more than queueing the entry would.
        self._overflow: deque[None] = deque()
        self._thread = threading.Thread(target=self._run, name="otel-ai-incident-prompt-log", daemon=True)
        self._thread.start()

    # -- the request path -----------------------------------------------------------------------------

    def submit(self, entry: PromptLogEntry) -> None:
        """Queue an entry for writing; never blocks or raises. A full queue drops it (counted)."""
        queue = self._queue
        if len(queue) < self._max_queue and not self._closed:
            queue.append(entry)
            if len(queue) >= self._batch_size and not self._wake.is_set():
                self._wake.set()
        elif self._closed:
            self._report(PromptLogDropReason.SHUTDOWN, 1)
        else:
            self._overflow.append(None)

    def flush(self, timeout: float = DEFAULT_CLOSE_TIMEOUT) -> bool:
        """Write what is queued now and wait for it, at most `timeout` seconds; True if nothing is left.

        For readers that need what was just submitted (tests, an investigation started by hand) and for
        measuring what writing costs; the app never needs it.
        """
        deadline = time.monotonic() + timeout
        self._wake.set()
        while self._queue and time.monotonic() < deadline:
            time.sleep(0.001)
        if not self._store_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            return False
        self._store_lock.release()  # the batch taken off the queue last has been written
        return not self._queue

    # -- shutting down --------------------------------------------------------------------------------

    def close(self, timeout: float = DEFAULT_CLOSE_TIMEOUT) -> None:
        """Write what is queued, waiting at most `timeout` seconds, then stop; later entries are dropped."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self._close_at_exit)
        self._deadline = time.monotonic() + timeout
        self._stopping = True
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _close_at_exit(self) -> None:
        self.close(DEFAULT_CLOSE_TIMEOUT)

    def _before_fork(self) -> None:
        self._store_lock.acquire()

    def _after_fork_in_parent(self) -> None:
        self._store_lock.release()

    def _after_fork_in_child(self) -> None:
        if not self._closed:
            self._start()

    # -- the writer thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping:
            pause = self._retry_at - time.monotonic()
            if pause > 0:  # the store was unavailable: wait without being woken by submit()
                self._stop.wait(pause)
                self._report_queue_full()
                continue
            self._wake.wait(self._flush_interval)
            self._wake.clear()
            if self._drain():
                self._purge_step()
        self._drain_before_exit()

    def _drain(self) -> bool:
        """Write out the queue; False when the store became unavailable (what is left stays queued)."""
        queue = self._queue
        popleft = queue.popleft
        try:
            while queue:
                batch = [popleft() for _ in range(min(len(queue), self._batch_size))]
                if not self._write(batch):
                    return False
            return True
        finally:
            self._report_queue_full()

    def _drain_before_exit(self) -> None:
        """At close: keep retrying an unavailable store until the close deadline, then count what is left."""
        while not self._drain() and self._retry_at < self._deadline:
            time.sleep(max(0.0, self._retry_at - time.monotonic()))
        left = len(self._queue)
        if left:
            self._queue.clear()
            self._report(PromptLogDropReason.STORE_UNAVAILABLE, left)

    def _write(self, batch: Sequence[PromptLogEntry]) -> bool:
        """Write one batch; False (the batch back at the head of the queue) when the store is unavailable."""
        try:
            with self._store_lock:
                if self._redact is None:
                    self._store.write(batch)
                else:
                    redact = self._redact
                    self._store.write([_redacted(entry, redact) for entry in batch], scrubbed_at=time.time())
        except StoreUnavailableError as error:
            self._queue.extendleft(reversed(batch))
            self._back_off(error)
            return False
        except Exception:
            self._log_once("write", "could not write %d prompt-log entries (dropped)", len(batch))
            self._report(PromptLogDropReason.STORE_ERROR, len(batch))
        else:
            if self._retry_delay:
                logger.warning("otel-ai-incident: prompt log available again; writing the entries kept")
        self._retry_delay = self._retry_at = 0.0
        return True

    def _back_off(self, error: StoreUnavailableError) -> None:
        if not self._retry_delay:
            logger.error(
                "otel-ai-incident: %s; keeping up to %d prompt-log entries and retrying (the rest is "
                "counted as dropped)",
                error,
                self._max_queue,
            )
        self._retry_delay = min(max(self._retry_delay * 2, self._retry_interval), self._max_retry_interval)
        self._retry_at = time.monotonic() + self._retry_delay

    def _purge_step(self) -> None:
        if self._retention is None:
            return
        try:
            with self._store_lock:
                self._retention.purge_step(self._store)
        except Exception:
            self._log_once("purge", "prompt-log retention purge failed (will retry)")

    def _report_queue_full(self) -> None:
        overflow = self._overflow
        count = len(overflow)
        for _ in range(count):  # exactly those counted, while submit() may be appending more
            overflow.popleft()
        if count:
            self._report(PromptLogDropReason.QUEUE_FULL, count)

    def _report(self, reason: PromptLogDropReason, count: int) -> None:
        if self._on_drop is None:
            return
        try:
            self._on_drop(reason.value, count)
        except Exception:
            self._log_once("on_drop", "the prompt-log drop callback failed")

    def _log_once(self, what: str, message: str, *args: object) -> None:
        """Log the first failure of each kind with its traceback; repeats are only counted (as drops)."""
        if what not in self._logged:
            self._logged.add(what)
            logger.warning("otel-ai-incident: " + message, *args, exc_info=True)


def _redacted(entry: PromptLogEntry, redact: Callable[[str], str]) -> PromptLogEntry:
    message, response = entry.user_message, entry.assistant_response
    return replace(
        entry,
        user_message=redact(message) if message else message,
        assistant_response=redact(response) if response else response,
    )


def _call(ref: weakref.ref[PromptLogWriter], method: str) -> None:
    """A fork hook that does not keep the writer alive."""
    writer = ref()
    if writer is not None:
        getattr(writer, method)()
