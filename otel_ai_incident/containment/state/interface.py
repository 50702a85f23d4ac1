"""What a containment store is: its data types and the `ContainmentState` protocol every backend implements.

The receiver writes the state, every app's gate reads it, and a human lifts or approves through the CLI,
possibly from many processes and hosts at once; the contract below is what each backend guarantees under
such concurrent use (the shared test suite, tests/test_containment_state.py, holds every backend to it).
Standard library only: this runs inside apps.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple, Protocol, TypeVar

from otel_ai_incident import names
from otel_ai_incident.names import ContainmentActionName as Action

T = TypeVar("T")

#: How errors and messages name this store.
STORE = "containment state"
#: What erasure leaves in an audit record where a user's pseudonym was.
ERASED_MARKER = names.ERASED_MARKER


class Change(StrEnum):
    """What an audit record says happened."""

    APPLIED = "applied"
    LIFTED = "lifted"
    PENDING = "pending"  # waits for `containment approve`
    APPROVED = "approved"
    DRY_RUN = "dry_run"  # would have been applied
    NO_TARGET = "no_target"  # the target could not be determined, so nothing was done
    ERASED = "erased"  # users' pseudonyms were removed (an erasure request)


@dataclass(frozen=True)
class PlannedAction:
    """An action with its target resolved, before it is applied (or recorded as pending or dry run)."""

    action: Action
    target: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    ttl_s: float | None = None  # None: stays until a human lifts it


@dataclass(frozen=True)
class ContainmentEntry:
    """One action in force. `target` is None for actions on the whole app (kill switch, read-only)."""

    action: Action
    target: str | None
    params: Mapping[str, Any]
    incident_id: str | None
    applied_by: str
    applied_at: float
    expires_at: float | None = None

    def active_at(self, now: float) -> bool:
        return self.expires_at is None or now < self.expires_at

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "target": self.target,
            "params": dict(self.params),
            "incident_id": self.incident_id,
            "applied_by": self.applied_by,
            "applied_at": self.applied_at,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ContainmentEntry:
        return cls(
            Action(data["action"]),
            data.get("target"),
            dict(data.get("params") or {}),
            data.get("incident_id"),
            str(data["applied_by"]),
            float(data["applied_at"]),
            None if data.get("expires_at") is None else float(data["expires_at"]),
        )


@dataclass(frozen=True)
class PendingAction:
    id: int
    planned: PlannedAction
    incident_id: str | None
    requested_by: str
    requested_at: float


@dataclass(frozen=True)
class AuditRecord:
    at: float
    revision: int
    change: Change
    action: str
    target: str | None
    incident_id: str | None
    actor: str
    detail: Mapping[str, Any]


@dataclass(frozen=True)
class StateView:
    """The entries in force at one revision; `skipped` counts stored entries this version cannot use (an
    unknown action from a newer version, malformed parameters), left out one by one so the rest still holds."""

    revision: int
    entries: tuple[ContainmentEntry, ...]
    skipped: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"revision": self.revision, "entries": [e.to_json() for e in self.entries], "skipped": self.skipped}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StateView:
        entries, skipped = usable_entries(data["entries"], ContainmentEntry.from_json)
        return cls(int(data["revision"]), entries, skipped + int(data.get("skipped") or 0))


#: Parameters an action cannot be enforced without, and must be numbers.
_NUMERIC_PARAMS = {Action.RATE_LIMIT_USER: ("rate_per_s", "burst"), Action.TIGHTEN_GUARDRAIL: ("threshold",)}


def usable_entries(
    rows: Iterable[T], parse: Callable[[T], ContainmentEntry]
) -> tuple[tuple[ContainmentEntry, ...], int]:
    """The rows that parse into enforceable entries, and how many did not (each is skipped on its own)."""
    entries, skipped = [], 0
    for row in rows:
        try:
            entry = parse(row)
            for name in _NUMERIC_PARAMS.get(entry.action, ()):
                float(entry.params[name])
        except (ValueError, TypeError, KeyError, AttributeError):
            skipped += 1
            continue
        entries.append(entry)
    return tuple(entries), skipped


class TokenGrant(NamedTuple):
    """The answer of a shared token bucket: whether a token was taken, and if not, how long until one is
    there at the earliest (other replicas only ever take tokens, so a caller may deny without asking again
    until then)."""

    taken: bool
    retry_after_s: float = 0.0


def refill(tokens: float, elapsed_s: float, rate_per_s: float, burst: float) -> float:
    """A token bucket's level after `elapsed_s`: it gains `rate_per_s` tokens a second, up to `burst`.

    The PostgreSQL backend computes the same in SQL; the gate's per-process buckets use this.
    """
    return min(burst, tokens + max(0.0, elapsed_s) * rate_per_s)


def grant(level: float, rate_per_s: float) -> TokenGrant:
    """What a bucket at `level` (after refill) answers."""
    if level >= 1.0:
        return TokenGrant(True)
    return TokenGrant(False, (1.0 - level) / rate_per_s if rate_per_s > 0 else float("inf"))


@dataclass(frozen=True)
class ErasureReport:
    """What `ContainmentState.erase` removed (counts only: the report itself names nobody)."""

    rate_limits: int = 0  # rate limits in force on the users, lifted
    pending: int = 0  # pending actions on them, deleted (decided ones too, since they name the user)
    audit_records: int = 0  # audit records whose target or detail held a pseudonym, now holding ERASED_MARKER
    keys: int = 0  # exactly-once keys that held a pseudonym, rewritten with the marker

    @property
    def total(self) -> int:
        return self.rate_limits + self.pending + self.audit_records + self.keys

    def to_json(self) -> dict[str, int]:
        return {
            "rate_limits": self.rate_limits,
            "pending": self.pending,
            "audit_records": self.audit_records,
            "keys": self.keys,
        }


class ContainmentState(Protocol):
    """What the receiver, the CLI and the gate need from a containment store.

    Every write is one transaction: it happens entirely or not at all, also with several receivers and
    CLIs writing at once. `key` makes a write exactly-once across all of them: of the calls that pass the
    same key, whichever commits first acts and every other one changes nothing and returns False (None for
    `request_approval`), so a notification delivered twice, or to two receivers, acts once. Keys are kept
    for good.

    The revision counts changes to what is in force or pending: every apply, approve, lift and approval
    request moves it by one, and so does an erasure that lifted or deleted something, in the same transaction
    as the change, so a reader that saw revision r has seen every change up to r. Audit-only writes
    (`record`) do not move it.
    """

    def describe(self) -> str:
        """The store and where it is, for messages (never a password)."""

    def revision(self) -> int:
        """The current revision (0 for a new store)."""

    def read(self, now: float | None = None) -> StateView:
        """The entries in force at `now` (default: the current time), with the revision they belong to,
        read in one snapshot. Expired entries are left out, though still stored."""

    def changed_since(self, revision: int) -> StateView | None:
        """`read()` when the revision differs from `revision`, else None. The gate calls it every second
        or on a change notification, so a store answers an unchanged revision cheaply."""

    def identity(self) -> int:
        """A number drawn when the store was created: a store created afresh (a new file, a new database)
        differs from the one it replaces even at the same revision (the HTTP endpoint's ETag carries both).
        A file store whose file is replaced while open (a restore) works on the new file from its next call
        and draws a new identity for it, since the restored revisions repeat numbers already served."""

    def apply(self, planned: PlannedAction, *, actor: str, incident_id: str | None, key: str | None = None) -> bool:
        """Put an action in force, replacing the same action on the same target, and audit it (APPLIED).
        A rate limit starts with a full bucket. False when `key` was already used."""

    def record(
        self,
        change: Change,
        planned: PlannedAction,
        *,
        actor: str,
        incident_id: str | None,
        key: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> bool:
        """Audit something that changes nothing in force (DRY_RUN, NO_TARGET). False when `key` was used."""

    def request_approval(
        self, planned: PlannedAction, *, actor: str, incident_id: str | None, key: str | None = None
    ) -> int | None:
        """Record a pending action (audited PENDING); its id, or None when `key` was already used."""

    def approve(self, pending_id: int, *, actor: str) -> ContainmentEntry:
        """Apply a pending action and audit it (APPROVED); the entry now in force. Exactly once: KeyError
        when there is no such pending action or it was already approved (also by a concurrent approver)."""

    def pending(self) -> list[PendingAction]:
        """Actions waiting for approval, oldest first."""

    def lift(self, action: Action, target: str | None, *, actor: str, reason: str) -> bool:
        """End an action in force and audit who and why (LIFTED); False when it was not in force."""

    def audit(self, limit: int = 100) -> list[AuditRecord]:
        """The latest `limit` audit records, newest first."""

    def take_token(self, target: str, rate_per_s: float, burst: float) -> TokenGrant:
        """Take one token from the bucket `target` shares with every process using this store.

        The bucket starts full (`burst` tokens) and refills at `rate_per_s` (see `refill`); taking is
        atomic, so N processes together get at most what one bucket gives. Applying or lifting a rate limit
        on `target` resets its bucket. Raises when the store cannot be reached (StoreUnavailableError,
        sqlite3.Error); the caller decides (the gate refuses the turn).
        """

    def erase(self, pseudonyms: Collection[str], *, actor: str, reason: str) -> ErasureReport:
        """Remove users from the state, for an erasure request: lift rate limits in force on them, delete
        actions pending (or decided) on them and their token buckets, and replace each pseudonym in audit
        records (target and detail) and exactly-once keys by ERASED_MARKER. Audited as ERASED with the
        counts and `reason`, never the pseudonyms; what was removed."""

    def close(self) -> None:
        """Release connections; the object is not used afterwards."""


def without_pseudonyms(value: Any, pseudonyms: Collection[str]) -> Any:
    """`value` (JSON data: an audit detail, a key) with every occurrence of a pseudonym replaced by
    ERASED_MARKER, in strings and mapping keys alike; erasure in every backend goes through this."""
    if isinstance(value, str):
        for pseudonym in pseudonyms:
            if pseudonym in value:
                value = value.replace(pseudonym, ERASED_MARKER)
        return value
    if isinstance(value, Mapping):
        return {without_pseudonyms(k, pseudonyms): without_pseudonyms(v, pseudonyms) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [without_pseudonyms(v, pseudonyms) for v in value]
    return value
