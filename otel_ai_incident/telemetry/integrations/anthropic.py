"""Auto-instrumentation of the Anthropic SDK: every Messages call, Beta API included, is an `llm_turn`.

    instrument(integrations=["anthropic"])     # or, directly:
    from otel_ai_incident.telemetry.integrations.anthropic import INTEGRATION
    INTEGRATION.instrument()                   # every client, sync and async
    INTEGRATION.instrument(client)             # or only this client

`messages.create`, the structured-output `messages.parse` (it posts by itself, not through `create`) and
`messages.stream`, and the same three of `client.beta.messages` (which the Beta API's threads and tool
runner call for each request they send), are wrapped. Each call passes the containment gate before anything
is sent (ContainmentActive reaches the caller, and no request leaves), gets the turn's `invoke_agent` span
with a `chat {model}` span for the request, the turn and model-call metrics and a prompt-log entry, and
records usage (prompt-cache reads and writes included), the stop reason, refusals (stop reason `refusal`)
and the tool-use blocks the model asks for. The SDK's exceptions reach the caller unchanged; errors of ours
are counted and never raised.

`create(stream=True)` returns a wrapped stream, and `stream(...)` a manager whose stream is traced: the turn
ends when the stream is exhausted, fails or is closed (leaving the `with` block closes it). A manager that is
never entered sends nothing; its turn ends when it is freed. With `check_output`, `parse` redacts the reply's
text blocks, not the object already parsed from them.

The SDK traces its own calls too (an `anthropic.messages.create` CLIENT span, no metrics): under this
integration that span is a child of the `chat` span. `ANTHROPIC_OPEN_TELEMETRY=false` turns it off.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

try:
    from anthropic import AsyncStream, Stream
    from anthropic.resources.beta.messages import AsyncMessages as AsyncBetaMessages
    from anthropic.resources.beta.messages import Messages as BetaMessages
    from anthropic.resources.messages import AsyncMessages, Messages
    from anthropic.types import Message
    from anthropic.types.beta import BetaMessage
except ImportError as missing:  # pragma: no cover - depends on the environment
    raise ImportError("the Anthropic integration needs the SDK: pip install 'otel-ai-incident[anthropic]'") from missing

from opentelemetry import context as otel_context

from otel_ai_incident.telemetry import hooks
from otel_ai_incident.telemetry.integrations._core.call import Call, ClientApi
from otel_ai_incident.telemetry.integrations._core.clients import base_url_server, instrumentor_active
from otel_ai_incident.telemetry.integrations._core.patching import Patcher, mark_wrapper
from otel_ai_incident.telemetry.integrations._core.streams import traced
from otel_ai_incident.telemetry.integrations.anthropic_messages import (
    MessageStreamAccumulator,
    check_message,
    message_reply,
    messages_request,
    with_content,
)
from otel_ai_incident.telemetry.model_call import REQUEST_TRACED, request_traced

__all__ = ["BETA_MESSAGES", "INTEGRATION", "MESSAGES", "AnthropicIntegration"]

PROVIDER = "anthropic"
COMPONENT = "anthropic_integration"
_METHODS = ("create", "parse")  # `parse` (structured outputs) posts by itself; `stream` has a wrapper of its own
_ASYNC_RESOURCES = (AsyncMessages, AsyncBetaMessages)
# Instrumentations of the client that trace and count the request themselves (OpenLLMetry's).
_OTHER_INSTRUMENTATIONS = (("opentelemetry.instrumentation.anthropic", "AnthropicInstrumentor"),)


def other_instrumentation_active() -> bool:
    return instrumentor_active(*_OTHER_INSTRUMENTATIONS)


MESSAGES = ClientApi(
    provider=PROVIDER,
    component=COMPONENT,
    request=messages_request,
    reply_type=Message,
    reply=message_reply,
    check=check_message,
    accumulator=MessageStreamAccumulator,
    streams=(Stream, AsyncStream),
    with_content=with_content,
    traced_elsewhere=other_instrumentation_active,
    server=base_url_server,
)
BETA_MESSAGES = dataclasses.replace(MESSAGES, reply_type=BetaMessage)  # same request, reply and stream shapes


class AnthropicIntegration:
    """The Anthropic client's instrumentor: what `instrument(integrations=["anthropic"])` turns on and off."""

    name = PROVIDER

    def __init__(self) -> None:
        self._patcher = Patcher()

    def instrument(self, client: Any = None, *, check_output: bool = False) -> None:
        """Turn Messages calls into turns: those of `client` only, or of every client when `client` is None.

        `check_output=True` runs the PII check on each whole reply and puts the text it returns into the
        reply's text blocks; on a stream it can only record, the events being already delivered.
        """
        for owner, api in _targets(client):
            is_async = issubclass(owner if isinstance(owner, type) else type(owner), _ASYNC_RESOURCES)
            for method in _METHODS:
                self._patcher.patch(owner, method, api, is_async, check_output)
            self._patcher.patch(owner, "stream", api, is_async, check_output, _wrap_stream_helper)

    def uninstrument(self) -> None:
        """Undo every `instrument` call, newest first."""
        self._patcher.restore()


