"""Exceptions the app is meant to catch."""

from __future__ import annotations


class ContainmentActive(RuntimeError):
    """Raised by a hook when containment forbids what the app is about to do; the app shows its fallback.

    `action` is the containment action in force (e.g. "kill_switch", "restrict_to_read_only") and `target`
    what it applies to (a tool name, a pseudonymised user), when it has one.
    """

    def __init__(self, action: str, target: str | None = None, incident_id: str | None = None) -> None:
        self.action = action
        self.target = target
        self.incident_id = incident_id
        where = f" ({target})" if target else ""
        super().__init__(f"containment in force: {action}{where}")
