"""Integrations with LLM client libraries: each patches one library so every API call becomes an `llm_turn`.

Import the module of the library you use (`integrations.openai`); nothing here imports a client library, so
the core package works without any of them installed.
"""
