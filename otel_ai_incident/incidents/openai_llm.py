"""`replay --llm otel_ai_incident.incidents.openai_llm:llm`: the official OpenAI client as the replay model.

The client is imported on first use (the `openai` extra) and reads OPENAI_API_KEY, OPENAI_BASE_URL and the
other variables it documents, so an OpenAI-compatible gateway works too. Sampling is left at the API's
defaults: the prompt log does not record the app's, and a replay should not pretend to know them.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def _client() -> Any:
    from openai import OpenAI

    return OpenAI()


def llm(*, model: str, system: str, messages: list[dict[str, str]]) -> str:
    response = _client().chat.completions.create(
        model=model, messages=[{"role": "system", "content": system}, *messages]
    )
    return response.choices[0].message.content or ""
