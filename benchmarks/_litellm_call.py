"""One benchmark process for LiteLLM: time a mocked `litellm.completion` to an OpenAI model under one mode, print
µs per call as JSON. The call takes LiteLLM's real route (`openai/gpt-4o-mini` -> OpenAI's SDK -> HTTP), the
transport answering from memory as in benchmarks/_openai_call.py, whose request, reply and client it reuses.

Modes: those of benchmarks/_openai_call.py (bare, sdk_floor, openllmetry, ours), with the *sdk floor* around
`litellm.completion`, OpenLLMetry's LiteLLM instrumentation (`Instruments.LITELLM`, which wraps the same
functions) and `instrument(integrations=["litellm"])`; and `litellm_otel`, LiteLLM's own OpenTelemetry
callback (its `otel` callback, given the same in-memory providers), as a second reference.

    python benchmarks/_litellm_call.py {bare,sdk_floor,openllmetry,litellm_otel,ours} [--calls 2000]
                                       [--warmup 300]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # its price list from the package, not the network
# LiteLLM hands each call's logging to a thread pool that starts a new thread (up to 100) whenever none is idle at
# that instant: how many it starts follows the scheduling (300 calls: 3 natively, 12 under valgrind, which runs one
# thread at a time), and the count of a mode would follow it too. One thread: the same logging work in every mode.
os.environ.setdefault("LOGGING_EXECUTOR_MAX_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _openai_call import (
    MESSAGES,
    MODEL,
    in_memory_providers,
    install_sdk_floor,
    make_client,
    run,
    setup_openllmetry,
    setup_ours,
)

ROUTED_MODEL = f"openai/{MODEL}"


def setup_sdk_floor() -> None:
    """The SDK floor around `litellm.completion`, where this project's and OpenLLMetry's wrappers sit."""
    import litellm

    def read(reply: Any) -> tuple[int, int, str, str, tuple[str, ...]]:
        usage = reply.usage
        reasons = tuple(c.finish_reason for c in reply.choices)
        return usage.prompt_tokens, usage.completion_tokens, reply.model, reply.id, reasons

    install_sdk_floor(litellm, "openai", read, "completion")


def setup_litellm_otel() -> None:
    """LiteLLM's own OpenTelemetry callback (`litellm.callbacks = ["otel"]`), built on the in-memory providers
    the other modes use instead of the console exporter it defaults to."""
    import litellm
    from litellm.integrations.opentelemetry import OpenTelemetry

    tracer_provider, meter_provider = in_memory_providers()
    litellm.callbacks = [OpenTelemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)]


SETUPS = {
    "bare": lambda: None,
    "sdk_floor": setup_sdk_floor,
    "openllmetry": lambda: setup_openllmetry("LITELLM"),
    "litellm_otel": setup_litellm_otel,
    "ours": lambda: setup_ours("litellm"),
}


def main() -> None:
    def make_call() -> Any:
        import litellm

        completion, client = litellm.completion, make_client()  # looked up after the mode replaced it
        return lambda: completion(model=ROUTED_MODEL, messages=MESSAGES, client=client, api_key="bench")

    run(__doc__, SETUPS, make_call)


if __name__ == "__main__":
    main()
