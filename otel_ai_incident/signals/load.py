"""The catalogue a deployment runs: the built-ins, overridden, extended or disabled by a signals file.

Whatever reads signals (the generator, the receiver, the investigation commands) loads them here, so a
signal from a file reaches rules, containment targets and blast radius alike. The file is read in three
steps: its shape against the versioned spec (`spec`, pydantic), its signals merged into the built-ins, and
every resulting signal against the contract (`validate`). Each problem is one `SignalConfigError` naming the
file, the signal and the field in plain words.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from otel_ai_incident.signals.catalogue import BUILTIN_SIGNALS
from otel_ai_incident.signals.model import DEFAULT_TARGET_LABELS, AnyIncrease, MonitoringSignal, Spike
from otel_ai_incident.signals.validate import (
    BUILTIN_SOURCE,
    SignalConfigError,
    check_target_labels,
    check_unique,
    validate,
)

if TYPE_CHECKING:
    from pydantic import ValidationError
    from pydantic_core import ErrorDetails

    from otel_ai_incident.signals.spec import SignalsFile, SignalSpec

PANEL_STEP = 10
_DETECTIONS: dict[str, type[Spike] | type[AnyIncrease]] = {"spike": Spike, "any_increase": AnyIncrease}
_EXPECTED = {
    "float_type": "a number",
    "int_type": "a whole number",
    "string_type": "text",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def load_signals(
    path: Path | str | None = None, base: Iterable[MonitoringSignal] = BUILTIN_SIGNALS
) -> list[MonitoringSignal]:
    """The catalogue: `base` (the built-ins) with the signals of the file at `path`, if any, laid over it.

    A signal with a built-in's name changes only the fields it gives (`enabled: false` removes it); a new
    name must give every required field and is numbered after the last dashboard panel unless it says.
    The file's `aggregate_by` labels are kept by every signal's aggregations, before namespace and job, and
    its `severity_levels` set the alerts' conventional `severity` label per priority.
    """
    catalogue = {signal.name: validate(signal, BUILTIN_SOURCE) for signal in base}
    if path is None:
        return list(catalogue.values())
    source = str(path)
    document = _read(Path(path), source)
    check_target_labels(document.aggregate_by, source)
    targets = tuple(dict.fromkeys((*document.aggregate_by, *DEFAULT_TARGET_LABELS)))
    catalogue = {name: dataclasses.replace(signal, target_labels=targets) for name, signal in catalogue.items()}
    for entry in document.signals:
        if not entry.enabled:
            if catalogue.pop(entry.name, None) is None:
                known = ", ".join(catalogue)
                raise SignalConfigError(source, f"no such signal to disable (known: {known})", signal=entry.name)
            continue
        next_panel = max((s.dashboard_panel for s in catalogue.values()), default=0) + PANEL_STEP
        signal = _merge(entry, catalogue.get(entry.name), source, next_panel, targets)
        catalogue[signal.name] = validate(signal, source)
    check_unique(catalogue.values(), source)
    levels = document.severity_levels
    return [dataclasses.replace(s, severity_level=levels.get(s.severity)) for s in catalogue.values()]


def _read(path: Path, source: str) -> SignalsFile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SignalConfigError(source, f"cannot read the file: {error.strerror or error}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise SignalConfigError(source, f"not valid YAML: {_yaml_problem(error)}") from None
    if not isinstance(document, Mapping):
        raise SignalConfigError(source, "expected a mapping with a 'signals' list (and 'version: 1')")
    # Imported here: only a file needs pydantic (the `server` extra), so the built-in catalogue loads without it.
    from pydantic import ValidationError

    from otel_ai_incident.signals.spec import SignalsFile

    try:
        return SignalsFile.model_validate(document)
    except ValidationError as error:
        raise _plain(error, document, source) from None


def _yaml_problem(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        what = "; ".join(part for part in (error.context, error.problem) if part)
        return f"line {mark.line + 1}, column {mark.column + 1}: {what}"
    return str(error)


def _plain(error: ValidationError, document: Mapping[str, Any], source: str) -> SignalConfigError:
    """The first problem pydantic found, said where it is: the signal by name (or position) and the field."""
    first = error.errors(include_url=False)[0]
    loc: tuple[str | int, ...] = tuple(first["loc"])
    signal: str | int | None = None
    if len(loc) > 1 and loc[0] == "signals" and isinstance(loc[1], int):
        entry = document["signals"][loc[1]]
        name = entry.get("name") if isinstance(entry, Mapping) else None
        signal = name if isinstance(name, str) else loc[1] + 1
        loc = loc[2:]
    context = first.get("ctx") or {}
    if "field" in context:  # the spec's own errors about a key (unknown, null, version) name it here
        loc = (*loc, context["field"])
    return SignalConfigError(source, _problem(first), signal=signal, field_name=_field_path(loc) or None)


def _field_path(loc: tuple[str | int, ...]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")


def _problem(error: ErrorDetails) -> str:
    kind, context = error["type"], error.get("ctx") or {}
    if kind == "missing":
        return "required"
    if kind == "value_error":
        return str(context["error"])
    if kind == "enum":
        return f"{error['input']!r} is not one of {context['expected']}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {error['input']!r}"
    if kind == "greater_than_equal":
        return f"must be >= {context['ge']}"
    return str(error["msg"])


def _merge(
    entry: SignalSpec, base: MonitoringSignal | None, source: str, next_panel: int, targets: tuple[str, ...]
) -> MonitoringSignal:
    """The signal the entry describes: `base` with the entry's fields, or a new signal from them alone (on the
    dashboard at `next_panel` unless it says). A target label in `by` is dropped: every sum keeps it anyway."""
    given = entry.model_fields_set - {"name", "enabled"}
    values: dict[str, Any] = {key: getattr(entry, key) for key in given - set(_DETECTIONS)}
    for key in given & set(_DETECTIONS):
        detection = getattr(entry, key)
        if detection is None:  # `spike: null` removes a built-in's detection
            values[key] = None
            continue
        fields = {name: getattr(detection, name) for name in detection.model_fields_set}
        if "by" in fields:
            fields["by"] = tuple(label for label in fields["by"] if label not in targets)
        current = getattr(base, key) if base is not None else None
        values[key] = _build(_DETECTIONS[key], fields, current, source, entry.name, key)
    if base is None:
        values.setdefault("dashboard_panel", next_panel)
        values["target_labels"] = targets
    return _build(MonitoringSignal, {"name": entry.name, **values}, base, source, entry.name, None)


def _build(cls: type, values: dict[str, Any], base: Any, source: str, signal: str, key: str | None) -> Any:
    if base is not None:
        return dataclasses.replace(base, **values)
    required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
    missing = [name for name in required if name not in values]
    if missing:
        what = "a new signal" if key is None else f"the {key} of a new signal"
        problem = f"missing, required for {what}: {', '.join(missing)}"
        raise SignalConfigError(source, problem, signal=signal, field_name=key)
    return cls(**values)
