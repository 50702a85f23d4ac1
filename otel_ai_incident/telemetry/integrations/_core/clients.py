"""What several client SDKs share without any of them being imported: where a resource's client sends its
requests, and whether another instrumentation of the same client is already on."""

from __future__ import annotations

import sys
import weakref
from typing import Any

# Client -> (host, port). A client's `base_url` property alone costs a microsecond and a half, on every call;
# weak keys, so a client can still be freed. A client whose base URL is changed after its first call keeps
# reporting the first one.
_servers: weakref.WeakKeyDictionary[Any, tuple[str | None, int | None]] = weakref.WeakKeyDictionary()


def base_url_server(resource: Any) -> tuple[str | None, int | None]:
    """The API's host and port from the `base_url` of the client a resource belongs to (the Stainless-built
    SDKs, OpenAI's and Anthropic's, keep it there); 443 or 80 when the URL names no port."""
    client = getattr(resource, "_client", None)
    known = _servers.get(client) if client is not None else None
    if known is not None:
        return known
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


def instrumentor_active(*candidates: tuple[str, str]) -> bool:
    """Whether one of these (module, BaseInstrumentor class) is instrumenting. Only modules the app already
    imported are looked at: one that is not imported cannot be instrumenting anything."""
    for module_name, class_name in candidates:
        module = sys.modules.get(module_name)
        if module is not None:
            instrumentor = getattr(module, class_name, None)
            if instrumentor is not None and getattr(instrumentor(), "is_instrumented_by_opentelemetry", False):
                return True
    return False
