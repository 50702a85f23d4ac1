"""Methods of a client SDK replaced in place by instrumented ones, and put back.

No wrapt: a wrapper is a plain function (or a method bound to one client's resource) that opens a `Call`
before the SDK sends anything and hands back the reply or a traced stream. Patches are kept per
instrumentor, weakly (a client patched alone can still be freed), and undone newest first.
"""

from __future__ import annotations

import functools
import threading
import types
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context

from otel_ai_incident.telemetry.integrations._core.call import Call, ClientApi
from otel_ai_incident.telemetry.integrations._core.streams import traced
from otel_ai_incident.telemetry.model_call import REQUEST_TRACED, request_traced

Wrapper = Callable[[Callable[..., Any], ClientApi, bool, bool], Callable[..., Any]]  # (original, api, async, check)
_ORIGINAL = "_otel_ai_incident_original"  # set on our wrappers: what they wrap
_ABSENT = object()


@dataclass(frozen=True, slots=True)
class _Patch:
    owner: weakref.ref[Any]  # a resource class or one client's resource; weak, so a client can still be freed
    method: str
    previous: Any  # the owner's own attribute before patching, or _ABSENT


class Patcher:
    """The patches of one instrumentor. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._patches: list[_Patch] = []

    def patch(
        self,
        owner: Any,
        method: str,
        api: ClientApi,
        is_async: bool,
        check_output: bool,
        wrapper: Wrapper | None = None,
    ) -> None:
        """Replace `owner.method` (a class's, one client resource's, or a module's function) unless ours is
        already there.

        `wrapper` builds the instrumented method (`wrap` unless given: a client's helper that returns
        something other than a reply or a stream, such as a stream manager, brings its own, marked by
        `mark_wrapper`)."""
        with self._lock:
            previous = vars(owner).get(method, _ABSENT)
            if hasattr(previous, _ORIGINAL):
                return
            plain = isinstance(owner, type | types.ModuleType)  # set as it is, not bound to the owner
            function = getattr(owner if plain else type(owner), method)
            # A client patched after its class wraps the SDK's method, not the class's wrapper: one turn per call.
            instrumented = (wrapper or wrap)(getattr(function, _ORIGINAL, function), api, is_async, check_output)
            setattr(owner, method, instrumented if plain else types.MethodType(instrumented, owner))
            self._patches.append(_Patch(weakref.ref(owner), method, previous))

    def restore(self) -> None:
        """Undo every patch, newest first."""
        with self._lock:
            while self._patches:
                patch = self._patches.pop()
                owner = patch.owner()
                if owner is None:  # a client freed meanwhile, its patch with it
                    continue
                if patch.previous is _ABSENT:
                    delattr(owner, patch.method)
                else:
                    setattr(owner, patch.method, patch.previous)


def wrap(original: Callable[..., Any], api: ClientApi, is_async: bool, check_output: bool) -> Callable[..., Any]:
    """The instrumented method: the turn opens (and the gate runs) before the SDK sends anything, and the SDK
    call runs under the model call's span, so the client's own spans (HTTP) hang off it. Called where a
    request is already traced (inside the app's `model_call()`, or by an instrumented client underneath),
    it adds nothing: one request, one turn and one `chat` span."""
    if is_async:

        async def instrumented(*args: Any, **kwargs: Any) -> Any:
            if request_traced():
                return await original(*args, **kwargs)
            call = Call(api, kwargs, args[0] if args else None, check_output=check_output)
            token = otel_context.attach(call.otel_context)
            inside = REQUEST_TRACED.set(True)
            try:
                result = await original(*args, **kwargs)
            except BaseException as exc:
                otel_context.detach(token)
                call.end(exc)
                raise
            finally:
                REQUEST_TRACED.reset(inside)
            return traced(call, result, True, token)

    else:

        def instrumented(*args: Any, **kwargs: Any) -> Any:
            if request_traced():
                return original(*args, **kwargs)
            call = Call(api, kwargs, args[0] if args else None, check_output=check_output)
            token = otel_context.attach(call.otel_context)
            inside = REQUEST_TRACED.set(True)
            try:
                result = original(*args, **kwargs)
            except BaseException as exc:
                otel_context.detach(token)
                call.end(exc)
                raise
            finally:
                REQUEST_TRACED.reset(inside)
            return traced(call, result, False, token)

    return mark_wrapper(instrumented, original)


def mark_wrapper(instrumented: Callable[..., Any], original: Callable[..., Any]) -> Callable[..., Any]:
    """Give the instrumented method the original's name and docstring, and mark it as ours."""
    functools.update_wrapper(instrumented, original)
    setattr(instrumented, _ORIGINAL, original)
    return instrumented
