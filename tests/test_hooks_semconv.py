"""The convention generations in the hooks: metric names, dual emission, content capture modes, events."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest

import otel_ai_incident as aii
from otel_ai_incident import names
from otel_ai_incident.telemetry import hooks, model_call
from otel_ai_incident.telemetry.content import to_json
from otel_ai_incident.telemetry.semconv import content_capture
from telemetry_support import ListSink, Pipeline, make_pipeline

MODEL = "gpt-test"
REPLY = aii.ModelReply(
    response_id="r-1", response_model="gpt-test-1", finish_reasons=("stop",), input_tokens=30, output_tokens=4
)
LATEST = (names.LATEST_GENERATION,)
DUP = (names.DEFAULT_GENERATION, names.LATEST_GENERATION)


def _turn(pipe: Pipeline, reply: aii.ModelReply = REPLY, **request) -> None:
    hooks.set_runtime(pipe.runtime)
    try:
        with aii.llm_turn(model=MODEL, system_prompt="be brief", user_message="hi") as turn:
            turn.guardrail("toxicity", stage="output", decision="redact", score=0.4)
            with turn.model_call(server_address="llm.test", server_port=443, **request) as call:
                call.reply(reply)
            turn.complete("hello")
    finally:
        hooks.set_runtime(None)


def _labels(**extra: object) -> dict[str, object]:
    return {
        names.GEN_AI_OPERATION_NAME: "chat",
        names.GEN_AI_PROVIDER_NAME: "unknown",
        names.GEN_AI_REQUEST_MODEL: MODEL,
        names.GEN_AI_RESPONSE_MODEL: "gpt-test-1",
        names.SERVER_ADDRESS: "llm.test",
        names.SERVER_PORT: 443,
        **extra,
    }


@pytest.mark.parametrize(
    ("opt_in", "expected"),
    [
        (None, (names.DEFAULT_GENERATION,)),
        ("", (names.DEFAULT_GENERATION,)),
        ("http", (names.DEFAULT_GENERATION,)),
        ("gen_ai_latest_experimental", LATEST),
        ("http/dup, gen_ai_latest_experimental", LATEST),
        ("gen_ai_latest_experimental,gen_ai/dup", DUP),  # dup wins, as http/dup over http
    ],
)
def test_the_opt_in_selects_the_generations(opt_in: str | None, expected: tuple) -> None:
    assert names.generations_from_opt_in(opt_in) == expected


def test_latest_generation_reports_inference_duration_and_token_counters() -> None:
    pipe = make_pipeline(generations=LATEST)
    _turn(pipe)
    assert pipe.value(names.INFERENCE_DURATION, **_labels()).count == 1
    assert pipe.value(names.INFERENCE_INPUT_TOKENS, **_labels()) == 30
    assert pipe.value(names.INFERENCE_OUTPUT_TOKENS, **_labels()) == 4
    assert pipe.points(names.OPERATION_DURATION) == {} and pipe.points(names.TOKEN_USAGE) == {}


def test_dual_emission_reports_both_generations_once_each() -> None:
    pipe = make_pipeline(generations=DUP)
    _turn(pipe)
    assert pipe.value(names.OPERATION_DURATION, **_labels()).count == 1
    assert pipe.value(names.INFERENCE_DURATION, **_labels()).count == 1
    assert pipe.value(names.TOKEN_USAGE, **_labels(**{names.GEN_AI_TOKEN_TYPE: "output"})).sum == 4
    assert pipe.value(names.INFERENCE_OUTPUT_TOKENS, **_labels()) == 4
    guard = dict(pipe.span("run_guardrail toxicity").attributes)
    assert guard[names.GUARDRAIL_PR_427.verdict] == "modify" and guard[names.GUARDRAIL_PR_427.action] == "modify"
    assert guard[names.GEN_AI_SECURITY_DECISION_TYPE] == "modify"  # the closed proposal's names, for migration
    assert guard[names.GEN_AI_GUARDIAN_NAME] == "toxicity" and guard[names.GEN_AI_SECURITY_TARGET_TYPE] == "llm_output"
    assert guard[names.GEN_AI_SECURITY_SCORE] == guard[names.GUARDRAIL_PR_427.score] == pytest.approx(0.4)


@pytest.mark.parametrize(
    ("generations", "value", "mode"),
    [
        ((names.DEFAULT_GENERATION,), "true", names.ContentCapture.SPAN_ONLY),
        ((names.DEFAULT_GENERATION,), "False", names.ContentCapture.NO_CONTENT),
        ((names.DEFAULT_GENERATION,), "", names.ContentCapture.NO_CONTENT),
        ((names.DEFAULT_GENERATION,), "SPAN_AND_EVENT", names.ContentCapture.NO_CONTENT),  # needs the opt-in
        (LATEST, "span_and_event", names.ContentCapture.SPAN_AND_EVENT),
        (LATEST, "EVENT_ONLY", names.ContentCapture.EVENT_ONLY),
        (LATEST, "SPAN_ONLY", names.ContentCapture.SPAN_ONLY),
        (LATEST, "NO_CONTENT", names.ContentCapture.NO_CONTENT),
        (LATEST, "true", names.ContentCapture.NO_CONTENT),  # today's value is not a mode of the current ones
        (DUP, "true", names.ContentCapture.SPAN_ONLY),
        (DUP, "EVENT_ONLY", names.ContentCapture.EVENT_ONLY),
    ],
)
def test_content_capture_modes_as_each_generation_defines_them(
    generations: tuple, value: str, mode: names.ContentCapture, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_ai_incident"):
        assert content_capture(generations, value) is mode
    unknown = value.strip().upper() not in {v for g in generations for v in g.content_values}
    assert bool(caplog.records) is unknown


def _content_pipe(mode: names.ContentCapture) -> Pipeline:
    pipe = make_pipeline(generations=LATEST, capture_content=mode, prompt_log=ListSink())
    history = [
        {"role": "user", "parts": [{"type": "text", "content": "where is order 7?"}]},
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "c1", "name": "get_order", "arguments": {"id": 7}}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "shipped"}]},
    ]
    tools = [{"type": "function", "name": "get_order", "parameters": {"type": "object"}}]
    reply = dataclasses.replace(
        REPLY, output_messages=[{"role": "assistant", "parts": [{"type": "text", "content": "it shipped"}]}]
    )
    _turn(pipe, reply, system_instructions="be brief", input_messages=history, tool_definitions=tools)
    return pipe


def test_span_only_puts_the_whole_history_and_tool_definitions_on_the_model_span() -> None:
    pipe = _content_pipe(names.ContentCapture.SPAN_ONLY)
    attrs = dict(pipe.span(f"chat {MODEL}").attributes)
    history = json.loads(attrs[names.GEN_AI_INPUT_MESSAGES])
    assert [m["role"] for m in history] == ["user", "assistant", "tool"]
    assert history[1]["parts"][0]["type"] == "tool_call"
    assert json.loads(attrs[names.GEN_AI_TOOL_DEFINITIONS])[0]["name"] == "get_order"
    assert json.loads(attrs[names.GEN_AI_SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "be brief"}]
    assert pipe.events(names.EVENT_INFERENCE_DETAILS) == []


def test_event_only_keeps_content_off_spans_and_in_the_details_event() -> None:
    pipe = _content_pipe(names.ContentCapture.EVENT_ONLY)
    for span in pipe.spans():
        assert names.GEN_AI_INPUT_MESSAGES not in span.attributes and "be brief" not in json.dumps(
            dict(span.attributes)
        )
    (event,) = pipe.events(names.EVENT_INFERENCE_DETAILS)
    assert "where is order 7?" in event[names.GEN_AI_INPUT_MESSAGES]
    assert event[names.GEN_AI_RESPONSE_ID] == "r-1" and event[names.GEN_AI_REQUEST_MODEL] == MODEL
    record = pipe.logs_exporter.get_finished_logs()[0].log_record
    assert record.span_id == pipe.span(f"chat {MODEL}").context.span_id  # the event belongs to the model call


def test_span_and_event_does_both_and_no_content_neither(monkeypatch: pytest.MonkeyPatch) -> None:
    encoded: list[str] = []
    monkeypatch.setattr(model_call, "to_json", lambda value: encoded.append(to_json(value)) or encoded[-1])
    both = _content_pipe(names.ContentCapture.SPAN_AND_EVENT)
    span = dict(both.span(f"chat {MODEL}").attributes)
    (event,) = both.events(names.EVENT_INFERENCE_DETAILS)
    content = (
        names.GEN_AI_SYSTEM_INSTRUCTIONS,
        names.GEN_AI_INPUT_MESSAGES,
        names.GEN_AI_TOOL_DEFINITIONS,
        names.GEN_AI_OUTPUT_MESSAGES,
    )
    assert [span[key] for key in content] == [event[key] for key in content]
    assert sorted(encoded) == sorted(span[key] for key in content)  # each encoded once, for both
    neither = _content_pipe(names.ContentCapture.NO_CONTENT)
    assert names.GEN_AI_INPUT_MESSAGES not in neither.span(f"chat {MODEL}").attributes
    assert neither.events(names.EVENT_INFERENCE_DETAILS) == []
