"""How `incidents show`, `replay` and the post-mortem spell times, verdicts and event details, in one place."""

from __future__ import annotations

import time
from collections.abc import Mapping


def utc(at: float | None) -> str:
    """UTC to the second, so timelines from several hosts line up; "-" for a point not reached."""
    return "-" if at is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def yes_no(value: bool | None) -> str:
    return "n/a" if value is None else "yes" if value else "no"


def details(detail: Mapping[str, object]) -> str:
    """A timeline event's detail as `key=value, ...`, sorted, leaving out what is unknown."""
    return ", ".join(f"{k}={v}" for k, v in sorted(detail.items()) if v is not None)
