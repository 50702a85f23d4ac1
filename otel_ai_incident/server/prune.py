"""Bounded queues: the receiver deletes finished work (notifications acted on, updates delivered or given up
on) once it is older than the keep period, so a receiver that runs for months does not grow its stores.

The worker prunes the inbox and the notifier the outbox, each from its own loop on its own thread, at start
and then at most once per `every_s`, so acknowledgements never wait for it. A run deletes in batches, each a
short transaction, and hands the loop back after about `ROUND_BUDGET_S`: a long backlog (the first run after
an upgrade) goes on at the next round instead of holding up the work behind it. A failing run is logged and
counted and tried again at the next run; it never stops the loop that called it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from otel_ai_incident import names
from otel_ai_incident.names import PrunedQueue
from otel_ai_incident.server.metrics import ReceiverMetrics

logger = logging.getLogger("otel_ai_incident.server")

DAY_S = 86400.0
#: Rows deleted per transaction: short enough that a write lock is never held for long.
BATCH = 500
#: About the longest one run keeps its loop busy; what is left is deleted at the next round.
ROUND_BUDGET_S = 1.0


@dataclass(frozen=True)
class PruneSchedule:
    """How long finished work is kept, and how often each loop looks for work to delete."""

    keep_s: float = names.DEFAULT_KEEP_FINISHED_DAYS * DAY_S
    every_s: float = 3600.0


DEFAULT_PRUNING = PruneSchedule()


class PruneQuery(Protocol):
    """`InboxStore.prune` or `IncidentStore.prune_notifications`."""

    def __call__(self, finished_before: float, *, limit: int) -> int: ...


class Pruner:
    """One queue's pruning, run from its loop's thread."""

    def __init__(
        self,
        queue: PrunedQueue,
        prune: PruneQuery,
        metrics: ReceiverMetrics,
        schedule: PruneSchedule,
        *,
        clock: Callable[[], float] = time.time,
        budget_s: float = ROUND_BUDGET_S,
    ) -> None:
        """`clock` is the time the queue's finishing times are written in (the notifier's, in tests);
        `budget_s` is about the longest one call deletes before it hands its loop back."""
        self.queue = queue
        self._prune = prune
        self._metrics = metrics
        self.schedule = schedule
        self._clock = clock
        self._budget_s = budget_s
        self._next_run = float("-inf")  # the first round prunes

    def run_if_due(self) -> int:
        """Delete what finished more than `keep_s` ago, when a run is due; how many rows. Never raises."""
        now = self._clock()
        if now < self._next_run:
            return 0
        started, deleted = time.monotonic(), 0
        try:
            while (removed := self._prune(now - self.schedule.keep_s, limit=BATCH)) == BATCH:
                deleted += removed
                if time.monotonic() - started >= self._budget_s:
                    return deleted  # more to delete: the next round goes on
            deleted += removed
        except Exception:
            self._metrics.prune_errors.labels(self.queue.value).inc()
            logger.warning("pruning the %s failed; trying again at the next run", self.queue.value, exc_info=True)
        finally:
            self._metrics.pruned.labels(self.queue.value).inc(deleted)
        self._next_run = now + self.schedule.every_s
        return deleted
