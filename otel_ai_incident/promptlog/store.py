"""What the prompt log offers its readers and writers, independent of where it is kept.

The writer, retention, erasure and the incident code talk to a `PromptLogStore`, so one process on one host
(SQLite, `promptlog.sqlite`) and a fleet sharing a database (PostgreSQL, `promptlog.postgres`) run the same
code; `promptlog.backends.open_store(url)` picks the implementation from the URL. This module imports no
backend. Times are Unix seconds; a window is `since <= timestamp < until`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from otel_ai_incident.promptlog.entry import PromptLogEntry
from otel_ai_incident.promptlog.pseudonym import Pseudonymizer, pseudonyms_of


@dataclass(frozen=True, slots=True)
class GuardrailMatch:
    """Matches an entry with at least one guardrail decision having every field given (None: any)."""

    stage: str | None = None
    decision: str | None = None
    guardrail: str | None = None


#: Entries whose output a guardrail blocked: what a jailbreak wave or a leak investigation starts from.
OUTPUT_BLOCK = GuardrailMatch(stage="output", decision="block")


@dataclass(frozen=True, slots=True)
class LogQuery:
    """A filter over the prompt log; every field left at None matches everything."""

    since: float | None = None
    until: float | None = None
    session_id: str | None = None
    #: A user's pseudonyms, one per live key (see `for_user`), so entries under a retired key match too.
    user_pseudonyms: frozenset[str] | None = None
    model: str | None = None
    guardrail: GuardrailMatch | None = None
    incident_flag: bool | None = None
    incident_id: str | None = None
    limit: int | None = None

    @classmethod
    def for_user(cls, user_id: str, pseudonymizers: Iterable[Pseudonymizer], **filters: Any) -> LogQuery:
        """A query for a raw user id, pseudonymised under every live key (the raw id is not kept)."""
        return cls(user_pseudonyms=frozenset(pseudonyms_of(user_id, pseudonymizers).values()), **filters)


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry as the store holds it: what the hooks wrote, plus what happened to it since."""

    entry: PromptLogEntry
    #: The first incident the entry was flagged for (each incident holds it until `release_hold`).
    incident_id: str | None = None
    #: When PII was redacted from its texts, at write time or by `logs scrub`.
    scrubbed_at: float | None = None


class Affected(NamedTuple):
    """The blast radius of an incident window: distinct users and sessions, and the entries counted."""

    users: int
    sessions: int
    entries: int


class ScrubCount(NamedTuple):
    scanned: int
    redacted: int


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """What was done to the log and why; holds no personal data (no user id, no pseudonym)."""

    at: float
    action: str
    count: int
    key_ids: tuple[str, ...]
    reason: str


class PromptLogStore(Protocol):
    """The prompt log's storage. Implementations are safe to use from several threads and processes.

    A store object does no I/O until first used, so a bad location or a database that is down surfaces on
    the first call. A call that cannot reach its database right now (locked, refused, restarting) raises
    `storage.errors.StoreUnavailableError`, which the writer retries; `SchemaTooNewError` when a newer
    package wrote the database; other errors are the backend's own.
    """

    def write(self, entries: Sequence[PromptLogEntry], *, scrubbed_at: float | None = None) -> None:
        """Insert a batch in one transaction (and each new system prompt once), stamping `scrubbed_at`.

        Idempotent by `log_id`: an entry already stored is skipped, so a batch whose outcome was unknown
        (the connection broke during the commit) can be written again. Text a backend cannot hold (a NUL
        character, a lone surrogate, a NaN inside the JSON fields) is stored with U+FFFD (NaN: null) in its
        place instead of failing the batch. Raises when the batch was not written.
        """

    def get(self, log_id: str) -> StoredEntry | None:
        """The entry with this id as stored (None if there is none): the system prompt's text is not in
        it (see `get_system_prompt`), JSON fields come back as lists of dicts."""

    def query(self, query: LogQuery) -> Iterator[StoredEntry]:
        """Matching entries, oldest first (ties by `log_id`), at most `query.limit`."""

    def get_system_prompt(self, prompt_hash: str) -> str | None:
        """The exact system prompt that was live under this hash, for a replay."""

    def top_users(
        self, since: float, until: float, *, guardrail: GuardrailMatch | None = None, limit: int = 10
    ) -> list[tuple[str, int]]:
        """(pseudonym, entries) of the users with most entries in the window (matching `guardrail`), most
        first, ties by pseudonym; entries without a user are not counted."""

    def most_anomalous_tool(self, since: float, until: float) -> str | None:
        """The tool whose call in the window had the highest anomaly score (ties: the highest mean score,
        then the name), or None if none was scored."""

    def count_affected(self, since: float, until: float, where: LogQuery | None = None) -> Affected:
        """Distinct users and sessions among entries in the window that also match `where` (its own window
        is replaced by this one). Users are counted by pseudonym: one user seen under two keys during a key
        rotation counts twice."""

    def flag_incident(self, incident_id: str, *, log_ids: Collection[str] = (), where: LogQuery | None = None) -> int:
        """Mark entries (by id, or all matching `where`: exactly one of the two) as part of an incident and
        hold them; the number of entries marked. An entry keeps the first incident as its `incident_id`
        and is held by every incident that flagged it; flagging again for the same incident changes nothing."""

    def release_hold(self, incident_id: str) -> int:
        """End the incident's legal hold (the incident closed): retention may delete its entries again,
        unless another open incident holds them; the number of holds released."""

    def purge(self, cutoff: float, *, batch_size: int = 1000, max_batches: int | None = None) -> int:
        """Delete entries older than `cutoff` that no open incident holds, oldest first, `batch_size` per
        transaction and at most `max_batches` batches; the number deleted.

        Processes sharing the store never purge side by side: a shared database lets one purge at a time and
        returns 0 at once to the others (retention runs once per fleet); a SQLite file makes them take
        turns on its write lock.
        """

    def erase(self, pseudonyms: Collection[str], *, key_ids: Sequence[str], reason: str, now: float) -> int:
        """Delete every entry of these pseudonyms, held or not, and record the erasure (count, key ids,
        reason; no pseudonym) in the audit log; the number deleted. When it returns, the text is gone from
        every reader and `reclaim` has run."""

    def scrub(self, redact: Callable[[str], str], *, now: float, batch_size: int = 500) -> ScrubCount:
        """Redact the texts of entries not scrubbed yet, in place, stamping `scrubbed_at`; record the pass in
        the audit log and `reclaim`, when any entry was scanned."""

    def reclaim(self) -> None:
        """Take the text of deleted and overwritten entries out of where the database keeps superseded data
        (SQLite: the WAL, copied into the file; PostgreSQL: dead row versions, vacuumed). What may remain
        on disk afterwards is described in each backend's module."""

    def audit_log(self) -> list[AuditRecord]:
        """Every erasure and scrub recorded, oldest first."""

    def close(self) -> None:
        """Release connections (a later call opens them again); call once nothing else uses the store."""
