"""Profiles: one set of timings applied to every signal, so the same catalogue serves production and a demo.

`PRODUCTION` keeps the catalogue's values (the committed files). `DEMO` shrinks every window for an
end-to-end demo that runs for minutes with 1 s scrape and evaluation intervals: short window 1m (confirm
window 30s), baseline 5m sampled every 30s and trusted after 2m of history, `for` 5s, `keep_firing_for`
30s, at least 30 turns and 5 events per window. Its rules are written to `--out` and never committed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from otel_ai_incident.signals.model import Duration, MonitoringSignal

# What a profile sets on each kind of detection; a confirm window is set only where the signal has one.
_SPIKE_TIMINGS = (
    "window",
    "baseline_window",
    "baseline_step",
    "baseline_min_history",
    "for_",
    "keep_firing_for",
    "min_denominator",
    "min_events",
)
_ANY_INCREASE_TIMINGS = ("window", "for_", "keep_firing_for")


@dataclass(frozen=True)
class Profile:
    """Timings applied to every signal; `None` keeps the catalogue's value."""

    name: str
    window: Duration | None = None
    confirm_window: Duration | None = None
    baseline_window: Duration | None = None
    baseline_step: Duration | None = None
    baseline_min_history: Duration | None = None
    for_: Duration | None = None
    keep_firing_for: Duration | None = None
    min_denominator: float | None = None
    min_events: float | None = None
    rate_interval: Duration = Duration(30)  # evaluation interval of the short-window group
    baseline_interval: Duration = Duration(300)  # evaluation interval of the baseline group

    def apply(self, signal: MonitoringSignal) -> MonitoringSignal:
        spike, any_increase = signal.spike, signal.any_increase
        if spike is not None:
            changes = {k: getattr(self, k) for k in _SPIKE_TIMINGS if getattr(self, k) is not None}
            if spike.confirm_window is not None and self.confirm_window is not None:
                changes["confirm_window"] = self.confirm_window
            spike = dataclasses.replace(spike, **changes)
        if any_increase is not None:
            changes = {k: getattr(self, k) for k in _ANY_INCREASE_TIMINGS if getattr(self, k) is not None}
            any_increase = dataclasses.replace(any_increase, **changes)
        return dataclasses.replace(signal, spike=spike, any_increase=any_increase)


PRODUCTION = Profile("production")
DEMO = Profile(
    "demo",
    window=Duration(60),
    confirm_window=Duration(30),
    baseline_window=Duration(300),
    baseline_step=Duration(30),
    baseline_min_history=Duration(120),
    for_=Duration(5),
    keep_firing_for=Duration(30),
    min_denominator=30,
    min_events=5,
    rate_interval=Duration(1),
    baseline_interval=Duration(1),
)
PROFILES: dict[str, Profile] = {p.name: p for p in (PRODUCTION, DEMO)}
