"""Auto-instrumentation of the OpenAI SDK: every chat completion and every Responses call is an `llm_turn`.

    from otel_ai_incident.telemetry.integrations.openai import instrument_openai
    instrument_openai()            # every client, sync and async
    instrument_openai(client)      # or only this client

Each call gets the contract's span and metrics from the hooks, passes the containment gate before anything is
sent (ContainmentActive then reaches the caller, and no request leaves), and records usage, finish reasons,
refusals and the tools the model asks for. The SDK's own exceptions reach the caller unchanged; errors of ours
are counted and never raised. Methods are replaced in place (no wrapt) and `uninstrument_openai()` puts them back.

`create` and the structured-output `parse` of both APIs are wrapped; the `.stream()` helpers call `create`
and are covered through it. Streams (`stream=True`) come back wrapped: the turn ends when the stream is
exhausted, fails or is closed, with usage when the API sends it (`stream_options={"include_usage": True}`) and
`gen_ai.response.time_to_first_chunk` on the span. The `with_raw_response` / `with_streaming_response`
variants count as turns but record no reply. With `check_output`, `parse` redacts the reply's text, not the
object parsed from it.
"""

from __future__ import annotations

import functools
import threading
import types
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

try:
    from openai import AsyncOpenAI
    from openai.resources.chat.completions import AsyncCompletions, Completions
except ImportError as missing:  # pragma: no cover - depends on the environment
    raise ImportError("the OpenAI integration needs the SDK: pip install 'otel-ai-incident[openai]'") from missing

from opentelemetry import context as otel_context

from otel_ai_incident.telemetry.integrations.openai_call import CHAT, RESPONSES, Call, OpenAIApi
from otel_ai_incident.telemetry.integrations.openai_stream import traced

__all__ = ["instrument_openai", "uninstrument_openai"]

_METHODS = ("create", "parse")  # `parse` (structured outputs) posts by itself; `.stream()` calls `create`
_ORIGINAL = "_otel_ai_incident_original"  # set on our wrappers: what they wrap
_ABSENT = object()


@dataclass(frozen=True, slots=True)
class _Patch:
    owner: weakref.ref[Any]  # a resource class or one client's resource; weak, so a client can still be freed
    method: str
    previous: Any  # the owner's own attribute before patching, or _ABSENT


_lock = threading.Lock()
_patches: list[_Patch] = []


def instrument_openai(client: Any = None, *, check_output: bool = False) -> None:
    """Turn OpenAI calls into turns: those of `client` only, or of every client when `client` is None.

    `check_output=True` runs `turn.check_output` (the PII guardrail) on each reply and puts the text it returns
    (redacted, or withheld) into the reply the caller gets; on a stream it can only record, the chunks being
    already delivered. Calling it again for what is already instrumented changes nothing.
    """
    with _lock:
        for owner, api, is_async in _targets(client):
            for method in _METHODS:
                if hasattr(owner, method):  # older SDKs have no `parse`
                    _patch(owner, method, api, is_async, check_output)


def uninstrument_openai() -> None:
    """Undo every `instrument_openai` call, newest first."""
    with _lock:
        while _patches:
            patch = _patches.pop()
            owner = patch.owner()
            if owner is None:  # a client freed meanwhile, its patch with it
                continue
            if patch.previous is _ABSENT:
                delattr(owner, patch.method)
            else:
                setattr(owner, patch.method, patch.previous)


def _targets(client: Any) -> list[tuple[Any, OpenAIApi, bool]]:
    """(resource, its API, whether it is async): the SDK's async methods may be plain functions returning a
    coroutine, so asyncness is known from the client or resource class, not from the method."""
    if client is not None:
        is_async = isinstance(client, AsyncOpenAI)
        targets = [(client.chat.completions, CHAT, is_async)]
        responses = getattr(client, "responses", None)  # older SDKs have no Responses API
        return [*targets, (responses, RESPONSES, is_async)] if responses is not None else targets
    targets = [(Completions, CHAT, False), (AsyncCompletions, CHAT, True)]
    try:
        from openai.resources.responses import AsyncResponses, Responses
    except ImportError:
        return targets
    return [*targets, (Responses, RESPONSES, False), (AsyncResponses, RESPONSES, True)]


def _patch(owner: Any, method: str, api: OpenAIApi, is_async: bool, check_output: bool) -> None:
    previous = vars(owner).get(method, _ABSENT)
    if hasattr(previous, _ORIGINAL):
        return
    cls = owner if isinstance(owner, type) else type(owner)
    function = getattr(cls, method)
    # A client patched after its class wraps the SDK's method, not the class's wrapper: one turn per call.
    wrapper = _wrap(getattr(function, _ORIGINAL, function), api, is_async, check_output)
    setattr(owner, method, wrapper if owner is cls else types.MethodType(wrapper, owner))
    _patches.append(_Patch(weakref.ref(owner), method, previous))


def _wrap(original: Callable[..., Any], api: OpenAIApi, is_async: bool, check_output: bool) -> Callable[..., Any]:
    """The instrumented `create` or `parse`: the turn opens (and the gate runs) before the SDK sends anything."""
    if is_async:

        async def create(*args: Any, **kwargs: Any) -> Any:
            call = Call(api, kwargs, args[0] if args else None, check_output=check_output)
            token = otel_context.attach(call.otel_context)
            try:
                result = await original(*args, **kwargs)
            except BaseException as exc:
                call.end(exc)
                raise
            finally:
                otel_context.detach(token)
            return traced(call, result)

    else:

        def create(*args: Any, **kwargs: Any) -> Any:
            call = Call(api, kwargs, args[0] if args else None, check_output=check_output)
            token = otel_context.attach(call.otel_context)
            try:
                result = original(*args, **kwargs)
            except BaseException as exc:
                call.end(exc)
                raise
            finally:
                otel_context.detach(token)
            return traced(call, result)

    functools.update_wrapper(create, original)
    setattr(create, _ORIGINAL, original)
    return create
