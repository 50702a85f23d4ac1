"""One benchmark process for the Anthropic client: time a mocked `messages.create` under one mode, print µs
per call as JSON. The modes are those of benchmarks/_openai_call.py (bare, sdk_floor, openllmetry, ours),
with the Anthropic integration (`instrument(integrations=["anthropic"])`) and OpenLLMetry's Anthropic
instrumentation. The SDK's own tracing is off in every mode (ANTHROPIC_OPEN_TELEMETRY=false): it would cost
the instrumented modes a span more than `bare`, which has no tracer provider.

    python benchmarks/_anthropic_call.py {bare,sdk_floor,openllmetry,ours} [--calls 2000] [--warmup 300]
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ["ANTHROPIC_OPEN_TELEMETRY"] = "false"
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _openai_call import install_sdk_floor, run, setup_openllmetry, setup_ours

MODEL = "claude-sonnet-4-5"
SYSTEM = "You are the support assistant of Example Shop."
MESSAGES = [{"role": "user", "content": "Hi, when will my order 12345 arrive? It has been a week."}]
REPLY = json.dumps(
    {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [
            {"type": "text", "text": "Your order 12345 left our warehouse yesterday and should arrive by Friday."}
        ],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 42, "output_tokens": 17},
    }
).encode()


def make_client() -> Any:
    import anthropic
    import httpx2

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=REPLY, headers={"content-type": "application/json"})

    return anthropic.Anthropic(
        api_key="bench",
        base_url="http://anthropic.bench",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(answer)),
    )


def setup_sdk_floor() -> None:
    from anthropic.resources.messages import Messages

    def read(reply: Any) -> tuple[int, int, str, str, tuple[str, ...]]:
        usage = reply.usage
        return usage.input_tokens, usage.output_tokens, reply.model, reply.id, (reply.stop_reason,)

    install_sdk_floor(Messages, "anthropic", read)


SETUPS = {
    "bare": lambda: None,
    "sdk_floor": setup_sdk_floor,
    "openllmetry": lambda: setup_openllmetry("ANTHROPIC"),
    "ours": lambda: setup_ours("anthropic"),
}


def main() -> None:
    def make_call() -> Any:
        create = make_client().messages.create
        return lambda: create(model=MODEL, max_tokens=256, system=SYSTEM, messages=MESSAGES)

    run(__doc__, SETUPS, make_call)


if __name__ == "__main__":
    main()
