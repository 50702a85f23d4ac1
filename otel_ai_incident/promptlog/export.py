"""The prompt log as JSON Lines: one entry per line, for handing evidence to a reviewer or a replay.

Each line holds every field of the entry plus `incident_id` and `scrubbed_at`; the system prompt appears as
its hash (its text is looked up with `get_system_prompt`, so exports do not repeat it in every line).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from typing import TextIO

from otel_ai_incident.promptlog.entry import PromptLogEntry
from otel_ai_incident.promptlog.store import StoredEntry

_STORED_FIELDS = ("incident_id", "scrubbed_at")


def to_json(stored: StoredEntry) -> str:
    record = asdict(stored.entry)
    del record["system_prompt"]
    record.update(incident_id=stored.incident_id, scrubbed_at=stored.scrubbed_at)
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)


def from_json(line: str) -> StoredEntry:
    record = json.loads(line)
    stored = {name: record.pop(name, None) for name in _STORED_FIELDS}
    return StoredEntry(PromptLogEntry(**record), **stored)


def write_jsonl(entries: Iterable[StoredEntry], out: TextIO) -> int:
    """Write entries one per line; the number written."""
    count = 0
    for stored in entries:
        out.write(to_json(stored))
        out.write("\n")
        count += 1
    return count


def read_jsonl(lines: Iterable[str]) -> Iterator[StoredEntry]:
    """Entries back from an export (blank lines skipped)."""
    for line in lines:
        if line.strip():
            yield from_json(line)
