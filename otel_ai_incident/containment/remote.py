"""Reading the containment state from the receiver's `GET /v1/containment`, for apps on other hosts.

Conditional requests (If-None-Match with the last revision's ETag) make an unchanged state cost one 304.
urllib keeps this dependency-free; the gate calls it from a background thread, never on the turn path.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from otel_ai_incident.containment.state.interface import STORE, StateView
from otel_ai_incident.storage.urls import redacted

CONTAINMENT_PATH = "/v1/containment"
DEFAULT_TIMEOUT_S = 2.0


def etag(revision: int) -> str:
    """The ETag of a revision, shared by the endpoint and this client."""
    return f'"{revision}"'


class HttpStateReader:
    """A read-only containment source over HTTP (`remote`: the gate polls it off the request path)."""

    remote = True

    def __init__(self, base_url: str, token: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.url = base_url.rstrip("/") + CONTAINMENT_PATH
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._timeout_s = timeout_s

    def describe(self) -> str:
        return f"{STORE} at {redacted(self.url)}"

    def changed_since(self, revision: int) -> StateView | None:
        request = urllib.request.Request(self.url, headers={**self._headers, "If-None-Match": etag(revision)})
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                return StateView.from_json(json.load(response))
        except urllib.error.HTTPError as error:
            if error.code == 304:
                return None
            raise
