"""The in-app gate: enforces the containment state on every turn and tool call.

The turn path must cost about a microsecond when nothing is contained, so the gate answers from an
immutable `Snapshot` and never waits on a database or the network to do so. How the snapshot stays fresh
depends on the source:
- a local SQLite file is read inline, at most once per `refresh_interval_s` (one revision number, the rest
  only when it moved): a change is enforced within that interval;
- PostgreSQL is read on a background thread that LISTENs for the NOTIFY every change sends when it commits,
  so a change is enforced within milliseconds; it also reads every `refresh_interval_s`, which is all it
  does while it cannot listen (and how it notices lapsed rate limits), and after reconnecting it reads
  again, so a change committed while it was cut off is not missed;
- a receiver's URL is polled on a background thread every `refresh_interval_s` (ETag: unchanged is a 304).

Until the state has been loaded once the gate knows nothing, so `instrument()` (or else the first turn or
tool call) waits for the first load, at most `load_timeout_s`. If it has not loaded by then the gate logs an
error, counts it, and fails open (nothing contained until it loads) or, with `fail_closed`
(AII_CONTAINMENT_FAIL_CLOSED=true), refuses every turn and tool call as a kill switch would, until it loads.
Whatever goes wrong after that, the last known state stays in force. Every error (a read, a 401 naming the
token's variable, entries it cannot use, which are skipped one by one) is counted and logged as an ERROR,
repeated at most once a minute while errors last; the reading thread never stops, and the gate never raises
into the app. A SQLite file replaced (a restore) or repaired is read again as it is now. Rate limits use
buckets shared through the state (see `limits`).

When the state cannot even be opened (a malformed AII_CONTAINMENT), `instrument()` installs an
`UnusableGate` that follows the same policy: fail open or closed, an ERROR a minute, every turn counted.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from otel_ai_incident import names
from otel_ai_incident.containment.limits import Buckets, LocalBuckets, SharedBuckets
from otel_ai_incident.containment.registry import REGISTRY, PromptVersion, Registry
from otel_ai_incident.containment.remote import HttpStateReader
from otel_ai_incident.containment.snapshot import NOT_LOADED, Snapshot
from otel_ai_incident.containment.state import SqliteStateReader, StateView, open_containment_state
from otel_ai_incident.containment.tokens import Role, client_setting, client_token
from otel_ai_incident.names import ContainmentActionName as Action
from otel_ai_incident.storage.sqlite import sqlite_path
from otel_ai_incident.storage.urls import is_sqlite_url

logger = logging.getLogger("otel_ai_incident")

DEFAULT_REFRESH_INTERVAL_S = names.DEFAULT_CONTAINMENT_REFRESH_S
#: While errors last, one is logged at most this often (every one is counted).
ERROR_LOG_INTERVAL_S = 60.0
_KILL = Action.KILL_SWITCH.value
_RATE = Action.RATE_LIMIT_USER.value
_READ_ONLY = (Action.RESTRICT_TO_READ_ONLY.value, None)
_DISABLE = Action.DISABLE_TOOL.value
_CLOSED = (_KILL, None)  # the answer while failing closed
_TRUE = {"1", "true", "yes", "on"}
_LISTEN_SLICE_S = 0.2  # how long the background thread listens before it checks whether the gate closed
_monotonic = time.monotonic


class StateSource(Protocol):
    """Where the gate reads the state: a `ContainmentState` or an `HttpStateReader`.

    Optional, found by name: `remote = True` (read on a background thread), `change_feed(listen=...)` (what
    that thread reads through instead, waking on changes), `take_token` (shared rate-limit buckets), `close()`.
    """

    def changed_since(self, revision: int) -> StateView | None: ...

    def describe(self) -> str: ...


class ChangeFeed(Protocol):
    """The background thread's own reader of a source that can announce changes (`postgres.ChangeFeed`)."""

    @property
    def listening(self) -> bool: ...

    def changed_since(self, revision: int) -> StateView | None: ...

    def wait(self, timeout_s: float) -> bool:
        """True as soon as a change is announced, False after `timeout_s` without one."""

    def close(self) -> None: ...


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
        listen: bool = True,
        load_timeout_s: float = names.DEFAULT_CONTAINMENT_LOAD_TIMEOUT_S,
        fail_closed: bool = False,
        replicas: int = 1,
        owns_source: bool = False,
    ) -> None:
        """`background` defaults to True for remote sources; `listen=False` makes a source that can notify
        be polled instead; `on_error` is called for each failed read or token take; `replicas` divides rate
        limits for a source without shared buckets; `owns_source`: `close()` closes the source too."""
        self._source = source
        self._interval = refresh_interval_s
        self._instruments = instruments
        self._on_error = on_error
        self._registry = registry
        registry.source = self
        self._listen = listen
        self._load_timeout_s = load_timeout_s
        self._fail_closed = fail_closed
        self._owns_source = owns_source
        self._snapshot: Snapshot = NOT_LOADED
        self._loaded = threading.Event()
        self._waited_for_load = False
        self._outage = False  # a read failed and none succeeded since
        self._next_error_log = 0.0  # monotonic time before which further errors are only counted
        self._errors_unlogged = 0
        self._last_error: BaseException | None = None
        self._replicas = replicas
        self._buckets = self._new_buckets()
        self._stop = threading.Event()
        self._background = background if background is not None else getattr(source, "remote", False)
        self._deadline = math.inf if self._background else 0.0  # in the background, the turn path never reads
        self._refresh_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._start_thread()
        _restart_after_fork(self)

    # -- the hot path (telemetry.ports.Gate) --------------------------------------------------------------

    def turn_blocked(self, user_pseudonym: str | None) -> tuple[str, str | None] | None:
        if _monotonic() >= self._deadline:
            self._refresh()
        snapshot = self._snapshot
        if snapshot.turns_open:
            return None
        if not snapshot.loaded:
            return self.turn_blocked(user_pseudonym) if self.await_first_load() else self._unloaded_answer()
        if snapshot.kill_switch is not None:
            return _KILL, None
        if user_pseudonym is not None and user_pseudonym in snapshot.rate_limits:
            return self._rate_limited(snapshot, user_pseudonym)
        return None

    def tool_blocked(self, tool: str, writes: bool) -> tuple[str, str | None] | None:
        if _monotonic() >= self._deadline:
            self._refresh()
        snapshot = self._snapshot
        if snapshot.tools_open:
            return None
        if not snapshot.loaded:
            return self.tool_blocked(tool, writes) if self.await_first_load() else self._unloaded_answer()
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

    # -- before the first load ----------------------------------------------------------------------------

    def await_first_load(self) -> bool:
        """Whether the state is loaded, after waiting for it once (at most `load_timeout_s`, all told).

        `instrument()` calls it, so a state that cannot be loaded (a wrong token, a receiver that is not
        there) is an ERROR while the app starts, not at its first turn; from then on every error is logged
        as it comes (at most once every ERROR_LOG_INTERVAL_S) and counted."""
        if not self._waited_for_load:
            if self._background:
                self._loaded.wait(self._load_timeout_s)
            else:
                self.refresh()  # inline: read it now (a concurrent first reader holds the lock till it is done)
            if not self._loaded.is_set() and not self._waited_for_load:
                logger.error(
                    "otel-ai-incident: %s could not be loaded within %.1f s (%s); %s until it loads",
                    self._source.describe(),
                    self._load_timeout_s,
                    "no answer yet" if self._last_error is None else f"last error: {self._last_error}",
                    "refusing every turn and tool call (fail closed)"
                    if self._fail_closed
                    else "nothing is contained (fail open)",
                )
                self._next_error_log = _monotonic() + ERROR_LOG_INTERVAL_S
                self._errors_unlogged = 0
                self._count_error()
            self._waited_for_load = True
        return self._loaded.is_set()

    def _unloaded_answer(self) -> tuple[str, str | None] | None:
        return _CLOSED if self._fail_closed else None

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
        if self._owns_source:
            close = getattr(self._source, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()

    def _refresh(self) -> None:
        # One thread refreshes; the others go on with the current snapshot instead of queueing.
        if not self._refresh_lock.acquire(blocking=False):
            return
        try:
            self._deadline = _monotonic() + self._interval
            self._read_source()
        finally:
            self._refresh_lock.release()

    def _start_thread(self) -> None:
        if self._background and not self._stop.is_set():
            self._thread = threading.Thread(target=self._run, name="aii-containment-gate", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        """Read, then sleep until a change is announced or the interval passes; poll when it cannot listen.
        Nothing ends the loop but `close()`: whatever fails is logged, counted and tried again."""
        feed: ChangeFeed | None = None
        try:
            make_feed = getattr(self._source, "change_feed", None)
            feed = make_feed(listen=self._listen) if make_feed is not None else None
        except Exception as error:
            self._record_error(error)
        try:
            while not self._stop.is_set():
                try:
                    with self._refresh_lock:
                        self._read_source(feed or self._source)
                    self._sleep_until_change(feed)
                except Exception as error:
                    self._record_error(error)
                    self._stop.wait(self._interval)
        finally:
            if feed is not None:
                with contextlib.suppress(Exception):
                    feed.close()

    def _sleep_until_change(self, feed: ChangeFeed | None) -> None:
        """Until a change is announced, the interval passes or the gate closes (listening in short slices,
        so `close()` never waits long for the thread)."""
        deadline = _monotonic() + self._interval
        while (remaining := deadline - _monotonic()) > 0 and not self._stop.is_set():
            if feed is None or not feed.listening:
                self._stop.wait(remaining)
                return
            try:
                if feed.wait(min(remaining, _LISTEN_SLICE_S)):
                    return
            except Exception as error:
                self._record_error(error)

    def _read_source(self, reader: StateSource | ChangeFeed | None = None) -> None:
        current = self._snapshot
        now = time.time()
        try:
            view = (reader or self._source).changed_since(current.revision)
            if view is not None:
                new = Snapshot.build(view, now)
            elif now >= current.next_expiry:  # a rate limit ran out: same revision, fewer entries
                new = Snapshot.build(StateView(current.revision, current.entries), now)
            else:
                new = None
        except Exception as error:
            self._record_error(error)
            return
        if self._outage:
            self._outage = False
            self._next_error_log = 0.0
            logger.warning("otel-ai-incident: %s is readable again", self._source.describe())
        if view is not None and view.skipped:
            self._record_error(
                ValueError(f"{view.skipped} entries of revision {view.revision} are unknown or malformed; skipped")
            )
        if new is not None:
            self._install(new)

    def _install(self, new: Snapshot) -> None:
        old = self._snapshot
        self._snapshot = new
        self._loaded.set()
        if new.rate_limits != old.rate_limits:  # a new or replaced limit starts with a full bucket
            self._buckets.keep_only({p for p, e in new.rate_limits.items() if old.rate_limits.get(p) == e})
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
        except Exception as error:
            self._record_error(error)

    def _record_error(self, error: BaseException) -> None:
        """Count every error; log it as an ERROR, again at most every ERROR_LOG_INTERVAL_S while they last,
        so a wrong token or a broken file is never a single line lost at start-up."""
        self._last_error = error
        self._outage = True
        self._count_error()
        now = _monotonic()
        if now < self._next_error_log or not (self._loaded.is_set() or self._waited_for_load):
            self._errors_unlogged += 1  # before the first load, the turn that waits for it reports it
            return
        self._next_error_log = now + ERROR_LOG_INTERVAL_S
        where = self._source.describe()
        logger.error(
            "otel-ai-incident: cannot use the %s; %s (%d more errors since the last report; next report in "
            "%.0f s at most)",
            error if str(error).startswith(where) else f"{where}: {error}",
            "refusing every turn and tool call until it loads (fail closed)"
            if self._fail_closed and not self._loaded.is_set()
            else "keeping the last known state"
            if self._loaded.is_set()
            else "nothing is contained until it loads (fail open)",
            self._errors_unlogged,
            ERROR_LOG_INTERVAL_S,
            exc_info=error,
        )
        self._errors_unlogged = 0

    def _count_error(self) -> None:
        if self._on_error is not None:
            with contextlib.suppress(Exception):  # a broken callback must not break the gate either
                self._on_error()

    def _rate_limited(self, snapshot: Snapshot, pseudonym: str) -> tuple[str, str | None] | None:
        """The rate and burst the state prescribes, from the bucket this user shares with the fleet."""
        entry = snapshot.rate_limits[pseudonym]
        if not entry.active_at(time.time()):
            return None
        if self._buckets.allow(pseudonym, float(entry.params["rate_per_s"]), float(entry.params["burst"])):
            return None
        return _RATE, pseudonym

    def _new_buckets(self) -> Buckets:
        if hasattr(self._source, "take_token"):
            return SharedBuckets(self._source, self._record_error)  # type: ignore[arg-type]  # it has take_token
        return LocalBuckets(self._replicas)

    def _after_fork_in_child(self) -> None:
        """A forked worker (gunicorn --preload) inherits no thread and possibly held locks: start afresh,
        keeping the snapshot (the parent's last known state is still the best answer until a read)."""
        self._refresh_lock = threading.Lock()
        loaded, self._loaded = self._loaded.is_set(), threading.Event()
        if loaded:
            self._loaded.set()
        self._buckets = self._new_buckets()
        self._thread = None
        self._start_thread()


def _restart_after_fork(gate: ContainmentGate) -> None:
    ref = weakref.ref(gate)

    def in_child() -> None:
        alive = ref()
        if alive is not None:
            alive._after_fork_in_child()

    os.register_at_fork(after_in_child=in_child)


def open_gate(url: str | None = None, *, token: str | None = None, **options: Any) -> ContainmentGate:
    """A gate on `url` (default: AII_CONTAINMENT, else sqlite:///ai_containment.db), owning its source.

    An http(s) URL is the receiver's base URL, read with `token` (default: AII_READER_TOKEN[_FILE], else
    AII_WEBHOOK_TOKEN[_FILE]); its rate limits are divided by AII_CONTAINMENT_REPLICAS.
    AII_CONTAINMENT_LOAD_TIMEOUT_S and AII_CONTAINMENT_FAIL_CLOSED set the first-load policy,
    AII_CONTAINMENT_REFRESH_S how often a change is looked for (1 s). A malformed or
    unsupported URL (or setting) raises ValueError naming it; a database that cannot be reached does not
    raise (the gate retries).
    """
    url = url or os.environ.get(names.ENV_CONTAINMENT) or names.DEFAULT_CONTAINMENT
    options.setdefault(
        "load_timeout_s", _env_number(names.ENV_CONTAINMENT_LOAD_TIMEOUT, names.DEFAULT_CONTAINMENT_LOAD_TIMEOUT_S)
    )
    options.setdefault("fail_closed", fail_closed_setting())
    if "refresh_interval_s" not in options:
        options["refresh_interval_s"] = _env_number(names.ENV_CONTAINMENT_REFRESH, DEFAULT_REFRESH_INTERVAL_S)
        if not options["refresh_interval_s"] > 0:
            raise ValueError(f"{names.ENV_CONTAINMENT_REFRESH} must be a number of seconds above 0")
    source: StateSource
    if url.startswith(("http://", "https://")):
        credential = "the token given to open_gate" if token else client_setting(Role.READER)
        source = HttpStateReader(url, token or client_token(Role.READER), credential=credential)
        options.setdefault("replicas", int(_env_number(names.ENV_CONTAINMENT_REPLICAS, 1)))
    else:
        source = _local_state(url)
    return ContainmentGate(source, owns_source=True, **options)


def _local_state(url: str) -> StateSource:
    """The state at a database URL. A SQLite file this process cannot open for writing (least privilege:
    the app only needs to read it; or corrupt, to be repaired) is read read-only, afresh at each refresh,
    its rate limits then counted per process."""
    try:
        return open_containment_state(url)
    except sqlite3.Error as error:
        if not is_sqlite_url(url) or not sqlite_path(url).is_file():
            raise
        logger.warning(
            "otel-ai-incident: cannot open %s for writing (%s); reading it read-only, rate limits counted per process",
            sqlite_path(url),
            error,
        )
        return SqliteStateReader(sqlite_path(url))


class UnusableGate:
    """The gate when the containment state cannot even be opened (a malformed AII_CONTAINMENT, say).

    It answers as a gate that never loaded: nothing contained, or with `fail_closed` every turn and tool call
    refused; each answer is counted through `on_error` and an ERROR is logged at most every
    ERROR_LOG_INTERVAL_S, so the misconfiguration stays visible for as long as it lasts."""

    def __init__(self, reason: str, *, fail_closed: bool, on_error: Callable[[], None] | None = None) -> None:
        self._reason = reason
        self._fail_closed = fail_closed
        self._on_error = on_error
        self._next_log = 0.0

    def turn_blocked(self, user_pseudonym: str | None) -> tuple[str, str | None] | None:
        return self._answer()

    def tool_blocked(self, tool: str, writes: bool) -> tuple[str, str | None] | None:
        return self._answer()

    def guardrail_threshold(self, guardrail: str, default: float) -> float:
        return default

    def _answer(self) -> tuple[str, str | None] | None:
        if self._on_error is not None:
            with contextlib.suppress(Exception):
                self._on_error()
        now = _monotonic()
        if now >= self._next_log:
            self._next_log = now + ERROR_LOG_INTERVAL_S
            logger.error(
                "otel-ai-incident: containment state unusable (%s); %s",
                self._reason,
                "refusing every turn and tool call (fail closed)" if self._fail_closed else "nothing is contained",
            )
        return _CLOSED if self._fail_closed else None


def fail_closed_setting() -> bool:
    """AII_CONTAINMENT_FAIL_CLOSED as a bool."""
    return os.environ.get(names.ENV_CONTAINMENT_FAIL_CLOSED, "").lower() in _TRUE


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
