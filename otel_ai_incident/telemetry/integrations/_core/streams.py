"""Streams handed back in place of a client SDK's, so the turn ends when the caller is done with the stream.

The turn ends when the stream is exhausted, fails, is closed (`close()`, `with`, `async with`), or, as a last
resort, when an abandoned stream is garbage-collected. Everything else is delegated to the SDK's stream.
Like opentelemetry-python's own OpenAI instrumentation these are plain wrappers: `isinstance(s, openai.Stream)`
is false for them. Which results are streams is the client's to say (`ClientApi.streams`): nothing here
imports a client SDK.
"""

from __future__ import annotations

import weakref
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context

from otel_ai_incident.telemetry.integrations._core.call import Call


class _Traced:
    """What both wrappers share: the SDK stream, the call it ends, and delegation of everything else."""

    __slots__ = ("__weakref__", "_call", "_stream")

    def __init__(self, stream: Any, call: Call) -> None:
        self._stream = stream
        self._call = call
        weakref.finalize(self, call.stream_ended, None)  # the last resort: an abandoned stream

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class TracedStream(_Traced):
    __slots__ = ()

    def __iter__(self) -> TracedStream:
        return self

    def __next__(self) -> Any:
        try:
            chunk = next(self._stream)
        except StopIteration:
            self._call.stream_ended(None)
            raise
        except BaseException as exc:
            self._call.stream_ended(exc)
            raise
        self._call.chunk(chunk)
        return chunk

    def __enter__(self) -> TracedStream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self._stream.close()
        finally:
            self._call.stream_ended(exc)

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._call.stream_ended(None)


class TracedAsyncStream(_Traced):
    __slots__ = ()

    def __aiter__(self) -> TracedAsyncStream:
        return self

    async def __anext__(self) -> Any:
        try:
            chunk = await self._stream.__anext__()
        except StopAsyncIteration:
            self._call.stream_ended(None)
            raise
        except BaseException as exc:
            self._call.stream_ended(exc)
            raise
        self._call.chunk(chunk)
        return chunk

    async def __aenter__(self) -> TracedAsyncStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self._stream.close()
        finally:
            self._call.stream_ended(exc)

    async def close(self) -> None:
        try:
            await self._stream.close()
        finally:
            self._call.stream_ended(None)

    aclose = close


def traced(call: Call, result: Any, is_async: bool, token: object) -> Any:
    """What the patched method returns: a traced stream (the turn ends with it), or the reply (turn ended).

    A stream is the SDK's stream class, or anything iterating like one in the call's mode: another
    instrumentation's wrapper around the SDK's stream is no subclass of it. `token` attached the call's
    context around the SDK call; the call detaches it (`Call.stream_started`), a reply here."""
    sync_stream, async_stream = call.api.streams
    if is_async:
        if isinstance(result, async_stream) or hasattr(type(result), "__anext__"):
            call.stream_started(token)
            return TracedAsyncStream(result, call)
    elif isinstance(result, sync_stream) or hasattr(type(result), "__next__"):
        call.stream_started(token)
        return TracedStream(result, call)
    otel_context.detach(token)
    call.returned(result)
    return result
