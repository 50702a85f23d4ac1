"""One benchmark process for LangChain: time a chat model's `invoke` under one mode, print µs per call as JSON.

The model is langchain-core's fake chat model (as in tests/test_langchain_integration.py), answering from memory
with usage and a finish reason: no provider SDK and no HTTP under it, so what is timed is LangChain's run and
callback machinery plus the instrumentation. Modes: those of benchmarks/_openai_call.py, with the *sdk floor*
around the model's `invoke`, OpenLLMetry's LangChain instrumentation (`Instruments.LANGCHAIN`, a callback
handler LangChain adds to every run) and `instrument(integrations=["langchain"])` (ours, also a callback
handler added to every run).

    python benchmarks/_langchain_call.py {bare,sdk_floor,openllmetry,ours} [--calls 2000] [--warmup 300]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _openai_call import MESSAGES, install_sdk_floor, run, setup_openllmetry, setup_ours

MODEL = "fake-chat-1"
REPLY_TEXT = "Your order 12345 left our warehouse yesterday and should arrive by Friday."


def make_model() -> Any:
    """A fake chat model with a name (LangChain reports it as `ls_model_name`) that gives the same reply to
    every call, with its usage, finish reason and id as a provider's model gives them."""
    from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
    from langchain_core.messages import AIMessage

    class NamedFakeModel(FakeMessagesListChatModel):
        model: str = MODEL

    reply = AIMessage(
        REPLY_TEXT,
        usage_metadata={"input_tokens": 42, "output_tokens": 17, "total_tokens": 59},
        response_metadata={"finish_reason": "stop", "id": "resp-1", "model_name": f"{MODEL}-2026"},
    )
    return NamedFakeModel(responses=[reply])


def prompt() -> list[Any]:
    from langchain_core.messages import HumanMessage, SystemMessage

    system, user = (m["content"] for m in MESSAGES)
    return [SystemMessage(system), HumanMessage(user)]


def setup_sdk_floor(model: Any) -> None:
    """The SDK floor around the model's `invoke` (the request model is the fake model's name)."""

    def read(reply: Any) -> tuple[int, int, str, str, tuple[str, ...]]:
        usage, metadata = reply.usage_metadata, reply.response_metadata
        return (
            usage["input_tokens"],
            usage["output_tokens"],
            metadata["model_name"],
            metadata["id"],
            (metadata["finish_reason"],),
        )

    install_sdk_floor(type(model), "fakemodel", read, "invoke", lambda kwargs: MODEL)


SETUPS = {
    "bare": lambda model: None,
    "sdk_floor": setup_sdk_floor,
    "openllmetry": lambda model: setup_openllmetry("LANGCHAIN"),
    "ours": lambda model: setup_ours("langchain"),
}


def main() -> None:
    model, messages = make_model(), prompt()
    setups = {mode: (lambda setup=setup: setup(model)) for mode, setup in SETUPS.items()}
    run(__doc__, setups, lambda: lambda: model.invoke(messages))


if __name__ == "__main__":
    main()
