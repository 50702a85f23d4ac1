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


def etag(revision: int, identity: int) -> str:
    """The ETag of a revision of one store: a store created afresh at the same revision number differs."""
    return f'"{identity}-{revision}"'


class HttpStateReader:
    """A read-only containment source over HTTP (`remote`: the gate polls it off the request path)."""

    remote = True

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        *,
        credential: str = "the token given",
    ) -> None:
        """`credential` says where `token` came from (AII_READER_TOKEN, a file...), so a refusal names what to
        fix; it never holds the token."""
        self.url = base_url.rstrip("/") + CONTAINMENT_PATH
        self._credential = credential
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._timeout_s = timeout_s
        self._last: tuple[int, str] | None = None  # (revision, ETag) of the last full answer

    def describe(self) -> str:
        return f"{STORE} at {redacted(self.url)}"

    def changed_since(self, revision: int) -> StateView | None:
        """The state unless the receiver answers that the ETag it gave with `revision` still holds."""
        headers = dict(self._headers)
        if self._last is not None and self._last[0] == revision:
            headers["If-None-Match"] = self._last[1]
        request = urllib.request.Request(self.url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                view = StateView.from_json(json.load(response))
                self._last = (view.revision, response.headers.get("ETag") or "")
                return view
        except urllib.error.HTTPError as error:
            if error.code == 304:
                return None
            if error.code in (401, 403):
                raise PermissionError(
                    f"{self.describe()} answered {error.code} {error.reason}: it does not accept the token "
                    f"({self._credential}) for reading the containment state"
                ) from None
            raise
