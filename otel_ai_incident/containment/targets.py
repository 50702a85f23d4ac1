"""Where containment finds its targets: metrics carry no user ids, the prompt log does.

The receiver depends on this protocol only; the prompt-log store provides the implementation.
"""

from __future__ import annotations

from typing import Protocol


class TargetFinder(Protocol):
    def top_users(self, since: float, until: float, limit: int) -> list[str]:
        """Pseudonyms of the users most involved in the flagged turns between two Unix times."""

    def most_anomalous_tool(self, since: float, until: float) -> str | None:
        """The tool whose calls looked most unusual between two Unix times, if any."""
