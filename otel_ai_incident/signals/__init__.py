"""Monitoring signals: what an AI incident looks like in the contract's metrics.

`model` (the types), `catalogue` (the built-ins: the one place to add a signal), `profiles` (production and
demo timings), `validate` (checks against the series the hooks emit), `spec` (the versioned file format,
pydantic) and `load` (a file laid over the built-ins). This package re-exports the model, the catalogue, the
profiles and the error; `load` and `spec` are imported by their own paths, so that importing the model never
brings in the file reader or pydantic.
"""

from otel_ai_incident.signals.catalogue import BUILTIN_SIGNALS
from otel_ai_incident.signals.model import (
    BUCKET_LABEL,
    DEFAULT_SEVERITY_LEVELS,
    DEFAULT_TARGET_LABELS,
    JOB_LABEL,
    NAMESPACE_LABEL,
    AlertSeverity,
    AnyIncrease,
    Duration,
    Matcher,
    MonitoringSignal,
    Selector,
    Spike,
)
from otel_ai_incident.signals.profiles import DEMO, PRODUCTION, PROFILES, Profile
from otel_ai_incident.signals.validate import SignalConfigError

__all__ = [
    "BUCKET_LABEL",
    "BUILTIN_SIGNALS",
    "DEFAULT_SEVERITY_LEVELS",
    "DEFAULT_TARGET_LABELS",
    "DEMO",
    "JOB_LABEL",
    "NAMESPACE_LABEL",
    "PRODUCTION",
    "PROFILES",
    "AlertSeverity",
    "AnyIncrease",
    "Duration",
    "Matcher",
    "MonitoringSignal",
    "Profile",
    "Selector",
    "SignalConfigError",
    "Spike",
]
