"""The notify file (`serve --notify FILE`): where the receiver pushes incident updates, validated up front.

    version: 1
    incident_url: https://incidents.example.com/ui/incidents/{id}   # optional: the link in each message
    p1_reminder_interval_s: 1800      # a reminder this often while a P1 is open (default 30 minutes)
    delivery:                         # all optional
      timeout_s: 5                    # per request
      max_attempts: 30                # give up after this many attempts ...
      max_age_s: 86400                # ... or when the update is this old
    targets:
      - name: incident-channel        # the `target` label of the metrics and the name on the timeline
        kind: slack                   # slack (incoming webhook) | json (the versioned payload, docs)
        url_env: AII_SLACK_WEBHOOK_URL   # exactly one of url_env, url_file, url
        events: [incident_opened, containment_applied, containment_pending, incident_resolved,
                 incident_reopened, incident_closed, p1_reminder, gdpr_reminder]   # optional (default: all)

A webhook URL is a secret (whoever has it can post to the channel): give it by environment variable or
file, so the notify file itself can be shared. It is held as a `SecretStr` and never logged or shown in an
error; problems name the file and the target only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from otel_ai_incident.incidents.notifications import NotificationEvent
from otel_ai_incident.incidents.reminders import DEFAULT_P1_INTERVAL_S


class TargetKind(StrEnum):
    SLACK = "slack"
    JSON = "json"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TargetSpec(_Spec):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    kind: TargetKind
    url: SecretStr | None = None
    url_env: str | None = None
    url_file: Path | None = None
    events: frozenset[NotificationEvent] = frozenset(NotificationEvent)

    @model_validator(mode="after")
    def _one_url(self) -> TargetSpec:
        if sum(x is not None for x in (self.url, self.url_env, self.url_file)) != 1:
            raise ValueError("give exactly one of url_env, url_file, url")
        return self


class DeliverySpec(_Spec):
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    max_attempts: int = Field(default=30, ge=1)
    max_age_s: float = Field(default=86400.0, gt=0)


class NotifySpec(_Spec):
    version: Literal[1]
    incident_url: str | None = Field(default=None, pattern=r"^https?://.*\{id\}")
    p1_reminder_interval_s: float = Field(default=DEFAULT_P1_INTERVAL_S, gt=0)
    delivery: DeliverySpec = DeliverySpec()
    targets: list[TargetSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> NotifySpec:
        names = [t.name for t in self.targets]
        if len(set(names)) != len(names):
            raise ValueError("target names must be unique")
        return self


class Target(BaseModel):
    """A target with its URL resolved (from the file, the environment or a secret file)."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: TargetKind
    url: SecretStr
    events: frozenset[NotificationEvent]

    def wants(self, event: NotificationEvent) -> bool:
        return event in self.events


class NotifyConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    targets: tuple[Target, ...] = ()
    incident_url: str | None = None
    p1_reminder_interval_s: float = DEFAULT_P1_INTERVAL_S
    delivery: DeliverySpec = DeliverySpec()

    def link(self, incident_id: str) -> str | None:
        return None if self.incident_url is None else self.incident_url.replace("{id}", incident_id)


class NotifyConfigError(ValueError):
    """A notify file that cannot be used; the message names the file and the target, never a URL."""


def load_notify_config(path: str | Path, environ: Mapping[str, str] = os.environ) -> NotifyConfig:
    """The notify file at `path`, validated, with every target's URL resolved."""
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise NotifyConfigError(f"{path}: cannot read the notify file: {error}") from None
    try:
        spec = NotifySpec.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}"
            for e in error.errors(include_url=False, include_input=False)
        )
        raise NotifyConfigError(f"{path}: {problems}") from None
    targets = tuple(Target(name=t.name, kind=t.kind, url=_url(path, t, environ), events=t.events) for t in spec.targets)
    return NotifyConfig(
        targets=targets,
        incident_url=spec.incident_url,
        p1_reminder_interval_s=spec.p1_reminder_interval_s,
        delivery=spec.delivery,
    )


def _url(path: str | Path, target: TargetSpec, environ: Mapping[str, str]) -> SecretStr:
    where = f"{path}: target {target.name!r}"
    if target.url is not None:
        value = target.url.get_secret_value()
    elif target.url_env is not None:
        value = environ.get(target.url_env, "")
        if not value:
            raise NotifyConfigError(f"{where}: the environment variable {target.url_env} is not set")
    else:
        try:
            value = Path(target.url_file).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise NotifyConfigError(f"{where}: cannot read url_file: {error.strerror}") from None
    if not value.startswith(("https://", "http://")):
        raise NotifyConfigError(f"{where}: the URL must start with https:// or http://")
    return SecretStr(value)
