"""The errors a store raises that a command or the receiver reports as they are, naming the store."""

from __future__ import annotations


class StoreError(RuntimeError):
    """A store cannot be used as configured; the message names the store and what to fix."""


class StoreUnavailableError(StoreError):
    """The database cannot be reached right now (refused, unreachable, auth failed); retrying may work."""


class SchemaTooNewError(StoreError):
    """The database was written by a newer version of the package; writing to it could corrupt it."""
