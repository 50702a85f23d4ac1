"""The signals file, version 1: the public format users write, kept apart from the internal model.

A file adds, overrides or disables signals of the built-in catalogue:

    version: 1                      # optional; a file of another version is refused
    aggregate_by: [cluster]         # optional; target labels kept besides namespace and job
    severity_levels: {p2: critical} # optional; the alerts' `severity` label per priority
    signals:
      - name: refusal_rate_spike    # a built-in: only the fields given change
        spike: {multiple: 2, for: 5m}
      - name: anomalous_tool_usage
        enabled: false              # removed from the catalogue
      - name: input_block_rate      # a new signal: description, detection_method, severity,
        incident_type: jailbreak_wave  # incident_type and a spike or any_increase are required

These pydantic models are the format's one definition: `load` validates files with them, and the JSON
Schema published for editors and CI (docs/signals.schema.json, `json_schema()`) is generated from them.
Every field is optional here because an override gives only what it changes; what a new signal must give,
and whether a series or label exists, is checked after the merge (`load`, `validate`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from otel_ai_incident.signals.model import DURATION_PATTERN, AlertSeverity, Duration, Selector
from otel_ai_incident.signals.validate import ALERTNAME_PATTERN, LABEL_PATTERN, NAME_PATTERN

VERSION = 1
UNKNOWN_FIELD = "unknown_field"
NULL_FIELD = "null_field"
UNSUPPORTED_VERSION = "unsupported_version"


def _duration(value: Any) -> Duration:
    if not isinstance(value, str):
        raise ValueError(f"expected a duration like 30s, 10m, 1h or 7d, got {value!r}")
    return Duration.parse(value)


def _selector(value: Any) -> Selector:
    if isinstance(value, str):
        return Selector.parse(value)
    if isinstance(value, Mapping) and set(value) <= {"metric", "above"} and isinstance(value.get("metric"), str):
        above = value.get("above")
        if above is not None and (isinstance(above, bool) or not isinstance(above, int | float)):
            raise ValueError(f"above: expected a bucket boundary (a number), got {above!r}")
        return Selector.parse(value["metric"], None if above is None else float(above))
    raise ValueError(f'expected a selector like metric{{label="value"}} or {{metric: ..., above: 0.8}}, got {value!r}')


_SELECTOR_TEXT = {
    "type": "string",
    "description": 'a contract series and its label matchers, e.g. ai_guardrail_decisions_total{stage="input"}',
}
DurationText = Annotated[
    Duration,
    PlainValidator(_duration),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["30s", "10m", "1h30m", "7d"]}),
]
SelectorText = Annotated[
    Selector,
    PlainValidator(_selector),
    WithJsonSchema(
        {
            "anyOf": [
                _SELECTOR_TEXT,
                {
                    "type": "object",
                    "description": "the observations of a histogram above one of its bucket boundaries",
                    "properties": {"metric": _SELECTOR_TEXT, "above": {"type": "number"}},
                    "required": ["metric"],
                    "additionalProperties": False,
                },
            ]
        }
    ),
]
Number = Annotated[float, Field(strict=True)]
Labels = Annotated[
    list[str], Field(strict=True, description="labels to aggregate by (the target labels, `aggregate_by`, are kept)")
]
LabelValue = Annotated[str, Field(strict=True, min_length=1)]
LabelName = Annotated[str, Field(strict=True, pattern=LABEL_PATTERN)]
Text = Annotated[str, Field(strict=True)]
Name = Annotated[str, Field(strict=True, json_schema_extra={"pattern": NAME_PATTERN})]
AlertName = Annotated[str, Field(strict=True, json_schema_extra={"pattern": ALERTNAME_PATTERN})]


class _Spec(BaseModel):
    """Refuses unknown fields (naming the known ones, so a typo never passes as a default) and nulls."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: Fields whose null means something (removing a built-in's detection or confirm window).
    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _check_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            known = sorted(field.alias or name for name, field in cls.model_fields.items())
            for key, value in data.items():
                if key not in known:
                    context = {"field": str(key), "known": ", ".join(known)}
                    raise PydanticCustomError(UNKNOWN_FIELD, "unknown field (known: {known})", context)
                if value is None and key not in cls.nullable:
                    raise PydanticCustomError(NULL_FIELD, "expected a value, got null", {"field": str(key)})
        return data


