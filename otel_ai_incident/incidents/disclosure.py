"""Who must be told what, and by when: the design text's disclosure requirements, and the GDPR Art. 33 clock.

The clock starts at awareness, which for an incident opened by an alert is the first notification the
receiver got: from then on the controller knows (or should know) that personal data may have leaked. Whether
the GDPR definition of a breach is met is a human judgement; the clock only shows what is left if it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from otel_ai_incident.incidents.model import EventKind, Incident
from otel_ai_incident.incidents.text import utc
from otel_ai_incident.names import IncidentType

GDPR_ART_33_WINDOW_S = 72 * 3600


@dataclass(frozen=True)
class DisclosureRequirement:
    trigger: str
    timeline: str
    audience: str
    required_content: tuple[str, ...]
    regulatory_basis: str


GDPR_ART_33 = DisclosureRequirement(
    trigger="Personal data breach (GDPR definition met)",
    timeline="72 hours from awareness",
    audience="Supervisory authority (e.g., ICO for UK, lead DPA for EU)",
    required_content=(
        "Nature of the breach",
        "Categories and approximate number of individuals affected",
        "Likely consequences",
        "Measures taken or proposed",
    ),
    regulatory_basis="GDPR Article 33",
)
GDPR_ART_34 = DisclosureRequirement(
    trigger="Breach likely to result in high risk to individuals",
    timeline="Without undue delay",
    audience="Affected individuals",
    required_content=(
        "Nature of the breach in plain language",
        "DPO contact details",
        "Likely consequences",
        "Measures individuals can take to protect themselves",
    ),
    regulatory_basis="GDPR Article 34",
)
CONTRACT_SLA = DisclosureRequirement(
    trigger="Service disruption or safety incident",
    timeline="Per customer contract SLA",
    audience="Affected customers",
    required_content=("What happened", "Impact on their service", "Actions taken", "Timeline to resolution"),
    regulatory_basis="Contract / SLA",
)
DISCLOSURE_REQUIREMENTS: tuple[DisclosureRequirement, ...] = (GDPR_ART_33, GDPR_ART_34, CONTRACT_SLA)


def requirements_for(incident_type: str) -> tuple[DisclosureRequirement, ...]:
    """A leak may be a personal data breach (all three apply); any other incident may still breach an SLA."""
    if incident_type == IncidentType.DATA_LEAKAGE:
        return DISCLOSURE_REQUIREMENTS
    return (CONTRACT_SLA,)


@dataclass(frozen=True)
class BreachClock:
    """The Art. 33 deadline as seen at `now`."""

    aware_at: float
    now: float

    @property
    def deadline(self) -> float:
        return self.aware_at + GDPR_ART_33_WINDOW_S

    @property
    def remaining_s(self) -> float:
        """Seconds left; negative once overdue."""
        return self.deadline - self.now

    @property
    def overdue(self) -> bool:
        return self.remaining_s < 0

    def describe(self) -> str:
        left = _hours_minutes(abs(self.remaining_s))
        return f"overdue by {left}" if self.overdue else f"{left} remaining"

    def to_json(self) -> dict[str, float | bool]:
        return {
            "aware_at": self.aware_at,
            "deadline": self.deadline,
            "remaining_s": self.remaining_s,
            "overdue": self.overdue,
        }


def breach_clock(incident: Incident, now: float) -> BreachClock | None:
    """The clock of a data-leakage incident, from its first notification; None for other types."""
    notified = incident.first(EventKind.NOTIFIED)
    if incident.incident_type != IncidentType.DATA_LEAKAGE or notified is None:
        return None
    return BreachClock(notified.at, now)


def _hours_minutes(seconds: float) -> str:
    hours, minutes = divmod(int(seconds) // 60, 60)
    return f"{hours}h{minutes:02d}m"


def disclosure_lines(incident: Incident, now: float) -> list[str]:
    """What `incidents show` and the post-mortem say about disclosure: the clock first, then each duty."""
    lines = []
    clock = breach_clock(incident, now)
    if clock is not None:
        lines.append(
            f"{GDPR_ART_33.regulatory_basis} clock: aware at {utc(clock.aware_at)} (first notification), "
            f"deadline {utc(clock.deadline)}, {clock.describe()}"
        )
    for requirement in requirements_for(incident.incident_type):
        lines.append(
            f"{requirement.regulatory_basis}: {requirement.timeline}, to {requirement.audience}, "
            f"if: {requirement.trigger}. Content: {'; '.join(requirement.required_content)}."
        )
    return lines
