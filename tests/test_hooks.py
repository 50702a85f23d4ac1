"""The hooks against in-memory OpenTelemetry pipelines: spans, metrics, errors, privacy, concurrency."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time

import pytest
from opentelemetry.trace import SpanKind, StatusCode

import otel_ai_incident as aii
from otel_ai_incident import names
from otel_ai_incident.telemetry import hooks
from telemetry_support import ListSink, Pipeline, make_pipeline

MODEL = "gpt-test"
RAW_USER = "alice@example.com"
MESSAGE = "my card number is 4111 1111 1111 1111"


@pytest.fixture
def pipe() -> Pipeline:
    pipeline = make_pipeline(prompt_log=ListSink())
    hooks.set_runtime(pipeline.runtime)
    yield pipeline
    hooks.set_runtime(None)


REPLY = aii.ModelReply(
    response_id="resp-1", response_model="gpt-test-0613", finish_reasons=("stop",), input_tokens=42, output_tokens=7
)
SERVER = {"server_address": "llm.example.com", "server_port": 8443}
TURN_SPAN = "invoke_agent"


def _full_turn(**kwargs) -> str:
    with aii.llm_turn(
        model=MODEL, user_id=RAW_USER, session_id="sess-1", system_prompt="be nice", user_message=MESSAGE, **kwargs
    ) as turn:
        turn.guardrail("prompt_injection", stage="input", decision="allow", score=0.02)
        with turn.model_call(temperature=0.2, max_tokens=300, top_p=0.9, **SERVER) as call:
            call.reply(REPLY)
        with turn.tool_call("delete_record", {"id": 42}, writes=True, call_id="call-1"):
            pass
        turn.guardrail("toxicity", stage=names.Stage.OUTPUT, decision=names.Decision.BLOCK, score=0.97)
        turn.complete("hello there")
        return turn.log_id


def test_turn_span_is_the_apps_and_holds_the_prompt_log_id(pipe: Pipeline) -> None:
    log_id = _full_turn(agent_name="support")
    span = pipe.span("invoke_agent support")
    assert span.kind is SpanKind.INTERNAL
    attrs = dict(span.attributes)
    assert attrs[names.GEN_AI_OPERATION_NAME] == "invoke_agent"
    assert attrs[names.GEN_AI_AGENT_NAME] == "support"
    assert attrs[names.GEN_AI_REQUEST_MODEL] == MODEL
    assert attrs[names.GEN_AI_CONVERSATION_ID] == "sess-1"
    assert attrs[names.AI_SYSTEM_PROMPT_HASH] == hashlib.sha256(b"be nice").hexdigest()
    assert attrs[names.AI_PROMPT_LOG_ID] == log_id
    assert attrs[names.ENDUSER_PSEUDO_ID] == pipe.runtime.pseudonymizer.pseudonymize(RAW_USER)
    assert attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == 42  # the model calls' usage, summed
    assert span.status.status_code is StatusCode.UNSET


def test_model_call_is_a_client_span_with_the_request_and_response(pipe: Pipeline) -> None:
    _full_turn()
    span = pipe.span(f"chat {MODEL}")
    assert span.kind is SpanKind.CLIENT
    assert span.parent.span_id == pipe.span(TURN_SPAN).context.span_id
    attrs = dict(span.attributes)
    assert attrs[names.GEN_AI_OPERATION_NAME] == "chat"
    assert attrs[names.GEN_AI_PROVIDER_NAME] == "unknown"
    assert attrs[names.GEN_AI_REQUEST_MODEL] == MODEL
    assert attrs[names.GEN_AI_REQUEST_TEMPERATURE] == pytest.approx(0.2)
    assert attrs[names.GEN_AI_REQUEST_MAX_TOKENS] == 300
    assert attrs[names.GEN_AI_REQUEST_TOP_P] == pytest.approx(0.9)
    assert attrs[names.SERVER_ADDRESS] == "llm.example.com" and attrs[names.SERVER_PORT] == 8443
    assert attrs[names.GEN_AI_RESPONSE_ID] == "resp-1"
    assert attrs[names.GEN_AI_RESPONSE_MODEL] == "gpt-test-0613"
    assert attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == 42 and attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == 7
    assert names.AI_PROMPT_LOG_ID not in attrs and names.ENDUSER_PSEUDO_ID not in attrs


def test_app_work_inside_the_turn_is_not_model_latency(pipe: Pipeline) -> None:
    with aii.llm_turn(model=MODEL) as turn:
        time.sleep(0.05)  # the app's own work: retrieval, a guardrail
        with turn.model_call() as call:
            time.sleep(0.01)
            call.reply(REPLY)
        time.sleep(0.05)
    chat, agent = pipe.span(f"chat {MODEL}"), pipe.span(TURN_SPAN)
    chat_s, agent_s = (chat.end_time - chat.start_time) / 1e9, (agent.end_time - agent.start_time) / 1e9
    assert 0.01 <= chat_s <= agent_s - 0.1  # the 100 ms of app work around the call stay out of it
    (duration,) = pipe.points(names.OPERATION_DURATION).values()
    assert 0.01 <= duration.sum <= chat_s


def test_no_raw_user_id_or_content_on_spans_by_default(pipe: Pipeline) -> None:
    _full_turn()
    for span in pipe.spans():
        for key, value in span.attributes.items():
            text = str(value)
            assert RAW_USER not in text and "alice" not in text, key
            assert "4111" not in text and "hello there" not in text and "be nice" not in text, key
    pseudonym = dict(pipe.span(TURN_SPAN).attributes)[names.ENDUSER_PSEUDO_ID]
    assert pseudonym != hashlib.sha256(RAW_USER.encode()).hexdigest()[: len(pseudonym)]


def test_content_capture_puts_messages_on_spans() -> None:
    pipe = make_pipeline(capture_content=True)
    hooks.set_runtime(pipe.runtime)
    try:
        _full_turn()
    finally:
        hooks.set_runtime(None)
    attrs = dict(pipe.span(TURN_SPAN).attributes)
    assert MESSAGE in attrs[names.GEN_AI_INPUT_MESSAGES]
    assert "hello there" in attrs[names.GEN_AI_OUTPUT_MESSAGES]
    assert "be nice" in attrs[names.GEN_AI_SYSTEM_INSTRUCTIONS]
    assert '"id": 42' in dict(pipe.span("execute_tool delete_record").attributes)[names.GEN_AI_TOOL_CALL_ARGUMENTS]


def test_children_hang_off_the_turn_span(pipe: Pipeline) -> None:
    _full_turn()
    turn = pipe.span(TURN_SPAN)
    tool = pipe.span("execute_tool delete_record")
    guard = pipe.span("run_guardrail toxicity")
    for child in (tool, guard, pipe.span("run_guardrail prompt_injection"), pipe.span(f"chat {MODEL}")):
        assert child.parent.span_id == turn.context.span_id
        assert child.context.trace_id == turn.context.trace_id
    assert tool.kind is SpanKind.INTERNAL
    assert dict(tool.attributes)[names.GEN_AI_TOOL_CALL_ID] == "call-1"
    assert dict(tool.attributes)[names.AI_TOOL_WRITES] is True
    vocabulary = names.GUARDRAIL_PR_427
    assert dict(guard.attributes) == {
        names.GEN_AI_OPERATION_NAME: "run_guardrail",
        vocabulary.component: "toxicity",
        vocabulary.target_type: "output",
        vocabulary.target_subtype: "llm",
        vocabulary.verdict: "deny",
        vocabulary.action: "block",
        vocabulary.score: pytest.approx(0.97),
    }


def test_metrics_of_a_full_turn(pipe: Pipeline) -> None:
    _full_turn()
    assert pipe.value(names.TURNS, **{names.GEN_AI_REQUEST_MODEL: MODEL, names.OUTCOME: "ok"}) == 1
    assert pipe.value(names.TURNS, **{names.GEN_AI_REQUEST_MODEL: MODEL, names.OUTCOME: "error"}) == 0
    assert pipe.value(names.GUARDRAIL_DECISIONS, guardrail="toxicity", stage="output", decision="block") == 1
    assert pipe.value(names.GUARDRAIL_DECISIONS, guardrail="toxicity", stage="output", decision="allow") == 0
    assert pipe.value(names.TOOL_CALLS, **{names.GEN_AI_TOOL_NAME: "delete_record", names.OUTCOME: "ok"}) == 1
    assert pipe.value(names.TOOL_CALLS, **{names.GEN_AI_TOOL_NAME: "delete_record", names.OUTCOME: "blocked"}) == 0
    op = {
        names.GEN_AI_OPERATION_NAME: "chat",
        names.GEN_AI_PROVIDER_NAME: "unknown",
        names.GEN_AI_REQUEST_MODEL: MODEL,
        names.GEN_AI_RESPONSE_MODEL: "gpt-test-0613",
        names.SERVER_ADDRESS: "llm.example.com",
        names.SERVER_PORT: 8443,
    }
    duration = pipe.value(names.OPERATION_DURATION, **op)
    assert duration.count == 1
    assert tuple(duration.explicit_bounds) == names.DURATION_BUCKETS
    tokens = pipe.value(names.TOKEN_USAGE, **op, **{names.GEN_AI_TOKEN_TYPE: "input"})
    assert tokens.sum == 42 and tuple(tokens.explicit_bounds) == tuple(float(b) for b in names.TOKEN_BUCKETS)


def test_prompt_log_entry_and_span_point_to_each_other(pipe: Pipeline) -> None:
    log_id = _full_turn()
    (entry,) = pipe.runtime.prompt_log.entries
    span = pipe.span(TURN_SPAN)
    assert entry.log_id == log_id
    assert entry.trace_id == f"{span.context.trace_id:032x}" and entry.span_id == f"{span.context.span_id:016x}"
    assert entry.user_pseudonym == dict(span.attributes)[names.ENDUSER_PSEUDO_ID]
    assert entry.pseudonym_key_id == pipe.runtime.pseudonymizer.key_id
    assert entry.user_message == MESSAGE and entry.assistant_response == "hello there"
    assert entry.system_prompt == "be nice" and entry.system_prompt_hash == hashlib.sha256(b"be nice").hexdigest()
    assert [g["decision"] for g in entry.guardrail_decisions] == ["allow", "block"]
    assert entry.tool_calls[0]["tool"] == "delete_record" and entry.tool_calls[0]["outcome"] == "ok"
    assert entry.input_tokens == 42 and entry.output_tokens == 7 and entry.latency_ms >= 0


def test_log_ids_sort_by_time(pipe: Pipeline) -> None:
    ids = [_full_turn() for _ in range(50)]
    assert len(set(ids)) == 50
    assert [i[:12] for i in ids] == sorted(i[:12] for i in ids)


def test_user_exception_is_recorded_and_reraised_unchanged(pipe: Pipeline) -> None:
    class ModelTimeout(Exception):
        pass

    original = ModelTimeout("upstream timed out for alice@example.com")
    with pytest.raises(ModelTimeout) as raised, aii.llm_turn(model=MODEL, user_id=RAW_USER) as turn, turn.model_call():
        raise original
    assert raised.value is original
    for span in (pipe.span(f"chat {MODEL}"), pipe.span(TURN_SPAN)):
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes[names.ERROR_TYPE] == ModelTimeout.__qualname__
        assert "alice" not in str(span.status.description) and not span.events
    span = pipe.span(f"chat {MODEL}")
    assert pipe.value(names.TURNS, **{names.GEN_AI_REQUEST_MODEL: MODEL, names.OUTCOME: "error"}) == 1
    durations = pipe.points(names.OPERATION_DURATION)
    assert any(dict(k).get(names.ERROR_TYPE) == span.attributes[names.ERROR_TYPE] for k in durations)


def test_tool_error_counts_and_reraises(pipe: Pipeline) -> None:
    with pytest.raises(KeyError), aii.llm_turn(model=MODEL) as turn, turn.tool_call("lookup", {"k": 1}):
        raise KeyError("k")
    assert pipe.value(names.TOOL_CALLS, **{names.GEN_AI_TOOL_NAME: "lookup", names.OUTCOME: "error"}) == 1
    assert pipe.span("execute_tool lookup").attributes[names.ERROR_TYPE] == "KeyError"


def test_refusal_counts_once_per_turn(pipe: Pipeline) -> None:
    with aii.llm_turn(model=MODEL) as turn:
        turn.refusal()
        turn.refusal()
    assert pipe.value(names.REFUSALS, **{names.GEN_AI_REQUEST_MODEL: MODEL}) == 1
    assert pipe.runtime.prompt_log.entries[0].refused is True


def test_user_reports_by_kind_and_severity(pipe: Pipeline) -> None:
    aii.report_user_feedback(kind="harmful", severity="P1", session_id="s", log_id="x")
    aii.report_user_feedback(kind="harmful", severity=names.Severity.P2)
    aii.report_user_feedback(kind="harmful", severity="urgent")  # not a severity: counted as our error
    assert pipe.value(names.USER_REPORTS, kind="harmful", severity="p1") == 1
    assert pipe.value(names.USER_REPORTS, kind="harmful", severity="p2") == 1
    assert pipe.value(names.USER_REPORTS, kind="harmful", severity="p3") == 0
    assert pipe.value(names.INSTRUMENTATION_ERRORS, component="report_user_feedback") == 1
    first, second = pipe.events(names.EVENT_EVALUATION_RESULT)
    assert first[names.GEN_AI_EVALUATION_NAME] == "user_feedback"
    assert first[names.GEN_AI_EVALUATION_SCORE_LABEL] == "harmful" and first[names.AI_USER_REPORT_SEVERITY] == "p1"
    assert first[names.GEN_AI_CONVERSATION_ID] == "s" and first[names.AI_PROMPT_LOG_ID] == "x"
    assert second[names.AI_USER_REPORT_SEVERITY] == "p2" and names.AI_PROMPT_LOG_ID not in second
    assert not [s for s in pipe.spans() if s.name == "report_user_feedback"]


def test_alert_series_exist_at_zero_before_the_first_event(pipe: Pipeline) -> None:
    with aii.llm_turn(model="m-new") as turn:
        turn.guardrail("toxicity", stage="output", decision="allow")
    assert pipe.value(names.GUARDRAIL_DECISIONS, guardrail="toxicity", stage="output", decision="block") == 0
    assert pipe.value(names.GUARDRAIL_DECISIONS, guardrail="pii", stage="output", decision="redact") == 0
    assert pipe.value(names.REFUSALS, **{names.GEN_AI_REQUEST_MODEL: "m-new"}) == 0
    assert pipe.value(names.USER_REPORTS, kind="harmful", severity="p1") == 0
    for action in names.ContainmentActionName:
        assert pipe.value(names.CONTAINMENT_ENFORCED, action=action.value) == 0
    for reason in names.PromptLogDropReason:
        assert pipe.value(names.PROMPT_LOG_DROPPED, reason=reason.value) == 0


class _BrokenGate:
    def turn_blocked(self, user_pseudonym):
        raise RuntimeError("state unreadable")

    def tool_blocked(self, tool, writes):
        raise RuntimeError("state unreadable")

    def guardrail_threshold(self, guardrail, default):
        raise RuntimeError("state unreadable")


class _BrokenSink:
    def submit(self, entry):
        raise OSError("disk full")

    def close(self, timeout):
        return None


def test_our_own_errors_never_reach_the_app() -> None:
    pipe = make_pipeline(gate=_BrokenGate(), prompt_log=_BrokenSink())
    hooks.set_runtime(pipe.runtime)
    try:
        with aii.llm_turn(model=MODEL) as turn:
            turn.guardrail("toxicity", stage="sideways", decision="allow")  # bad stage
            with turn.tool_call("search", {"q": "x"}):
                pass
            turn.complete("ok")
        assert aii.guardrail_threshold("toxicity", default=0.8) == 0.8
    finally:
        hooks.set_runtime(None)
    errors = {dict(k)[names.COMPONENT]: v for k, v in pipe.points(names.INSTRUMENTATION_ERRORS).items()}
    assert errors == {"llm_turn": 2, "guardrail": 1, "tool_call": 1, "guardrail_threshold": 1}
    assert pipe.value(names.TURNS, **{names.GEN_AI_REQUEST_MODEL: MODEL, names.OUTCOME: "ok"}) == 1


class _Gate:
    def __init__(self, turn=None, tool=None, threshold=None):
        self.turn, self.tool, self.threshold = turn, tool, threshold

    def turn_blocked(self, user_pseudonym):
        return self.turn

    def tool_blocked(self, tool, writes):
        return self.tool if writes else None

    def guardrail_threshold(self, guardrail, default):
        return self.threshold if self.threshold is not None else default


def test_kill_switch_refuses_the_turn_before_the_block_runs() -> None:
    pipe = make_pipeline(gate=_Gate(turn=("kill_switch", None)), prompt_log=ListSink())
    hooks.set_runtime(pipe.runtime)
    ran = False
    try:
        with pytest.raises(aii.ContainmentActive) as raised, aii.llm_turn(model=MODEL):
            ran = True
    finally:
        hooks.set_runtime(None)
    assert not ran
    assert raised.value.action == "kill_switch"
    assert pipe.value(names.TURNS, **{names.GEN_AI_REQUEST_MODEL: MODEL, names.OUTCOME: "contained"}) == 1
    assert pipe.value(names.CONTAINMENT_ENFORCED, action="kill_switch") == 1
    assert pipe.span(TURN_SPAN).attributes[names.AI_CONTAINMENT_ACTION] == "kill_switch"
    assert pipe.runtime.prompt_log.entries[0].outcome == "contained"


def test_read_only_blocks_write_tools_only() -> None:
    pipe = make_pipeline(gate=_Gate(tool=("restrict_to_read_only", None)))
    hooks.set_runtime(pipe.runtime)
    try:
        with aii.llm_turn(model=MODEL) as turn:
            with turn.tool_call("get_order", {"id": 1}):
                pass
            with pytest.raises(aii.ContainmentActive), turn.tool_call("delete_record", {"id": 1}, writes=True):
                pytest.fail("a write tool ran under read-only")
    finally:
        hooks.set_runtime(None)
    assert pipe.value(names.TOOL_CALLS, **{names.GEN_AI_TOOL_NAME: "delete_record", names.OUTCOME: "blocked"}) == 1
    assert pipe.value(names.TOOL_CALLS, **{names.GEN_AI_TOOL_NAME: "get_order", names.OUTCOME: "ok"}) == 1
    assert pipe.value(names.CONTAINMENT_ENFORCED, action="restrict_to_read_only") == 1
    # The turn itself ended normally: the app caught the refusal and went on.
    assert pipe.value(names.TURNS, **{names.GEN_AI_REQUEST_MODEL: MODEL, names.OUTCOME: "ok"}) == 1


def test_anomalous_tool_call_is_scored_and_flagged() -> None:
    class Scorer:
        def observe(self, tool, arguments):
            return 0.99 if arguments.get("id") == "*" else 0.05

    pipe = make_pipeline(tool_scorer=Scorer())
    hooks.set_runtime(pipe.runtime)
    try:
        with aii.llm_turn(model=MODEL) as turn:
            with turn.tool_call("delete_record", {"id": 7}, writes=True):
                pass
            with turn.tool_call("delete_record", {"id": "*"}, writes=True) as call:
                assert call.anomaly_score == 0.99
    finally:
        hooks.set_runtime(None)
    hist = pipe.value(names.TOOL_ANOMALY_SCORE, **{names.GEN_AI_TOOL_NAME: "delete_record"})
    assert hist.count == 2 and hist.sum == pytest.approx(1.04)
    assert pipe.value(names.GUARDRAIL_DECISIONS, guardrail="tool_anomaly", stage="tool", decision="flag") == 1
    scores = [s.attributes.get(names.AI_TOOL_ANOMALY_SCORE) for s in pipe.spans() if s.name.startswith("execute_tool")]
    assert scores == [0.05, 0.99]


def test_tightened_threshold_reaches_the_app() -> None:
    pipe = make_pipeline(gate=_Gate(threshold=0.3))
    hooks.set_runtime(pipe.runtime)
    try:
        assert aii.guardrail_threshold("toxicity", default=0.8) == 0.3
    finally:
        hooks.set_runtime(None)
    assert pipe.value(names.CONTAINMENT_ENFORCED, action="tighten_guardrail") == 1


def _turn_with_tool(session: str) -> None:
    with aii.llm_turn(model=MODEL, session_id=session) as turn, turn.tool_call("lookup", call_id=session):
        turn.guardrail("toxicity", stage="output", decision="allow")
        turn.complete("ok", input_tokens=1, output_tokens=1)


def _assert_no_mixed_parents(pipe: Pipeline, expected: int) -> None:
    spans = pipe.spans()
    turns = {s.context.span_id: s for s in spans if s.name == TURN_SPAN}
    tools = [s for s in spans if s.name == "execute_tool lookup"]
    assert len(turns) == expected and len(tools) == expected
    for tool in tools:
        parent = turns[tool.parent.span_id]
        assert parent.attributes[names.GEN_AI_CONVERSATION_ID] == tool.attributes[names.GEN_AI_TOOL_CALL_ID]
        assert parent.context.trace_id == tool.context.trace_id
    assert pipe.value(names.TURNS, **{names.GEN_AI_REQUEST_MODEL: MODEL, names.OUTCOME: "ok"}) == expected
    assert pipe.value(names.TOOL_CALLS, **{names.GEN_AI_TOOL_NAME: "lookup", names.OUTCOME: "ok"}) == expected


def test_threads_keep_counts_exact_and_parents_apart(pipe: Pipeline) -> None:
    def worker(n: int) -> None:
        for i in range(1000):
            _turn_with_tool(f"t{n}-{i}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _assert_no_mixed_parents(pipe, 8000)


def test_asyncio_tasks_keep_parents_apart(pipe: Pipeline) -> None:
    async def one(i: int) -> None:
        async with aii.llm_turn(model=MODEL, session_id=f"a{i}") as turn:
            await asyncio.sleep(0)
            async with turn.tool_call("lookup", call_id=f"a{i}"):
                await asyncio.sleep(0.001)
            turn.complete("ok")

    async def main() -> None:
        await asyncio.gather(*(one(i) for i in range(200)))

    asyncio.run(main())
    _assert_no_mixed_parents(pipe, 200)


def test_hooks_work_before_instrument() -> None:
    hooks.set_runtime(None)
    with aii.llm_turn(model=MODEL, user_id=RAW_USER) as turn, turn.tool_call("x"):
        turn.complete("fine")
    aii.report_user_feedback()


def _pii_pipeline(action: str) -> Pipeline:
    from otel_ai_incident.guardrails.output import PiiOutputGuard

    guard = PiiOutputGuard(action=action)
    pipe = make_pipeline(output_guard=guard, prompt_log=ListSink())
    hooks.set_runtime(pipe.runtime)
    return pipe


LEAK = "Sure! Bob's e-mail is bob.smith@example.org and his card is 4111 1111 1111 1111."


def test_check_output_redacts_pii_and_records_only_types() -> None:
    pipe = _pii_pipeline("redact")
    try:
        with aii.llm_turn(model=MODEL) as turn:
            sent = turn.check_output(LEAK)
            clean = turn.check_output("Your order ships on Friday.")
    finally:
        hooks.set_runtime(None)
    assert sent == "Sure! Bob's e-mail is [EMAIL] and his card is [CREDIT_CARD]."
    assert clean == "Your order ships on Friday."
    assert pipe.value(names.PII_DETECTIONS, stage="output", entity_type="EMAIL", action="redact") == 1
    assert pipe.value(names.PII_DETECTIONS, stage="output", entity_type="CREDIT_CARD", action="redact") == 1
    assert pipe.value(names.GUARDRAIL_DECISIONS, guardrail="pii", stage="output", decision="redact") == 1
    assert pipe.value(names.GUARDRAIL_DECISIONS, guardrail="pii", stage="output", decision="allow") == 1
    for span in pipe.spans():
        assert not any("bob" in str(v) or "4111" in str(v) for v in span.attributes.values())
    assert pipe.runtime.prompt_log.entries[0].guardrail_decisions[0]["decision"] == "redact"


def test_check_output_blocks_when_configured() -> None:
    from otel_ai_incident.guardrails.pii import BLOCKED_MESSAGE

    pipe = _pii_pipeline("block")
    try:
        with aii.llm_turn(model=MODEL) as turn:
            sent = turn.check_output(LEAK)
    finally:
        hooks.set_runtime(None)
    assert sent == BLOCKED_MESSAGE
    assert pipe.value(names.PII_DETECTIONS, stage="output", entity_type="EMAIL", action="block") == 1
    assert pipe.value(names.GUARDRAIL_DECISIONS, guardrail="pii", stage="output", decision="block") == 1


def test_check_output_with_a_failing_guard_returns_the_text_and_counts() -> None:
    class Broken:
        action = "redact"
        entity_types = ()

        def check(self, text):
            raise RuntimeError("regex engine exploded")

    pipe = make_pipeline(output_guard=Broken())
    hooks.set_runtime(pipe.runtime)
    try:
        with aii.llm_turn(model=MODEL) as turn:
            assert turn.check_output("hello") == "hello"
    finally:
        hooks.set_runtime(None)
    assert pipe.value(names.INSTRUMENTATION_ERRORS, component="check_output") == 1


# -- guardrail checks with real durations ---------------------------------------------------------------------


def test_a_guardrail_check_span_covers_the_check(pipe: Pipeline) -> None:
    with aii.llm_turn(model=MODEL) as turn:
        with turn.guardrail_check("moderation", stage="input") as check:
            time.sleep(0.05)
            check.decide("flag", score=0.7)
        turn.complete("ok")
    span = pipe.span("run_guardrail moderation")
    assert (span.end_time - span.start_time) / 1e9 >= 0.05
    assert span.parent.span_id == pipe.span(TURN_SPAN).context.span_id
    vocabulary = names.GUARDRAIL_PR_427
    attrs = dict(span.attributes)
    assert (attrs[vocabulary.verdict], attrs[vocabulary.action], attrs[vocabulary.target_type]) == (
        "warn",
        "allow",
        "input",
    )
    assert pipe.value(names.GUARDRAIL_DECISIONS, guardrail="moderation", stage="input", decision="flag") == 1
    assert pipe.runtime.prompt_log.entries[0].guardrail_decisions == [
        {"guardrail": "moderation", "stage": "input", "decision": "flag", "score": 0.7}
    ]


def test_a_failing_guardrail_check_marks_its_span_and_counts_no_decision(pipe: Pipeline) -> None:
    with pytest.raises(TimeoutError), aii.llm_turn(model=MODEL) as turn, turn.guardrail_check("remote", stage="output"):
        raise TimeoutError("moderation service")
    span = pipe.span("run_guardrail remote")
    assert span.status.status_code is StatusCode.ERROR and span.attributes[names.ERROR_TYPE] == "TimeoutError"
    assert pipe.value(names.GUARDRAIL_DECISIONS, guardrail="remote", stage="output", decision="allow") == 0


class _SlowGuard:
    action = "redact"
    entity_types = ("EMAIL",)

    def check(self, text: str):
        from otel_ai_incident.guardrails.output_check import OutputCheck

        time.sleep(0.03)
        return OutputCheck(text=text, decision="allow", action=self.action, entity_counts={})


def test_check_output_span_lasts_as_long_as_the_check() -> None:
    pipe = make_pipeline(output_guard=_SlowGuard())
    hooks.set_runtime(pipe.runtime)
    try:
        with aii.llm_turn(model=MODEL) as turn:
            assert turn.check_output("fine") == "fine"
    finally:
        hooks.set_runtime(None)
    span = pipe.span("run_guardrail pii")
    assert (span.end_time - span.start_time) / 1e9 >= 0.03


def test_a_flagged_tool_calls_guardrail_span_covers_the_scoring() -> None:
    class SlowScorer:
        def observe(self, tool, arguments):
            time.sleep(0.02)
            return 0.99

    pipe = make_pipeline(tool_scorer=SlowScorer())
    hooks.set_runtime(pipe.runtime)
    try:
        with aii.llm_turn(model=MODEL) as turn, turn.tool_call("refund", {"amount": 10**9}):
            pass
    finally:
        hooks.set_runtime(None)
    span = pipe.span("run_guardrail tool_anomaly")
    assert (span.end_time - span.start_time) / 1e9 >= 0.02
    assert dict(span.attributes)[names.GUARDRAIL_PR_427.target_subtype] == "tool_call"