class SpikeSpec(_Spec):
    """A ratio over a short window compared with a multiple of its own 7-day baseline."""

    nullable = frozenset({"confirm_window"})

    alertname: AlertName | None = None
    numerator: SelectorText | None = None
    denominator: SelectorText | None = None
    multiple: Number | None = Field(None, description="the ratio must exceed this multiple of its baseline")
    floor: Number | None = Field(None, description="the lowest baseline assumed, so a zero baseline cannot page")
    absolute_threshold: Number | None = Field(None, description="the threshold before the baseline is trusted")
    window: DurationText | None = None
    confirm_window: DurationText | None = Field(None, description="a shorter window that must agree (null: none)")
    baseline_window: DurationText | None = None
    baseline_step: DurationText | None = None
    baseline_min_history: DurationText | None = None
    min_denominator: Number | None = None
    min_events: Number | None = None
    for_: DurationText | None = Field(None, alias="for")
    keep_firing_for: DurationText | None = None
    by: Labels | None = None


class AnyIncreaseSpec(_Spec):
    """Any new event of a selector fires, including the first one of a series that is new."""

    alertname: AlertName | None = None
    selector: SelectorText | None = None
    window: DurationText | None = None
    for_: DurationText | None = Field(None, alias="for")
    keep_firing_for: DurationText | None = None
    by: Labels | None = None


class SignalSpec(_Spec):
    """One signal: a built-in's name overrides only the fields given; a new name must give all required ones."""

    nullable = frozenset({"spike", "any_increase"})

    name: Name
    enabled: Annotated[bool, Field(strict=True)] = True
    description: Text | None = None
    detection_method: Text | None = None
    severity: AlertSeverity | None = None
    incident_type: Name | None = None
    dashboard_panel: Annotated[int, Field(strict=True, ge=1)] | None = Field(
        None, description="panel id in the dashboard (default: after the last one)"
    )
    rationale: Text | None = None
    spike: SpikeSpec | None = Field(None, description="null removes a built-in's spike detection")
    any_increase: AnyIncreaseSpec | None = Field(None, description="null removes a built-in's any_increase detection")


class SignalsFile(_Spec):
    """A signals file: its format version and the signals it adds, overrides or disables."""

    model_config = ConfigDict(title="otel-ai-incident signals file")

    version: Literal[1] = Field(VERSION, description="the format version; files of another version are refused")
    aggregate_by: list[LabelName] = Field(
        [],
        description="target labels every recording rule, baseline and alert keeps besides namespace and job "
        "(e.g. cluster, tenant); a series without one aggregates under the empty value",
    )
    severity_levels: dict[AlertSeverity, LabelValue] = Field(
        {},
        description="the alerts' conventional `severity` label for each priority (default: p1 critical, "
        "p2 warning, p3 info); the priority itself is the `priority` label",
    )
    signals: list[SignalSpec]

    @model_validator(mode="before")
    @classmethod
    def _supported_version(cls, data: Any) -> Any:
        version = data.get("version", VERSION) if isinstance(data, Mapping) else VERSION
        if version != VERSION or isinstance(version, bool):
            raise PydanticCustomError(
                UNSUPPORTED_VERSION,
                "version {version} is not supported: this otel-ai-incident reads version {supported}",
                {"field": "version", "version": repr(version), "supported": VERSION},
            )
        return data


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a signals file, for editors (yaml-language-server) and CI.

    Fields are optional in the models so that an override gives only what it changes; in the schema, a field
    accepts null only where null removes something (`nullable`), and shows no `default: null`.
    """
    schema = SignalsFile.model_json_schema(mode="validation")
    for model in (SignalSpec, SpikeSpec, AnyIncreaseSpec):
        properties = schema["$defs"][model.__name__]["properties"]
        for name, field in model.model_fields.items():
            prop = properties[field.alias or name]
            if prop.get("default", ...) is None:
                del prop["default"]
            if name not in model.nullable and "anyOf" in prop:
                kept = [branch for branch in prop.pop("anyOf") if branch != {"type": "null"}]
                prop.update(kept[0] if len(kept) == 1 else {"anyOf": kept})
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
