"""Counters summed in the process and handed to OpenTelemetry as an asynchronous counter at each collection.

A synchronous `Counter.add` costs the SDK a measurement object, a clean copy and a hash of the attributes
and an exemplar check: several microseconds on every turn. An LLM app's counters change on every request
and are read once per scrape or export interval, so, as prometheus_client does, they are kept here as plain
sums under a lock (well under a microsecond per `add`) and reported through an `ObservableCounter`. What
reaches Prometheus or an OTLP backend is the same monotonic sum with the same attributes; counters carry no
exemplars (the duration and token histograms, still recorded synchronously, keep theirs).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from otel_ai_incident.names import MetricSpec

AttributeKey = frozenset[tuple[str, Any]]

_registry_lock = threading.Lock()
_registry: weakref.WeakKeyDictionary[metrics.Meter, dict[str, SummedCounter]] = weakref.WeakKeyDictionary()


def summed_counter(meter: metrics.Meter, spec: MetricSpec) -> SummedCounter:
    """The meter's summed counter for `spec`, created on first use.

    Like the SDK, which returns the instrument already registered under a name, a second request for the
    same meter and name gets the same sums: the SDK would keep only the first instrument's callback, so a
    second, separate counter (after `instrument()` is set up again on the app's meter provider) would never
    be reported.
    """
    with _registry_lock:
        counters = _registry.setdefault(meter, {})
        counter = counters.get(spec.name)
        if counter is None:
            counter = counters[spec.name] = SummedCounter(meter, spec)
        return counter


class SummedCounter:
    """A monotonic counter with the `Counter.add(amount, attributes)` signature, observed at collection.

    Get one with `summed_counter()`. Thread-safe. Attribute sets are keyed without regard to order, so
    `{a, b}` and `{b, a}` are one series; `add(0, attributes)` creates a series at zero, which alerts on
    `increase()` need before the first event.
    """

    __slots__ = ("_lock", "_sums")

    def __init__(self, meter: metrics.Meter, spec: MetricSpec) -> None:
        self._lock = threading.Lock()
        self._sums: dict[AttributeKey, int | float] = {}
        meter.create_observable_counter(
            spec.name, callbacks=[self._observe], unit=spec.unit, description=spec.description
        )

    def add(self, amount: int | float, attributes: Mapping[str, Any] | None = None, context: Any = None) -> None:
        """`context` is taken, as `Counter.add` takes it, and not used: these sums carry no exemplars."""
        if amount < 0:
            raise ValueError(f"a counter only goes up; got {amount}")
        key = frozenset(attributes.items()) if attributes else frozenset()
        with self._lock:
            self._sums[key] = self._sums.get(key, 0) + amount

    def _observe(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            sums = list(self._sums.items())
        return [Observation(total, dict(key)) for key, total in sums]
