"""The in-app gate: enforces the containment state on every turn and tool call, within one cache period.

The turn path must cost about a microsecond when nothing is contained, so the gate answers from an
immutable `Snapshot` and refreshes it at most once per `refresh_interval_s`: a local SQLite source is read
inline (one revision number, the rest only when it moved); a remote source is polled on a background thread
so a turn never waits on the network. Whatever goes wrong while reading, the last known state stays in
force and the error is counted and logged once: the gate never raises into the app.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from otel_ai_incident import names
from otel_ai_incident.containment.registry import REGISTRY, PromptVersion, Registry
from otel_ai_incident.containment.remote import HttpStateReader, load_token
from otel_ai_incident.containment.snapshot import EMPTY, Snapshot
from otel_ai_incident.containment.state import SqliteContainmentState, StateView
from otel_ai_incident.names import ContainmentActionName as Action

logger = logging.getLogger("otel_ai_incident")

DEFAULT_REFRESH_INTERVAL_S = 1.0
_KILL = Action.KILL_SWITCH.value
_RATE = Action.RATE_LIMIT_USER.value
_READ_ONLY = (Action.RESTRICT_TO_READ_ONLY.value, None)
_DISABLE = Action.DISABLE_TOOL.value
_monotonic = time.monotonic


class StateSource(Protocol):
    """Where the gate reads the state: a `ContainmentState` or an `HttpStateReader`."""

    def changed_since(self, revision: int) -> StateView | None: ...


class _Counter(Protocol):
    def add(self, amount: int, attributes: Mapping[str, Any] | None = None) -> None: ...


class ActiveInstruments(Protocol):
    """The part of `telemetry.instruments.Instruments` the gate updates."""

    containment_active: _Counter


class ContainmentGate:
    """Implements `telemetry.ports.Gate`, plus the rollback view the prompt/model registry asks."""

    def __init__(
        self,
        source: StateSource,
        *,
        refresh_interval_s: float = DEFAULT_REFRESH_INTERVAL_S,
        instruments: ActiveInstruments | None = None,
        on_error: Callable[[], None] | None = None,
        registry: Registry = REGISTRY,
        background: bool | None = None,
    ) -> None:
        """`background` defaults to True for remote sources; `on_error` is called for each failed read."""
        self._source = source
        self._interval = refresh_interval_s
        self._instruments = instruments
        self._on_error = on_error
        self._registry = registry
        registry.source = self
        self._snapshot: Snapshot = EMPTY
        self._refresh_lock = threading.Lock()
        self._bucket_lock = threading.Lock()
        self._buckets: dict[str, list[float]] = {}  # pseudonym -> [tokens, monotonic time of last update]
        self._logged_error = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if background if background is not None else getattr(source, "remote", False):
            self._deadline = math.inf  # the turn path never refreshes
            self._thread = threading.Thread(target=self._poll, name="aii-containment-gate", daemon=True)
            self._thread.start()
        else:
            self._deadline = 0.0

    # -- the hot path (telemetry.ports.Gate) --------------------------------------------------------------

    def turn_blocked(self, user_pseudonym: str | None) -> tuple[str, str | None] | None:
        if _monotonic() >= self._deadline:
            self._refresh()
        snapshot = self._snapshot
        if snapshot.turns_open:
            return None
        if snapshot.kill_switch is not None:
            return _KILL, None
        if user_pseudonym is not None and user_pseudonym in snapshot.rate_limits:
            return self._rate_limited(snapshot, user_pseudonym)
        return None

    def tool_blocked(self, tool: str, writes: bool) -> tuple[str, str | None] | None:
        if _monotonic() >= self._deadline:
            self._refresh()
        snapshot = self._snapshot
        if tool in snapshot.disabled_tools:
            return _DISABLE, tool
        if writes and snapshot.read_only:
            return _READ_ONLY
        return None

    def guardrail_threshold(self, guardrail: str, default: float) -> float:
        """The lower of `default` and the tightened threshold (named guardrail first, then "all")."""
        if _monotonic() >= self._deadline:
            self._refresh()
        thresholds = self._snapshot.thresholds
        if not thresholds:
            return default
        tightened = thresholds.get(guardrail, thresholds.get(None))
        return default if tightened is None else min(default, tightened)

    # -- rollbacks (registry.RollbackSource) --------------------------------------------------------------

    def prompt_rolled_back(self, name: str) -> bool:
        rollbacks = self._snapshot.prompt_rollbacks
        return name in rollbacks or None in rollbacks

    def model_rolled_back(self) -> bool:
        return self._snapshot.model_rollback

    def active_prompt(self, name: str) -> PromptVersion:
        if _monotonic() >= self._deadline:
            self._refresh()
        return self._registry.active_prompt(name)

    def active_model(self) -> str:
        if _monotonic() >= self._deadline:
            self._refresh()
        return self._registry.active_model()

    # -- keeping the snapshot fresh -----------------------------------------------------------------------

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def refresh(self) -> None:
        """Read the source now (tests and the background thread; the hot path calls it when due)."""
        with self._refresh_lock:
            self._read_source()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._interval + 5)

    def _refresh(self) -> None:
        # One thread refreshes; the others go on with the current snapshot instead of queueing.
        if not self._refresh_lock.acquire(blocking=False):
            return
        try:
            self._deadline = _monotonic() + self._interval
            self._read_source()
        finally:
            self._refresh_lock.release()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self._interval)

    def _read_source(self) -> None:
        current = self._snapshot
        now = time.time()
        try:
            view = self._source.changed_since(current.revision)
        except Exception:
            self._record_error()
            view = None
        if view is not None:
            self._install(Snapshot.build(view, now))
        elif now >= current.next_expiry:  # a rate limit ran out: same revision, fewer entries
            self._install(Snapshot.build(StateView(current.revision, current.entries), now))

    def _install(self, new: Snapshot) -> None:
        old = self._snapshot
        self._snapshot = new
        if new.rate_limits.keys() != old.rate_limits.keys():
            with self._bucket_lock:
                self._buckets = {p: b for p, b in self._buckets.items() if p in new.rate_limits}
        self._report_active(old, new)

    def _report_active(self, old: Snapshot, new: Snapshot) -> None:
        if self._instruments is None:
            return
        try:
            before, after = old.counts(), new.counts()
            for action in before.keys() | after.keys():
                delta = after[action] - before[action]
                if delta:
                    self._instruments.containment_active.add(delta, {names.ACTION: action.value})
        except Exception:
            self._record_error()

    def _record_error(self) -> None:
        if not self._logged_error:
            self._logged_error = True
            logger.warning("otel-ai-incident: cannot read the containment state; keeping the last known one "
                           "(further errors only counted)", exc_info=True)
        if self._on_error is not None:
            with contextlib.suppress(Exception):  # a broken callback must not break the gate either
                self._on_error()

    def _rate_limited(self, snapshot: Snapshot, pseudonym: str) -> tuple[str, str | None] | None:
        """A token bucket per limited pseudonym, with the rate and burst the state prescribes."""
        entry = snapshot.rate_limits[pseudonym]
        if not entry.active_at(time.time()):
            return None
        rate = float(entry.params["rate_per_s"])
        burst = float(entry.params["burst"])
        now = _monotonic()
        with self._bucket_lock:
            bucket = self._buckets.setdefault(pseudonym, [burst, now])
            tokens = min(burst, bucket[0] + (now - bucket[1]) * rate)
            bucket[1] = now
            if tokens >= 1.0:
                bucket[0] = tokens - 1.0
                return None
            bucket[0] = tokens
        return _RATE, pseudonym


def open_gate(
    url: str | None = None, *, token: str | None = None, **options: Any
) -> ContainmentGate:
    """A gate on `url` (default: AII_CONTAINMENT, else sqlite:///ai_containment.db).

    An http(s) URL is the receiver's base URL, read with `token` (default: AII_WEBHOOK_TOKEN[_FILE]).
    """
    url = url or os.environ.get(names.ENV_CONTAINMENT) or names.DEFAULT_CONTAINMENT
    source: StateSource
    if url.startswith(("http://", "https://")):
        source = HttpStateReader(url, token or load_token())
    else:
        source = SqliteContainmentState.from_url(url)
    return ContainmentGate(source, **options)
