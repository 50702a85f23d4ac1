"""The OpenAI APIs as the core reads them (Chat Completions, Responses), and what else is OpenAI's own: the
provider name, where the client sends its requests, and the other instrumentations of the client."""

from __future__ import annotations

import dataclasses
from typing import Any

from openai import AsyncStream, Stream
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

try:
    from openai.types.beta import BetaResponse
except ImportError:  # an SDK without the Beta Responses API, whose resource is then not patched either
    BetaResponse = Response

from otel_ai_incident.telemetry.integrations._core.call import ClientApi
from otel_ai_incident.telemetry.integrations._core.clients import base_url_server, instrumentor_active
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
    """Whether another OpenAI instrumentation is on."""
    return instrumentor_active(*_OTHER_INSTRUMENTATIONS)


def _api(**fields: Any) -> ClientApi:
    return ClientApi(
        provider=PROVIDER,
        component=COMPONENT,
        streams=(Stream, AsyncStream),
        with_content=with_content,
        traced_elsewhere=other_instrumentation_active,
        server=base_url_server,
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
#: `client.beta.responses`: the Responses API's request, reply and stream shapes under a reply class of its own.
BETA_RESPONSES = dataclasses.replace(RESPONSES, reply_type=BetaResponse)
