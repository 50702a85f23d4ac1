"""Reproduce a logged turn: once with the system prompt live at the time, once with the current one.

The model is any callable with this signature (keyword arguments only; `messages` in chat format, without
the system message)::

    def llm(*, model: str, system: str, messages: list[dict[str, str]]) -> str

`otel_ai_incident.incidents.openai_llm:llm` adapts the official OpenAI client; `fake_llm:llm` is a
deterministic stand-in for tests. The PII guardrail is re-run on both answers, and the replay counts as
reproduced when the old prompt gives the guardrail outcome the logged turn had. The prompt log keeps one
user message per turn, not the conversation before it, so a turn that depended on earlier context may not
reproduce: that is a logging gap, and the post-mortem's Reproduction section is where it is written down.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from collections.abc import Callable

from otel_ai_incident import names
from otel_ai_incident.guardrails.output import PiiAction, PiiOutputGuard
from otel_ai_incident.incidents.model import Replay, ReplayRun
from otel_ai_incident.promptlog.entry import PromptLogEntry, system_prompt_hash
from otel_ai_incident.promptlog.store import PromptLogStore

LLM = Callable[..., str]


class ReplayError(Exception):
    """The turn cannot be replayed; the message says which data is missing."""


def load_callable(spec: str) -> Callable[..., object]:
    """`package.module:function`, imported from the working directory too (as `python -m` would)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ReplayError(f"{spec!r} is not module:function")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ReplayError(f"cannot load {spec}: {error}") from None
    if not callable(target):
        raise ReplayError(f"{spec} is not callable")
    return target


def logged_pii_decision(entry: PromptLogEntry) -> str | None:
    """The output PII guardrail's decision on the logged turn, or None if it did not run."""
    return next(
        (
            d.get(names.DECISION)
            for d in entry.guardrail_decisions
            if d.get(names.GUARDRAIL) == names.GUARDRAIL_PII and d.get(names.STAGE) == names.Stage.OUTPUT
        ),
        None,
    )


def prompt_of_the_time(log: PromptLogStore, entry: PromptLogEntry) -> str:
    """The exact system prompt the turn ran with, from the content-addressed store."""
    if entry.system_prompt_hash is None:
        raise ReplayError(f"entry {entry.log_id} has no system prompt hash")
    text = log.get_system_prompt(entry.system_prompt_hash)
    if text is None:
        raise ReplayError(f"system prompt {entry.system_prompt_hash[:12]} of entry {entry.log_id} is not stored")
    return text


def prompt_diff(old_prompt: str, new_prompt: str) -> list[str]:
    """The unified diff from the prompt of the time to the current one (no lines when they are the same),
    each side labelled with the start of its hash, the name the prompt log and the incident give it."""
    return [
        line.rstrip("\n")
        for line in difflib.unified_diff(
            old_prompt.splitlines(keepends=True),
            new_prompt.splitlines(keepends=True),
            fromfile=f"prompt of the time {system_prompt_hash(old_prompt)[:12]}",
            tofile=f"current prompt {system_prompt_hash(new_prompt)[:12]}",
        )
    ]


def replay(entry: PromptLogEntry, old_prompt: str, new_prompt: str, llm: LLM, *, now: float) -> Replay:
    if entry.user_message is None:
        raise ReplayError(f"entry {entry.log_id} has no user message")
    guard = PiiOutputGuard(action=PiiAction.REDACT)

    def run(system: str) -> ReplayRun:
        answer = llm(model=entry.model, system=system, messages=[{"role": "user", "content": entry.user_message}])
        check = guard.check(str(answer))
        return ReplayRun(system_prompt_hash(system), check.text, check.decision, tuple(sorted(check.entity_counts)))

    return Replay(entry.log_id, now, entry.model, logged_pii_decision(entry), run(old_prompt), run(new_prompt))
