"""How long prompt-log entries are kept, and the purge that enforces it.

Retention is the storage-limitation half of keeping prompts at all: entries older than the window go, except
those an open incident holds (its evidence). The writer thread purges a batch at a time so the write lock is
never held for long and new entries keep flowing; `otel-ai-incident logs purge` runs the same policy at once.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from otel_ai_incident import names
from otel_ai_incident.promptlog.store import PromptLogStore

logger = logging.getLogger("otel_ai_incident")

SECONDS_PER_DAY = 86_400.0
DEFAULT_PURGE_INTERVAL = 3600.0
DEFAULT_PURGE_BATCH = 1000


def retention_days(environ: Mapping[str, str] | None = None) -> float:
    """AII_PROMPT_LOG_RETENTION_DAYS, or the default when unset or not a positive number (with a warning)."""
    env = os.environ if environ is None else environ
    raw = env.get(names.ENV_PROMPT_LOG_RETENTION_DAYS)
    if not raw:
        return float(names.DEFAULT_RETENTION_DAYS)
    try:
        days = float(raw)
    except ValueError:
        days = 0.0
    if days > 0:
        return days
    logger.warning(
        "otel-ai-incident: %s=%r is not a positive number of days; using %d",
        names.ENV_PROMPT_LOG_RETENTION_DAYS,
        raw,
        names.DEFAULT_RETENTION_DAYS,
    )
    return float(names.DEFAULT_RETENTION_DAYS)


class Retention:
    """A retention window and its purge schedule; the clock is injectable so tests can move time."""

    def __init__(
        self,
        days: float = names.DEFAULT_RETENTION_DAYS,
        *,
        interval: float = DEFAULT_PURGE_INTERVAL,
        batch_size: int = DEFAULT_PURGE_BATCH,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if days <= 0:
            raise ValueError("retention needs a positive number of days")
        self.days = days
        self.interval = interval
        self.batch_size = batch_size
        self.clock = clock
        self._next_run = clock()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> Retention:
        return cls(retention_days(environ), **options)

    def cutoff(self) -> float:
        """Entries stamped before this are past retention."""
        return self.clock() - self.days * SECONDS_PER_DAY

    def purge(self, store: PromptLogStore) -> int:
        """Purge everything past retention now (batch by batch); the number of entries deleted."""
        return store.purge(self.cutoff(), batch_size=self.batch_size)

    def purge_step(self, store: PromptLogStore) -> int:
        """For the writer thread: when a purge is due, delete one batch; once the backlog is gone, wait
        `interval` before the next run. Between two steps the writer gets to insert its own batches."""
        now = self.clock()
        if now < self._next_run:
            return 0
        deleted = store.purge(now - self.days * SECONDS_PER_DAY, batch_size=self.batch_size, max_batches=1)
        if deleted < self.batch_size:
            self._next_run = now + self.interval
        return deleted