INTEGRATION = AnthropicIntegration()  # the process's one Anthropic integration


def _targets(client: Any) -> list[tuple[Any, ClientApi]]:
    """(Messages resource or class, its API): one client's, Beta API included, or every client's."""
    if client is None:
        return [
            (Messages, MESSAGES),
            (AsyncMessages, MESSAGES),
            (BetaMessages, BETA_MESSAGES),
            (AsyncBetaMessages, BETA_MESSAGES),
        ]
    targets = [(client.messages, MESSAGES)]
    beta = getattr(client, "beta", None)  # a client without the Beta API (a cloud platform's, say)
    if beta is not None and hasattr(beta, "messages"):
        targets.append((beta.messages, BETA_MESSAGES))
    return targets


def _wrap_stream_helper(
    original: Callable[..., Any], api: ClientApi, is_async: bool, check_output: bool
) -> Callable[..., Any]:
    """`messages.stream(...)`: the turn opens (the gate runs) when the manager is made; the request the
    manager sends on entry is replaced by one that runs under the model call and returns a traced stream."""

    def instrumented(*args: Any, **kwargs: Any) -> Any:
        if request_traced():  # the app's model_call() or a LangChain model call traces the request
            return original(*args, **kwargs)
        call = Call(api, {**kwargs, "stream": True}, args[0] if args else None, check_output=check_output)
        try:
            manager = original(*args, **kwargs)
        except BaseException as exc:
            call.end(exc)
            raise
        try:
            # Where the manager keeps the request it sends on entry: a private, hence name-mangled, attribute.
            attribute = f"_{type(manager).__name__}__api_request"
            request = getattr(manager, attribute)
            sent = [False]
            send = _send_async if is_async else _send
            setattr(manager, attribute, send(call, request, sent))
            weakref.finalize(manager, _end_unsent, call, sent)
        except Exception:  # an SDK whose manager differs: the call goes on untraced, its turn ends now
            hooks.get_runtime().record_error(api.component)
            call.end(None)
        return manager

    return mark_wrapper(instrumented, original)


def _send(call: Call, request: Callable[[], Any], sent: list[bool]) -> Callable[[], Any]:
    def send() -> Any:
        sent[0] = True
        token = otel_context.attach(call.otel_context)
        inside = REQUEST_TRACED.set(True)
        try:
            raw = request()
        except BaseException as exc:
            otel_context.detach(token)
            call.end(exc)
            raise
        finally:
            REQUEST_TRACED.reset(inside)
        return traced(call, raw, False, token)

    return send


def _send_async(call: Call, request: Awaitable[Any], sent: list[bool]) -> Awaitable[Any]:
    async def send() -> Any:
        sent[0] = True
        token = otel_context.attach(call.otel_context)
        inside = REQUEST_TRACED.set(True)
        try:
            raw = await request
        except BaseException as exc:
            otel_context.detach(token)
            call.end(exc)
            raise
        finally:
            REQUEST_TRACED.reset(inside)
        return traced(call, raw, True, token)

    return send()


def _end_unsent(call: Call, sent: list[bool]) -> None:
    """A manager freed without being entered sent nothing: its turn ends, with no reply."""
    if not sent[0]:
        call.end(None)
