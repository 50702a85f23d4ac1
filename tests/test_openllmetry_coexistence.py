"""Side by side with OpenLLMetry's instrumentations of the OpenAI and Anthropic clients (the packages
`opentelemetry-instrumentation-openai` and `-anthropic` that traceloop-sdk installs), on the real clients with
their HTTP layer mocked.

OpenLLMetry traces and counts the request itself (an `openai.chat` / `anthropic.chat` span, its own duration
and token histograms): one call must give one such span and one duration record, so rules and dashboards
count it once, while our turn, gate and prompt log stay.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from anthropic.resources.messages import AsyncMessages, Messages
from openai.resources.chat.completions import AsyncCompletions, Completions

import otel_ai_incident as aii
from conftest import missing
from otel_ai_incident import names
from otel_ai_incident.telemetry.integrations import anthropic as anthropic_integration
from otel_ai_incident.telemetry.integrations.openai import instrument_openai, uninstrument_openai
from telemetry_support import Pipeline
from test_anthropic_integration import MESSAGES as ANTHROPIC_MESSAGES
from test_anthropic_integration import MODEL as ANTHROPIC_MODEL
from test_anthropic_integration import FakeApi as AnthropicApi
from test_anthropic_integration import message
from test_openai_integration import MESSAGES, MODEL, FakeApi, KillSwitch, completion, reply_json, use_pipeline

os.environ.setdefault("TRACELOOP_TELEMETRY", "false")  # OpenLLMetry's own usage reporting: no network


@dataclass(frozen=True)
class Client:
    """One client: OpenLLMetry's instrumentor of it, ours, and one chat call through a mocked transport."""

    instrumentor: str  # module holding OpenLLMetry's instrumentor
    instrumentor_class: str
    span: str  # the name of OpenLLMetry's span for a chat call
    model: str
    instrument: Callable[[], None]
    uninstrument: Callable[[], None]
    api: Callable[[], Any]  # the mocked API, answering one chat call
    call: Callable[[Any], Any]  # one chat call to that API
    resources: tuple[type, ...]  # the SDK classes whose methods the instrumentations wrap

    def theirs(self, pipe: Pipeline) -> Any:
        try:
            module = importlib.import_module(self.instrumentor)
        except ImportError as error:
            missing(f"{self.instrumentor} (OpenLLMetry) is not installed ({error})")
        return pipe.instrument(getattr(module, self.instrumentor_class)())


def _openai_call(api: FakeApi) -> Any:
    return api.client().chat.completions.create(model=MODEL, messages=MESSAGES)


def _anthropic_call(api: AnthropicApi) -> Any:
    return api.client().messages.create(model=ANTHROPIC_MODEL, max_tokens=64, messages=ANTHROPIC_MESSAGES)


CLIENTS = {
    "openai": Client(
        "opentelemetry.instrumentation.openai",
        "OpenAIInstrumentor",
        "openai.chat",
        MODEL,
        instrument_openai,
        uninstrument_openai,
        lambda: FakeApi(reply_json(completion())),
        _openai_call,
        (Completions, AsyncCompletions),
    ),
    "anthropic": Client(
        "opentelemetry.instrumentation.anthropic",
        "AnthropicInstrumentor",
        "anthropic.chat",
        ANTHROPIC_MODEL,
        anthropic_integration.INTEGRATION.instrument,
        anthropic_integration.INTEGRATION.uninstrument,
        lambda: AnthropicApi(reply_json(message())),
        _anthropic_call,
        (Messages, AsyncMessages),
    ),
}


def both_on(client: Client, pipe: Pipeline, theirs_first: bool) -> Iterator[None]:
    """Both instrumentations on in the given order, and off again in the reverse one; then the SDK's methods as
    they were, since OpenLLMetry 0.62's uninstrument leaves OpenAI's `Completions.create` wrapped (openai 3.x),
    which later tests of this process would meet."""
    saved = [(resource, dict(vars(resource))) for resource in client.resources]
    try:
        yield from _both_on(client, pipe, theirs_first)
    finally:
        for resource, attributes in saved:
            for name, value in attributes.items():
                if vars(resource).get(name) is not value:
                    setattr(resource, name, value)


def _both_on(client: Client, pipe: Pipeline, theirs_first: bool) -> Iterator[None]:
    if theirs_first:
        theirs = client.theirs(pipe)
        client.instrument()
    else:
        client.instrument()
        theirs = client.theirs(pipe)
    try:
        yield
    finally:
        if theirs_first:
            client.uninstrument()
            theirs.uninstrument()
        else:
            theirs.uninstrument()
            client.uninstrument()


def turns(pipe: Pipeline, client: Client, outcome: str) -> Any:
    return pipe.value(names.TURNS, **{names.GEN_AI_REQUEST_MODEL: client.model, names.OUTCOME: outcome})


@pytest.mark.parametrize("theirs_first", [True, False], ids=["theirs first", "ours first"])
@pytest.mark.parametrize("name", sorted(CLIENTS))
def test_one_call_gives_one_span_and_one_duration_record(name: str, theirs_first: bool) -> None:
    client = CLIENTS[name]
    pipeline = use_pipeline()
    pipe, api = next(pipeline), client.api()
    try:
        with aii.turn_context(user_id="alice"):
            for _ in both_on(client, pipe, theirs_first):
                result = client.call(api)
    finally:
        pipeline.close()
    assert result is not None and len(api.requests) == 1
    genai = [s for s in pipe.spans() if s.name != "invoke_agent"]
    assert [s.name for s in genai] == [client.span]  # theirs traces the request; ours adds no `chat` span
    assert pipe.records(names.OPERATION_DURATION.name) == 1  # theirs, under the name it records
    assert pipe.records(names.INFERENCE_DURATION.name) == 0
    (turn,) = [s for s in pipe.spans() if s.name == "invoke_agent"]
    assert turn.attributes[names.ENDUSER_PSEUDO_ID] == pipe.runtime.pseudonymizer.pseudonymize("alice")
    assert turns(pipe, client, "ok") == 1
    (entry,) = pipe.runtime.prompt_log.entries
    assert entry.user_message == "where is my order?" and entry.assistant_response
    assert entry.input_tokens and entry.output_tokens  # read from the reply, counted by theirs


@pytest.mark.parametrize("name", sorted(CLIENTS))
def test_the_gate_still_stops_the_call_before_any_request(name: str) -> None:
    client = CLIENTS[name]
    pipeline = use_pipeline(gate=KillSwitch())
    pipe, api = next(pipeline), client.api()
    try:
        for _ in both_on(client, pipe, theirs_first=True):
            with pytest.raises(aii.ContainmentActive):
                client.call(api)
    finally:
        pipeline.close()
    assert api.requests == [] and [s.name for s in pipe.spans()] == ["invoke_agent"]
    assert turns(pipe, client, "contained") == 1
