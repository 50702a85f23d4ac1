"""An entry as a table row, the same for every backend: columns, their order, JSON text, text a database takes.

Both backends keep the entry's fields as columns in the entry's order, then `scrubbed_at`; the guardrail
decisions and tool calls go in as JSON text. Building the row is most of the writer's CPU per entry, so the
JSON encoder is built once: `json.dumps` builds a new one per call, which doubled the cost of a small list.

A database refuses some text that Python strings can hold (PostgreSQL: NUL characters; both: lone
surrogates, which have no UTF-8 form; JSON: NaN and infinities). One such entry would fail its whole batch,
so a store retries a refused batch with `sanitized` entries, which put U+FFFD (or, for a non-finite number
inside JSON, null) where the database would not.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import fields
from json import encoder as _json_encoder
from operator import attrgetter
from typing import Any

from otel_ai_incident.promptlog.entry import PromptLogEntry

#: The entry's fields that are columns, in order; its system prompt's text goes to `system_prompts`.
ENTRY_COLUMNS = tuple(f.name for f in fields(PromptLogEntry) if f.name != "system_prompt")
#: A written row: the entry's columns, then when its texts were scrubbed.
ROW_COLUMNS = (*ENTRY_COLUMNS, "scrubbed_at")
JSON_COLUMNS = ("guardrail_decisions", "tool_calls")
BOOL_COLUMNS = ("refused", "incident_flag")

_JSON_INDEXES = tuple(ENTRY_COLUMNS.index(name) for name in JSON_COLUMNS)
_entry_values = attrgetter(*ENTRY_COLUMNS)
_all_fields = attrgetter(*(f.name for f in fields(PromptLogEntry)))
_REFUSED_TEXT = re.compile("[\x00\ud800-\udfff]")


def _json_encoder_once() -> Any:
    """Compact JSON (non-ASCII kept as is), `str()` for what JSON has no type for, NaN refused."""
    make = _json_encoder.c_make_encoder
    if make is None:  # no C accelerator: the pure-Python encoder, built once all the same
        return json.JSONEncoder(separators=(",", ":"), default=str, ensure_ascii=False, allow_nan=False).encode
    encode = make(None, str, _json_encoder.encode_basestring, None, ":", ",", False, False, False)
    return lambda value: "".join(encode(value, 0))


encode_json = _json_encoder_once()


def entry_row(entry: PromptLogEntry, scrubbed_at: float | None) -> list[Any]:
    """The row of `ROW_COLUMNS`; ValueError when a JSON field holds NaN or an infinity."""
    values = [*_entry_values(entry), scrubbed_at]
    for index in _JSON_INDEXES:
        values[index] = encode_json(values[index]) if values[index] else "[]"
    return values


def entry_rows(entries: Sequence[PromptLogEntry], scrubbed_at: float | None) -> list[list[Any]]:
    """Rows of a batch, all `sanitized` when one held a number JSON refuses (text the database refuses is
    only found by the database: the store retries with `sanitized` entries then)."""
    try:
        return [entry_row(entry, scrubbed_at) for entry in entries]
    except ValueError:
        return [entry_row(sanitized(entry), scrubbed_at) for entry in entries]


def sanitized(entry: PromptLogEntry) -> PromptLogEntry:
    """The entry with U+FFFD for NUL characters and lone surrogates in any text (JSON keys and values too),
    and null for non-finite numbers inside the JSON fields; equal to the entry when it has none."""
    values = [_clean_text(v) if isinstance(v, str) else v for v in _all_fields(entry)]
    entry = PromptLogEntry(*values)
    entry.guardrail_decisions = _clean_json(entry.guardrail_decisions)
    entry.tool_calls = _clean_json(entry.tool_calls)
    return entry


def _clean_text(text: str) -> str:
    return _REFUSED_TEXT.sub("\ufffd", text)


def _clean_json(value: Any) -> Any:
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {_clean_text(str(key)): _clean_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_json(item) for item in value]
    return value


class SystemPrompts:
    """The system prompts a store object has already written, so that each text is sent once per process
    rather than with every entry (the database skips a hash it has; this only saves the round trip)."""

    _LIMIT = 4096

    def __init__(self) -> None:
        self._known: set[str] = set()

    def new(self, entries: Sequence[PromptLogEntry]) -> dict[str, tuple[str, str, float]]:
        """hash -> (hash, text, first seen) of the batch's prompts not written yet by this store."""
        known = self._known
        prompts: dict[str, tuple[str, str, float]] = {}
        for entry in entries:
            prompt_hash = entry.system_prompt_hash
            if entry.system_prompt is not None and prompt_hash is not None and prompt_hash not in known:
                prompts.setdefault(prompt_hash, (prompt_hash, entry.system_prompt, entry.timestamp))
        return prompts

    def written(self, prompts: Iterable[str]) -> None:
        """Remember hashes once their batch committed."""
        prompts = list(prompts)
        if len(self._known) + len(prompts) > self._LIMIT:
            self._known.clear()
        self._known.update(prompts)
