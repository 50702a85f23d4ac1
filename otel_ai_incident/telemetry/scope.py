"""What the hooks' context managers share: entry as the current span or detached, and exits that record how the
block ended without ever swallowing its exception."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class Scope(ABC):
    """A sync and async context manager whose exit records the outcome and lets the block's exception pass.

    Entered with `with`, its span is the current one inside the block. `enter_detached()` starts it without
    touching the caller's context: for an integration that only sees callbacks (nothing runs "inside"), or
    that makes a context current around the SDK call itself."""

    __slots__ = ()

    def __enter__(self) -> Self:
        return self._open(attach=True)

    async def __aenter__(self) -> Self:
        return self._open(attach=True)

    def enter_detached(self) -> Self:
        """Enter without making the span current; leave with `__exit__` as usual."""
        return self._open(attach=False)

    def exit_detached(self, exc: BaseException | None = None) -> None:
        """Leave as `__exit__` does, for a scope an integration ends from a callback rather than a block: `exc` is
        the exception the work ended with (None: it ended normally)."""
        self._finish(exc)

    @abstractmethod
    def _open(self, attach: bool) -> Self:
        """Start (raising ContainmentActive where the gate forbids it); attach the span's context if asked."""

    @abstractmethod
    def _finish(self, exc: BaseException | None) -> None:
        """Record the outcome (`exc` is None for a normal exit); must never raise."""

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        self._finish(exc)
        return False

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        self._finish(exc)
        return False
