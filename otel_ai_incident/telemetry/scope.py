"""The exits the hooks' context managers share: record how the block ended, never swallow its exception."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType


class Scope(ABC):
    """A sync and async context manager whose exit records the outcome and lets the block's exception pass."""

    __slots__ = ()

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
