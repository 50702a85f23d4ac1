"""LangChain: a callback handler that makes each top-level run a turn, its chat model calls the turn's model
calls and its tool runs the turn's tool calls.

    instrument(integrations=["langchain"])         # every run, through LangChain's configure hook
    model.invoke(messages, config={"callbacks": [LangChainTurnHandler()]})  # or one run at a time

The turn opens at the first chat model start of a top-level run (a chain, an agent, or the chat model
itself), so the containment gate runs before the model is asked anything: the handler sets `raise_error`,
and a ContainmentActive raised in `on_chat_model_start` stops the run before the request (as one raised in
`on_tool_start`, when a tool is contained, stops the tool before it runs). It ends when that top-level run
ends. Each chat model call is a `chat {model}` span with usage, finish reasons, refusals and the tools the
model asks for; each tool run is an `execute_tool` span scored by the tool-argument anomaly scorer; the
prompt log holds the first request's user message and the last model's reply. Model and provider come from
LangChain's `ls_model_name` / `ls_provider` run metadata. Each later model call of the turn (an agent's next
step) asks the gate again, so a kill switch set during a long run stops its next request.

A run made inside the app's own `with llm_turn(...)` block is part of that turn: its chat model calls are
the turn's model calls (the gate asked before each), and the turn is the app's to end.

With the chat model's client integration on as well (`openai`, `anthropic`, `litellm`), the request the model
sends is the handler's model call and the client integration adds nothing: the handler claims the context
as the call starts (`ModelCall.claim_requests`), as OpenLLMetry's LangChain handler suppresses its client
instrumentations. One request, one turn, one `chat` span, one duration record; the span carries what LangChain
reports (model, usage, finish reasons, response id), not the client's server address.

Use either the integration or handlers of your own, not both: each handler opens its own turns. Completion
(non-chat) models are not covered; `check_output` cannot change what a callback is handed, so it only records.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

try:
    from langchain_core.callbacks import BaseCallbackHandler
    from langchain_core.messages import BaseMessage
    from langchain_core.outputs import LLMResult
    from langchain_core.tracers.context import register_configure_hook
except ImportError as missing:  # pragma: no cover - depends on the environment
    raise ImportError("the LangChain integration needs it: pip install 'otel-ai-incident[langchain]'") from missing

from otel_ai_incident.telemetry import hooks
from otel_ai_incident.telemetry.integrations._core.call import record_requested_tools
from otel_ai_incident.telemetry.integrations._core.reply import Reply, model_reply
from otel_ai_incident.telemetry.integrations._core.request import UNKNOWN_MODEL, string
from otel_ai_incident.telemetry.integrations.langchain_messages import (
    ChatRequest,
    chat_reply,
    chat_request,
    input_message,
)
from otel_ai_incident.telemetry.model_call import ModelCall, ModelRequest
from otel_ai_incident.telemetry.scope import Scope
from otel_ai_incident.telemetry.turn_context import current_turn_context

__all__ = ["INTEGRATION", "LangChainIntegration", "LangChainTurnHandler"]

COMPONENT = "langchain_integration"


@dataclass(slots=True)
class _OpenTurn:
    """A turn and its open model and tool calls, all entered detached: callbacks run nothing inside them."""

    turn: hooks.Turn
    children: dict[UUID, Scope] = field(default_factory=dict)
    owned: bool = True  # False: the app's own turn, which the run is part of and the app ends


class LangChainTurnHandler(BaseCallbackHandler):
    """Opens, fills and ends turns from LangChain's run events. Thread-safe; one handler serves every run."""

    raise_error = True  # ContainmentActive must stop the run; nothing else of ours ever raises
    run_inline = True  # async runs call it in order, on the event loop's thread

    def __init__(self) -> None:
        self.enabled = True
        self._lock = threading.Lock()
        self._roots: dict[UUID, UUID] = {}  # run -> its top-level run (among the runs seen)
        self._turns: dict[UUID, _OpenTurn] = {}  # top-level run -> its turn

    # -- runs -----------------------------------------------------------------------------------------

    def _started(self, run_id: UUID, parent_run_id: UUID | None) -> UUID:
        """Note a run; its top-level run (itself when its parent was not seen by this handler)."""
        with self._lock:
            root = self._roots.get(parent_run_id, run_id) if parent_run_id is not None else run_id
            self._roots[run_id] = root
            return root

    def _forget(self, run_id: UUID) -> tuple[_OpenTurn | None, Scope | None, bool]:
        """Forget a run that ended, under one lock: the turn it belongs to, its model or tool call (taken from
        the turn), and whether the turn ends with it (a top-level run)."""
        with self._lock:
            root = self._roots.pop(run_id, None)
            opened = self._turns.get(run_id if root is None else root)
            child = opened.children.pop(run_id, None) if opened is not None else None
            if root == run_id:
                self._turns.pop(run_id, None)
        return opened, child, root == run_id and opened is not None

    def _ended(self, run_id: UUID, error: BaseException | None) -> None:
        """A run ended: end its model or tool call, and its turn if it was the top-level run."""
        opened, child, ends_turn = self._forget(run_id)
        if child is not None:
            child.exit_detached(error)
        if ends_turn and opened.owned:
            opened.turn.exit_detached(error)

    def on_chain_start(
        self, serialized: Any, inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        if self.enabled:
            self._started(run_id, parent_run_id)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._ended(run_id, None)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._ended(run_id, error)

    # -- chat models ----------------------------------------------------------------------------------

    def on_chat_model_start(
        self,
        serialized: Any,
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Open the run's turn if none is open (the gate runs here: ContainmentActive stops the run before
        the request), then the model call."""
        if not self.enabled:
            return
        root = self._started(run_id, parent_run_id)
        rt = hooks.get_runtime()
        try:
            request = chat_request(
                messages[0] if messages else [], metadata or {}, kwargs.get("invocation_params") or {}
            )
        except Exception:
            rt.record_error(COMPONENT)
            request = ChatRequest(UNKNOWN_MODEL, None, None, None, ModelRequest(), ())
        with self._lock:
            opened = self._turns.get(root)
        try:
            if opened is None:
                opened = self._open_turn(root, request)
            else:
                opened.turn.check_gate()
        except BaseException:  # ContainmentActive: the run stops here, before the request
            with self._lock:
                self._roots.pop(run_id, None)
            raise
        try:
            if rt.content_on_span or rt.content_in_event:
                request.call.system_instructions = request.system_prompt
                request.call.input_messages = [input_message(m) for m in request.history if m.type != "system"]
            model_call = opened.turn.model_call(request.call).enter_detached()
            model_call.claim_requests()  # the chat model's client, if instrumented too, adds no turn
            with self._lock:
                opened.children[run_id] = model_call
        except Exception:
            rt.record_error(COMPONENT)

    def _open_turn(self, root: UUID, request: ChatRequest) -> _OpenTurn:
        """The turn of a run's first chat model call: the app's own when the run was made inside its `with
        llm_turn(...)` block (the gate is asked again), else a new one (the gate runs as it opens)."""
        outer = hooks.current_turn()
        if outer is not None:
            outer.check_gate()
            opened = _OpenTurn(outer, owned=False)
        else:
            context = current_turn_context()
            turn = hooks.llm_turn(
                model=request.model,
                user_id=context.user_id,
                session_id=context.session_id,
                system_prompt=request.system_prompt,
                user_message=request.user_message,
                provider=request.provider,
            )
            opened = _OpenTurn(turn.enter_detached())
        with self._lock:
            self._turns[root] = opened
        return opened

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Record the reply on the model call, end it, then hand the turn the text (the turn counts usage its
        model call did not); end the turn if the model was the top-level run."""
        opened, model_call, ends_turn = self._forget(run_id)
        if model_call is not None:
            reply = _record_reply(model_call, response)
            model_call.exit_detached()
            if reply is not None:
                try:
                    if reply.refused:
                        opened.turn.refusal()
                    opened.turn.complete(
                        reply.text,
                        input_tokens=reply.input_tokens,
                        output_tokens=reply.output_tokens,
                        response_model=reply.response_model,
                        finish_reasons=reply.finish_reasons or None,
                    )
                except Exception:
                    hooks.get_runtime().record_error(COMPONENT)
        if ends_turn and opened.owned:
            opened.turn.exit_detached()

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._ended(run_id, error)

    # -- tools ----------------------------------------------------------------------------------------

    def on_tool_start(
        self,
        serialized: Any,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A tool run inside a turn is its tool call (ContainmentActive stops a contained tool before it runs);
        its arguments feed the anomaly scorer."""
        if not self.enabled:
            return
        root = self._started(run_id, parent_run_id)
        with self._lock:
            opened = self._turns.get(root)
        if opened is None:  # a tool run outside any turn (no chat model before it in its run)
            return
        name = string((serialized or {}).get("name")) or string(kwargs.get("name")) or "unknown"
        arguments = inputs if isinstance(inputs, dict) else {"input": input_str}
        tool = opened.turn.tool_call(name, arguments, call_id=string(kwargs.get("tool_call_id")))
        try:
            tool.enter_detached()
        except BaseException:
            with self._lock:
                self._roots.pop(run_id, None)
            raise
        with self._lock:
            opened.children[run_id] = tool

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._ended(run_id, None)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._ended(run_id, error)


def _record_reply(model_call: Scope, response: LLMResult) -> Reply | None:
    """The reply, recorded on its model call; None if it cannot be read (counted as our error)."""
    if not isinstance(model_call, ModelCall):
        return None
    rt = hooks.get_runtime()
    try:
        reply = chat_reply(response)
        model_call.reply(model_reply(reply, capture=rt.content_on_span or rt.content_in_event))
        record_requested_tools(model_call.span, reply.tools)
    except Exception:
        rt.record_error(COMPONENT)
        return None
    return reply


class LangChainIntegration:
    """What `instrument(integrations=["langchain"])` turns on and off: one handler that LangChain's configure
    hook adds to every run (as it adds its own tracer), enabled and disabled in place."""

    name = "langchain"

    def __init__(self) -> None:
        self.handler = LangChainTurnHandler()
        self.handler.enabled = False
        self._hook: ContextVar[LangChainTurnHandler | None] | None = None
        self._lock = threading.Lock()

    def instrument(self, client: Any = None, *, check_output: bool = False) -> None:
        """Add the handler to every LangChain run from now on. `client` is not used: LangChain runs have no
        client object (pass a `LangChainTurnHandler()` in a run's callbacks to cover that run alone)."""
        with self._lock:
            if self._hook is None:
                # The variable's default is the handler, so every thread and task sees it; a hook cannot be
                # unregistered, so `uninstrument` disables the handler instead.
                self._hook = ContextVar("otel_ai_incident_langchain", default=self.handler)
                register_configure_hook(self._hook, inheritable=True)
            self.handler.enabled = True

    def uninstrument(self) -> None:
        """Stop opening turns (the hook stays registered; a disabled handler does nothing)."""
        self.handler.enabled = False


INTEGRATION = LangChainIntegration()  # the process's one LangChain integration
