"""Bounded connections for the receiver: idle clients cannot crowd out Alertmanager.

uvicorn closes a kept-alive connection after `timeout_keep_alive`, but a connection that never finishes
its request headers is held forever, and each one holds a file descriptor: enough of them (about 1,000
under the common `ulimit -n 1024`) and the server cannot accept Alertmanager's next delivery. This
protocol, a small extension of uvicorn's h11 one, adds what the receiver needs:
- a request must send its headers within `header_timeout_s` of connecting (or of the previous response)
  and its body within `body_timeout_s` after that, else the connection is closed;
- at most `max_waiting` connections may wait without a request in progress; a new connection over the cap
  closes the one that has waited longest, so a fresh client (Alertmanager) always gets in;
- headers are capped at `max_header_bytes` (h11 answers 400 beyond it);
- the listen backlog is `backlog`: asyncio accepts up to that many sockets at once before any of them is
  seen here, so a small one keeps a flood from reaching the file limit between two evictions.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uvicorn.protocols.http.h11_impl import H11Protocol

DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_BODY_TIMEOUT_S = 30.0
DEFAULT_KEEP_ALIVE_S = 5.0
DEFAULT_MAX_WAITING = 256
DEFAULT_MAX_HEADER_BYTES = 16 * 1024
DEFAULT_BACKLOG = 128


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    keep_alive_s: float = DEFAULT_KEEP_ALIVE_S
    max_waiting: int = DEFAULT_MAX_WAITING
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    backlog: int = DEFAULT_BACKLOG

    def __post_init__(self) -> None:
        if min(self.header_timeout_s, self.body_timeout_s, self.keep_alive_s) <= 0:
            raise ValueError("connection timeouts must be positive")
        if self.max_waiting < 1 or self.max_header_bytes < 1024:
            raise ValueError("max_waiting must be at least 1 and max_header_bytes at least 1024")

    def uvicorn_options(self) -> dict[str, Any]:
        """Keyword arguments for `uvicorn.run` / `uvicorn.Config`."""
        return {
            "http": bounded_protocol(self),
            "timeout_keep_alive": self.keep_alive_s,
            "h11_max_incomplete_event_size": self.max_header_bytes,
            "backlog": self.backlog,
        }


def bounded_protocol(limits: ConnectionLimits) -> type[H11Protocol]:
    """An h11 protocol class enforcing `limits`; its connections share one queue of waiting clients."""
    # Imported here so the CLI (which reads the defaults above) works without the `server` extra.
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    waiting: dict[BoundedH11Protocol, None] = {}  # insertion order = how long each has waited

    class BoundedH11Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._wait_for_request()
            while len(waiting) > limits.max_waiting:
                oldest = next(iter(waiting))
                oldest._close_waiting()

        def connection_lost(self, exc: Exception | None) -> None:
            waiting.pop(self, None)
            self._cancel_deadline()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self in waiting and self.conn.their_state is not h11.IDLE:
                waiting.pop(self, None)  # the headers are in: now the body has its own bound
                self._arm(limits.body_timeout_s, self._body_overdue)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self._wait_for_request()

        def _wait_for_request(self) -> None:
            waiting[self] = None
            self._arm(limits.header_timeout_s, self._headers_overdue)

        def _headers_overdue(self) -> None:
            if self in waiting:
                self._close_waiting()

        def _body_overdue(self) -> None:
            if self.conn.their_state is h11.SEND_BODY and not self.transport.is_closing():
                self.transport.close()  # the app sees a disconnect and refuses the request

        def _close_waiting(self) -> None:
            waiting.pop(self, None)
            self._cancel_deadline()
            if not self.transport.is_closing():
                self.transport.close()

        def _arm(self, delay_s: float, callback: Any) -> None:
            self._cancel_deadline()
            self._deadline = self.loop.call_later(delay_s, callback)

        def _cancel_deadline(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

    return BoundedH11Protocol
