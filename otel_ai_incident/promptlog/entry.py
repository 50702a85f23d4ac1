"""What one LLM turn leaves in the prompt log.

The fields are those an investigation needs to reproduce a turn: the full input and output (scrubbed in a
separate pass), the pseudonymised user, the hash of the system prompt that was live, and the ids of the
turn's span so a trace and a log entry lead to each other.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


def system_prompt_hash(system_prompt: str) -> str:
    """Content address of a system prompt: the key under which its text is stored once."""
    return hashlib.sha256(system_prompt.encode("utf-8")).hexdigest()


@dataclass(slots=True)
class PromptLogEntry:
    log_id: str
    timestamp: float
    user_pseudonym: str | None
    pseudonym_key_id: str | None
    session_id: str | None
    model: str
    system_prompt_hash: str | None
    user_message: str | None
    assistant_response: str | None
    input_tokens: int | None = None
    output_tokens: int | None = None
    guardrail_decisions: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    latency_ms: float | None = None
    outcome: str = "ok"
    refused: bool = False
    error_type: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    incident_flag: bool = False
    #: The system prompt's text, handed to the store so it can keep it once under its hash.
    system_prompt: str | None = None
