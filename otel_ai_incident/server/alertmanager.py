"""The Alertmanager webhook payload, version 4, as typed models.

Every field Alertmanager sends is required, so a payload from something else fails loudly (422) instead of
acting on half an alert; fields added by newer Alertmanager versions (e.g. `notification_reason`) are kept
but ignored. Attributes are snake_case; the wire names are Alertmanager's camelCase aliases.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from otel_ai_incident import names
from otel_ai_incident.signals.model import alert_priority

AlertStatus = Literal["firing", "resolved"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


class Alert(_Model):
    status: AlertStatus
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime = Field(alias="endsAt")  # year 1 while firing
    generator_url: str = Field(alias="generatorURL")
    fingerprint: str = Field(min_length=1)

    @property
    def key(self) -> str:
        """Idempotency key: `endsAt` changes between notifications of one firing alert, these do not."""
        return f"{self.fingerprint}|{self.starts_at.isoformat()}|{self.status}"

    @property
    def severity(self) -> str | None:
        """The priority (p1, p2, p3) that incidents and playbooks use, from either label form (`alert_priority`)."""
        priority = alert_priority(self.labels)
        return None if priority is None else priority.value

    @property
    def incident_type(self) -> str | None:
        return self.labels.get(names.ALERT_LABEL_INCIDENT_TYPE)


class Notification(_Model):
    version: Literal["4"]
    group_key: str = Field(alias="groupKey", min_length=1)
    truncated_alerts: int = Field(alias="truncatedAlerts", ge=0)
    status: AlertStatus
    receiver: str
    group_labels: dict[str, str] = Field(alias="groupLabels")
    common_labels: dict[str, str] = Field(alias="commonLabels")
    common_annotations: dict[str, str] = Field(alias="commonAnnotations")
    external_url: str = Field(alias="externalURL")
    alerts: list[Alert] = Field(min_length=1)
