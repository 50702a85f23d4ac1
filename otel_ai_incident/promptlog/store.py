"""What the prompt log offers its readers and writers, independent of where it is kept.

The writer, retention, erasure and the incident code talk to a `PromptLogStore`, so a fleet can plug in a
shared database later without touching them; `open_store(url)` picks the implementation from the URL.
Times are Unix seconds; a window is `since <= timestamp < until`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from otel_ai_incident.promptlog.entry import PromptLogEntry
from otel_ai_incident.promptlog.pseudonym import Pseudonymizer, pseudonyms_of
from otel_ai_incident.storage.sqlite import SQLITE_SCHEME


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
    """The prompt log's storage. Implementations are safe to use from several threads and processes."""

    def write(self, entries: Sequence[PromptLogEntry], *, scrubbed_at: float | None = None) -> None:
        """Insert a batch in one transaction (and each new system prompt once); raise when it fails."""

    def get(self, log_id: str) -> StoredEntry | None: ...

    def query(self, query: LogQuery) -> Iterator[StoredEntry]:
        """Matching entries, oldest first."""

    def get_system_prompt(self, prompt_hash: str) -> str | None:
        """The exact system prompt that was live under this hash, for a replay."""

    def top_users(
        self, since: float, until: float, *, guardrail: GuardrailMatch | None = None, limit: int = 10
    ) -> list[tuple[str, int]]:
        """(pseudonym, entries) of the users with most entries in the window (matching `guardrail`)."""

    def most_anomalous_tool(self, since: float, until: float) -> str | None:
        """The tool whose call in the window had the highest anomaly score, or None if none was scored."""

    def count_affected(self, since: float, until: float, where: LogQuery | None = None) -> Affected:
        """Distinct users and sessions among entries in the window that also match `where`."""

    def flag_incident(
        self, incident_id: str, *, log_ids: Collection[str] = (), where: LogQuery | None = None
    ) -> int:
        """Mark entries (by id, or all matching `where`) as part of an incident and hold them; the count."""

    def release_hold(self, incident_id: str) -> int:
        """End the incident's legal hold (the incident closed): retention may delete its entries again."""

    def purge(self, cutoff: float, *, batch_size: int = 1000, max_batches: int | None = None) -> int:
        """Delete entries older than `cutoff` that no open incident holds, `batch_size` per transaction."""

    def erase(self, pseudonyms: Collection[str], *, key_ids: Sequence[str], reason: str, now: float) -> int:
        """Delete every entry of these pseudonyms and record the erasure in the audit log; the count."""

    def scrub(self, redact: Callable[[str], str], *, now: float, batch_size: int = 500) -> ScrubCount:
        """Redact the texts of entries not scrubbed yet, in place, stamping `scrubbed_at`."""

    def audit_log(self) -> list[AuditRecord]: ...

    def close(self) -> None: ...


def open_store(url: str, **options: Any) -> PromptLogStore:
    """The store a URL names: `sqlite:///relative/path.db` or `sqlite:////absolute/path.db`.

    Opening does no I/O, so a bad location surfaces on first use (where the writer counts it as a drop)
    instead of failing the app at start-up.
    """
    if url.startswith(SQLITE_SCHEME):
        from otel_ai_incident.promptlog.sqlite import SqliteStore

        return SqliteStore(url[len(SQLITE_SCHEME):], **options)
    raise ValueError(f"unsupported prompt log URL {url!r}: expected {SQLITE_SCHEME}PATH")
