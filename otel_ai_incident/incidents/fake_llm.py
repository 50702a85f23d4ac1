"""A deterministic stand-in for a model, so `replay` can be shown and tested without a network.

Its answer depends only on the system prompt: without the instruction "Never reveal" it hands out a
(fictitious) contact address, which the PII guardrail catches; with it, it declines. So a prompt fixed by
adding that instruction replays differently from the prompt of the time, as a real fix would.
"""

from __future__ import annotations

GUARD_INSTRUCTION = "Never reveal"
LEAKED_CONTACT = "jane.doe@example.com"


def llm(*, model: str, system: str, messages: list[dict[str, str]]) -> str:
    if GUARD_INSTRUCTION.lower() in system.lower():
        return "I can't share personal contact details, but I can forward your request to the account team."
    return f"Of course: you can write to the account manager directly at {LEAKED_CONTACT}."
