"""User-defined PII patterns, loaded from YAML.

Every app has identifiers of its own (employee ids, policy numbers) that no built-in rule knows. The file
is read once at start-up, so a mistake in it should stop the app with a message naming the file and the
field, not surface later as a silent miss:

    patterns:
      - name: employee_id          # optional; becomes the finding's subtype
        entity_type: EMPLOYEE_ID   # required; the metric label and placeholder text
        regex: 'EMP-\\d{6}'         # required; a named group "value" narrows the span
        validator: luhn            # optional; one of validators.VALIDATORS
        ignore_case: false         # optional
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import yaml

from otel_ai_incident.guardrails.pii.patterns import RegexRecognizer
from otel_ai_incident.guardrails.pii.validators import VALIDATORS

_ENTITY_TYPE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_FIELDS = frozenset({"name", "entity_type", "regex", "validator", "ignore_case"})


class PatternFileError(ValueError):
    """A custom-pattern file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class CustomPattern:
    """One user rule: matches of `regex` (confirmed by the named validator, if any) are `entity_type`."""

    name: str
    entity_type: str
    regex: re.Pattern[str]
    validator: str | None = None

    def __post_init__(self) -> None:
        if not _ENTITY_TYPE.fullmatch(self.entity_type):
            raise ValueError(f"entity_type {self.entity_type!r} must be upper case letters, digits and _")
        if self.validator is not None and self.validator not in VALIDATORS:
            raise ValueError(f"unknown validator {self.validator!r}; choose from {', '.join(sorted(VALIDATORS))}")

    def recognizer(self) -> RegexRecognizer:
        check = VALIDATORS[self.validator] if self.validator else None
        return RegexRecognizer(self.entity_type, self.name, self.regex, check=check)


def load_custom_patterns(path: str | os.PathLike[str]) -> list[CustomPattern]:
    """The patterns of a YAML file: a list of entries, or a mapping with a `patterns` list."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
    except OSError as exc:
        raise PatternFileError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        raise PatternFileError(f"{path}: not valid YAML{at}") from None
    entries = document.get("patterns") if isinstance(document, dict) else document
    if not isinstance(entries, list):
        raise PatternFileError(f"{path}: patterns: expected a list of patterns")
    return [_parse_entry(path, f"patterns[{index}]", entry) for index, entry in enumerate(entries)]


def _parse_entry(path: str | os.PathLike[str], where: str, entry: Any) -> CustomPattern:
    def fail(field: str, problem: str) -> PatternFileError:
        return PatternFileError(f"{path}: {where}.{field}: {problem}")

    if not isinstance(entry, dict):
        raise PatternFileError(f"{path}: {where}: expected a mapping with entity_type and regex")
    unknown = sorted(set(entry) - _FIELDS, key=str)
    if unknown:
        raise fail(str(unknown[0]), f"unknown field; allowed: {', '.join(sorted(_FIELDS))}")
    entity_type = entry.get("entity_type")
    if not isinstance(entity_type, str) or not _ENTITY_TYPE.fullmatch(entity_type):
        raise fail("entity_type", "required; upper case letters, digits and _ (e.g. EMPLOYEE_ID)")
    name = entry.get("name", entity_type.lower())
    if not isinstance(name, str) or not name:
        raise fail("name", "expected a non-empty string")
    source = entry.get("regex")
    if not isinstance(source, str) or not source:
        raise fail("regex", "required; a regular expression string")
    ignore_case = entry.get("ignore_case", False)
    if not isinstance(ignore_case, bool):
        raise fail("ignore_case", "expected true or false")
    try:
        regex = re.compile(source, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise fail("regex", f"invalid regular expression: {exc}") from None
    validator = entry.get("validator")
    if validator is not None and validator not in VALIDATORS:
        raise fail("validator", f"unknown validator {validator!r}; choose from {', '.join(sorted(VALIDATORS))}")
    return CustomPattern(name, entity_type, regex, validator)
