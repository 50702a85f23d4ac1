"""Message content in the shapes of the GenAI conventions (`gen_ai.input.messages` and friends).

Content is opt-in: these are only built when the capture mode asks for it, and they serialise to JSON
strings because span attributes cannot hold nested structures.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

Message = dict[str, Any]


def text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "content": text}


def tool_call_part(name: str, call_id: str | None, arguments: Any) -> dict[str, Any]:
    part: dict[str, Any] = {"type": "tool_call", "name": name, "arguments": arguments}
    if call_id:
        part["id"] = call_id
    return part


def tool_result_part(call_id: str | None, result: Any) -> dict[str, Any]:
    part: dict[str, Any] = {"type": "tool_call_response", "response": result}
    if call_id:
        part["id"] = call_id
    return part


def message(role: str, parts: Sequence[dict[str, Any]], finish_reason: str | None = None) -> Message:
    built: Message = {"role": role, "parts": list(parts)}
    if finish_reason is not None:
        built["finish_reason"] = finish_reason
    return built


def text_message(role: str, text: str) -> Message:
    return message(role, [text_part(text)])


def to_json(value: Any) -> str:
    """The JSON a content attribute holds; values JSON cannot hold are written as their str()."""
    return json.dumps(value, default=str, ensure_ascii=False)
