"""The OpenAI APIs as the core reads them (Chat Completions, Responses), and what else is OpenAI's own: the
provider name, where the client sends its requests, and the other instrumentations of the client."""

from __future__ import annotations

import sys
import weakref
from typing import Any

from openai import AsyncStream, Stream
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from otel_ai_incident.telemetry.integrations._core.call import ClientApi
from otel_ai_incident.telemetry.integrations.openai_reply import (
    ChatStreamAccumulator,
    ResponsesStreamAccumulator,
    chat_reply,
    check_chat,
    check_responses,
    responses_reply,
)
from otel_ai_incident.telemetry.integrations.openai_request import chat_request, responses_request, with_content

PROVIDER = "openai"
COMPONENT = "openai_integration"

# Instrumentations of the OpenAI client that trace and count the request themselves: the official one
# (opentelemetry-instrumentation-openai-v2) and OpenLLMetry's. Both are BaseInstrumentor singletons.
_OTHER_INSTRUMENTATIONS = (
    ("opentelemetry.instrumentation.openai_v2", "OpenAIInstrumentor"),
    ("opentelemetry.instrumentation.openai", "OpenAIInstrumentor"),
)


def other_instrumentation_active() -> bool:
    """Whether another OpenAI instrumentation is on. Only modules the app already imported are looked at:
    one that is not imported cannot be instrumenting anything."""
    for module_name, class_name in _OTHER_INSTRUMENTATIONS:
        module = sys.modules.get(module_name)
        if module is not None:
            instrumentor = getattr(module, class_name, None)
            if instrumentor is not None and getattr(instrumentor(), "is_instrumented_by_opentelemetry", False):
                return True
    return False


# Client -> (host, port). The client's `base_url` property alone costs a microsecond and a half, on every call;
# weak keys, so a client can still be freed. A client whose base URL is changed after its first call keeps
# reporting the first one.
_servers: weakref.WeakKeyDictionary[Any, tuple[str | None, int | None]] = weakref.WeakKeyDictionary()


def server(resource: Any) -> tuple[str | None, int | None]:
    """The API's host and port, from the client the resource belongs to (443 or 80 when the URL names none)."""
    client = getattr(resource, "_client", None)
    try:
        return _servers[client]
    except (KeyError, TypeError):  # not seen yet, or no client to key on
        pass
    url = getattr(client, "base_url", None)
    host = getattr(url, "host", None)
    port = getattr(url, "port", None)
    if not isinstance(host, str) or not host:
        host = port = None
    elif not isinstance(port, int):
        port = 443 if getattr(url, "scheme", "https") == "https" else 80
    if client is not None:
        _servers[client] = (host, port)
    return host, port


def _api(**fields: Any) -> ClientApi:
    return ClientApi(
        provider=PROVIDER,
        component=COMPONENT,
        streams=(Stream, AsyncStream),
        with_content=with_content,
        traced_elsewhere=other_instrumentation_active,
        server=server,
        **fields,
    )


CHAT = _api(
    request=chat_request,
    reply_type=ChatCompletion,
    reply=chat_reply,
    check=check_chat,
    accumulator=ChatStreamAccumulator,
)
RESPONSES = _api(
    request=responses_request,
    reply_type=Response,
    reply=responses_reply,
    check=check_responses,
    accumulator=ResponsesStreamAccumulator,
)
