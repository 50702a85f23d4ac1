"""The embedded prompt log: one SQLite file that several threads and processes share.

WAL lets readers run beside the one writer and, with synchronous=NORMAL, keeps every committed batch
through a crash of the process (only a power loss can take back the last commits). Each thread gets its own
connection, so the writer thread and an investigation in another thread never wait on a Python lock; a
process that forks gets fresh connections, because SQLite connections must not cross a fork.
secure_delete is on so that an erased or purged entry's text does not linger in free pages, and `reclaim`
copies the WAL into the file and truncates it, so the text is gone from both files of the database (copies
made before, such as backups, keep it).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import replace
from functools import lru_cache
from itertools import compress
from operator import is_not
from typing import Any

from otel_ai_incident.promptlog.entry import PromptLogEntry
from otel_ai_incident.promptlog.rows import (
    BOOL_COLUMNS,
    ENTRY_COLUMNS,
    JSON_COLUMNS,
    ROW_COLUMNS,
    SystemPrompts,
    entry_rows,
    sanitized,
)
from otel_ai_incident.promptlog.store import (
    Affected,
    AuditRecord,
    GuardrailMatch,
    LogQuery,
    ScrubCount,
    StoredEntry,
)
from otel_ai_incident.storage.errors import SchemaTooNewError, StoreUnavailableError
from otel_ai_incident.storage.private import create_private

DEFAULT_BUSY_TIMEOUT = 5.0
# Pages of 16 KiB and a checkpoint every 10,000 pages (a WAL of up to ~160 MB before it is recycled): the
# random inserts into the user and session indexes dirty the same pages again and again, and copying them
# back to the file less often doubles sustained write throughput on a busy disk (benchmarks/promptlog.py).
DEFAULT_PAGE_SIZE = 16_384
DEFAULT_WAL_AUTOCHECKPOINT = 10_000

# Each step takes the schema from version i to i + 1. Append-only: a released step is never edited,
# because databases in the field already ran it.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE prompt_log (
            log_id TEXT NOT NULL UNIQUE,
            timestamp REAL NOT NULL,
            user_pseudonym TEXT,
            pseudonym_key_id TEXT,
            session_id TEXT,
            model TEXT NOT NULL,
            system_prompt_hash TEXT,
            user_message TEXT,
            assistant_response TEXT,
            input_tokens INTEGER,
            output_tokens INTEGER,
            guardrail_decisions TEXT NOT NULL,
            tool_calls TEXT NOT NULL,
            latency_ms REAL,
            outcome TEXT NOT NULL,
            refused INTEGER NOT NULL,
            error_type TEXT,
            trace_id TEXT,
            span_id TEXT,
            prompt_name TEXT,
            prompt_version TEXT,
            incident_flag INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX prompt_log_time ON prompt_log (timestamp)",
        "CREATE INDEX prompt_log_session ON prompt_log (session_id, timestamp)",
        "CREATE INDEX prompt_log_user ON prompt_log (user_pseudonym, timestamp)",
        "CREATE INDEX prompt_log_model ON prompt_log (model, timestamp)",
        "CREATE INDEX prompt_log_flagged ON prompt_log (timestamp) WHERE incident_flag = 1",
        "CREATE TABLE system_prompts (hash TEXT PRIMARY KEY, text TEXT NOT NULL, first_seen REAL NOT NULL)",
    ),
    (
        "ALTER TABLE prompt_log ADD COLUMN incident_id TEXT",
        "ALTER TABLE prompt_log ADD COLUMN scrubbed_at REAL",
        "CREATE INDEX prompt_log_incident ON prompt_log (incident_id) WHERE incident_id IS NOT NULL",
        # Every incident an entry belongs to; `held` is the legal hold, cleared when the incident closes.
        """CREATE TABLE incident_entries (
            incident_id TEXT NOT NULL,
            log_id TEXT NOT NULL,
            held INTEGER NOT NULL DEFAULT 1,
            PRIMARY KEY (incident_id, log_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX incident_entries_held ON incident_entries (log_id) WHERE held = 1",
        """CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            action TEXT NOT NULL,
            count INTEGER NOT NULL,
            key_ids TEXT NOT NULL,
            reason TEXT NOT NULL
        )""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


_JSON_INDEXES = tuple(ENTRY_COLUMNS.index(name) for name in JSON_COLUMNS)
_BOOL_INDEXES = tuple(ENTRY_COLUMNS.index(name) for name in BOOL_COLUMNS)
_NONES = (None,) * len(ROW_COLUMNS)
_SELECT = f"SELECT {', '.join(ENTRY_COLUMNS)}, incident_id, scrubbed_at FROM prompt_log"
_PURGE = """DELETE FROM prompt_log WHERE rowid IN (
    SELECT rowid FROM prompt_log WHERE timestamp < ?
    AND NOT EXISTS (SELECT 1 FROM incident_entries h WHERE h.log_id = prompt_log.log_id AND h.held = 1)
    ORDER BY timestamp LIMIT ?)"""


def migrate(conn: sqlite3.Connection, migrations: Sequence[Sequence[str]] = MIGRATIONS) -> int:
    """Bring the file to the latest schema in one write transaction (safe when processes race); the version."""
    if conn.execute("PRAGMA user_version").fetchone()[0] == len(migrations):
        return len(migrations)
    with _Transaction(conn):
        version = conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have migrated
        if version > len(migrations):
            raise SchemaTooNewError(f"prompt log schema {version} is newer than this package's {len(migrations)}")
        for step in migrations[version:]:
            for statement in step:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {len(migrations)}")
    return len(migrations)


_CONNECT_ATTEMPTS = 8
_CONNECT_BACKOFF_S = 0.05


class SqliteStore:
    """A `PromptLogStore` in one SQLite file. Thread-safe; several processes may share the file."""

    def __init__(
        self,
        path: str,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        page_size: int = DEFAULT_PAGE_SIZE,
        wal_autocheckpoint: int = DEFAULT_WAL_AUTOCHECKPOINT,
    ) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.page_size = page_size
        self.wal_autocheckpoint = wal_autocheckpoint
        self._lock = threading.Lock()
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._pid = os.getpid()
        self._prompts = SystemPrompts()

    # -- connections ----------------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._pid != os.getpid():
            self._forget_parent_connections()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _connect(self) -> sqlite3.Connection:
        """Open and set up a connection, retrying a few times when another process is setting up the same
        new file: switching it to WAL takes an exclusive lock that SQLite refuses at once, without waiting
        out the busy timeout, while the other process holds it."""
        for attempt in range(1, _CONNECT_ATTEMPTS):
            try:
                return self._connect_once()
            except sqlite3.OperationalError as error:
                if "locked" not in str(error):
                    raise
                time.sleep(_CONNECT_BACKOFF_S * attempt)
        return self._connect_once()

    def _connect_once(self) -> sqlite3.Connection:
        create_private(self.path)
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA page_size={int(self.page_size)}")  # only takes effect on a new file
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA wal_autocheckpoint={int(self.wal_autocheckpoint)}")
            conn.execute("PRAGMA secure_delete=ON")
            migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _forget_parent_connections(self) -> None:
        """In a forked child: drop (never close or use) the parent's connections, and its lock, which a
        thread that does not exist here may have held at the fork."""
        self._lock = threading.Lock()
        self._local = threading.local()
        self._connections = []
        self._pid = os.getpid()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn())

    def close(self) -> None:
        """Close every thread's connection; call it once nothing else uses the store (a later use reopens)."""
        with self._lock:
            connections, self._connections = self._connections, []
            self._local = threading.local()
        for conn in connections:
            conn.close()

    # -- writing --------------------------------------------------------------------------------------

    def write(self, entries: Sequence[PromptLogEntry], *, scrubbed_at: float | None = None) -> None:
        """A lock held past the busy timeout, or a full disk, raises StoreUnavailableError: both pass, so the
        writer keeps the batch and retries it (its bounded queue counts what does not fit meanwhile)."""
        try:
            try:
                prompts = self._insert(entries, scrubbed_at)
            except UnicodeEncodeError:  # a lone surrogate: no UTF-8 form
                prompts = self._insert([sanitized(entry) for entry in entries], scrubbed_at)
        except sqlite3.OperationalError as error:
            if "locked" in str(error) or "busy" in str(error) or error.sqlite_errorcode == sqlite3.SQLITE_FULL:
                raise StoreUnavailableError(f"prompt log at {self.path}: {error}") from error
            raise
        self._prompts.written(prompts)

    def _insert(self, entries: Sequence[PromptLogEntry], scrubbed_at: float | None) -> dict[str, Any]:
        rows = entry_rows(entries, scrubbed_at)
        prompts = self._prompts.new(entries)
        with self._transaction() as conn:
            if prompts:
                conn.executemany(
                    "INSERT OR IGNORE INTO system_prompts (hash, text, first_seen) VALUES (?, ?, ?)",
                    prompts.values(),
                )
            insert_rows(conn, rows)
        return prompts

    def flag_incident(self, incident_id: str, *, log_ids: Collection[str] = (), where: LogQuery | None = None) -> int:
        if bool(log_ids) == (where is not None):
            raise ValueError("flag_incident takes exactly one of log_ids and where")
        if where is not None:
            condition, params = _where(where)
        else:
            condition, params = "log_id IN (SELECT value FROM json_each(?))", [json.dumps(list(log_ids))]
        with self._transaction() as conn:
            conn.execute(
                f"INSERT OR IGNORE INTO incident_entries (incident_id, log_id) "
                f"SELECT ?, log_id FROM prompt_log WHERE {condition}",
                [incident_id, *params],
            )
            return conn.execute(
                f"UPDATE prompt_log SET incident_flag = 1, incident_id = COALESCE(incident_id, ?) WHERE {condition}",
                [incident_id, *params],
            ).rowcount

    def release_hold(self, incident_id: str) -> int:
        with self._transaction() as conn:
            return conn.execute(
                "UPDATE incident_entries SET held = 0 WHERE incident_id = ? AND held = 1", (incident_id,)
            ).rowcount

    def purge(self, cutoff: float, *, batch_size: int = 1000, max_batches: int | None = None) -> int:
        """Each batch is its own short transaction, so live writers wait milliseconds, not the whole purge."""
        deleted = batches = 0
        while max_batches is None or batches < max_batches:
            with self._transaction() as conn:
                count = conn.execute(_PURGE, (cutoff, batch_size)).rowcount
            deleted += count
            batches += 1
            if count < batch_size:
                break
        return deleted

    def erase(self, pseudonyms: Collection[str], *, key_ids: Sequence[str], reason: str, now: float) -> int:
        """Entries under legal hold are deleted too: erasure is a deliberate operator action, and the audit
        record keeps how many went. The checkpoint afterwards takes the deleted text out of the WAL."""
        marks = ", ".join("?" * len(pseudonyms))
        values = list(pseudonyms)
        with self._transaction() as conn:
            if values:
                conn.execute(
                    f"DELETE FROM incident_entries WHERE log_id IN "
                    f"(SELECT log_id FROM prompt_log WHERE user_pseudonym IN ({marks}))",
                    values,
                )
                count = conn.execute(f"DELETE FROM prompt_log WHERE user_pseudonym IN ({marks})", values).rowcount
            else:
                count = 0
            _insert_audit(conn, now, "erase", count, key_ids, reason)
        self.reclaim()
        return count

    def scrub(self, redact: Callable[[str], str], *, now: float, batch_size: int = 500) -> ScrubCount:
        """Redaction runs outside the transactions (it is slow); an update only lands on a still-unscrubbed row."""
        conn = self._conn()
        scanned = redacted = 0
        last_rowid = 0
        while True:
            rows = conn.execute(
                "SELECT rowid, user_message, assistant_response FROM prompt_log "
                "WHERE scrubbed_at IS NULL AND rowid > ? ORDER BY rowid LIMIT ?",
                (last_rowid, batch_size),
            ).fetchall()
            if not rows:
                break
            updates = []
            for rowid, message, response in rows:
                new_message = redact(message) if message else message
                new_response = redact(response) if response else response
                redacted += new_message != message or new_response != response
                updates.append((new_message, new_response, now, rowid))
            with _Transaction(conn):
                conn.executemany(
                    "UPDATE prompt_log SET user_message = ?, assistant_response = ?, scrubbed_at = ? "
                    "WHERE rowid = ? AND scrubbed_at IS NULL",
                    updates,
                )
            scanned += len(rows)
            last_rowid = rows[-1][0]
        if scanned:
            with _Transaction(conn):
                _insert_audit(conn, now, "scrub", redacted, (), f"PII redacted in place; {scanned} entries scanned")
            self.reclaim()
        return ScrubCount(scanned, redacted)

    def reclaim(self) -> None:
        """Copy the WAL into the file and empty it, so deleted text is gone from the WAL too. Best effort: a
        reader still inside an older snapshot keeps the WAL from being truncated until it is done."""
        self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    # -- reading --------------------------------------------------------------------------------------

    def get(self, log_id: str) -> StoredEntry | None:
        row = self._conn().execute(f"{_SELECT} WHERE log_id = ?", (log_id,)).fetchone()
        return None if row is None else _stored(row)

    def query(self, query: LogQuery) -> Iterator[StoredEntry]:
        condition, params = _where(query)
        sql = f"{_SELECT} WHERE {condition} ORDER BY timestamp, log_id"
        if query.limit is not None:
            sql += " LIMIT ?"
            params.append(query.limit)
        for row in self._conn().execute(sql, params):
            yield _stored(row)

    def get_system_prompt(self, prompt_hash: str) -> str | None:
        row = self._conn().execute("SELECT text FROM system_prompts WHERE hash = ?", (prompt_hash,)).fetchone()
        return None if row is None else row[0]

    def top_users(
        self, since: float, until: float, *, guardrail: GuardrailMatch | None = None, limit: int = 10
    ) -> list[tuple[str, int]]:
        condition, params = _where(LogQuery(since=since, until=until, guardrail=guardrail))
        rows = (
            self._conn()
            .execute(
                f"SELECT user_pseudonym, COUNT(*) AS n FROM prompt_log "
                f"WHERE {condition} AND user_pseudonym IS NOT NULL "
                f"GROUP BY user_pseudonym ORDER BY n DESC, user_pseudonym LIMIT ?",
                [*params, limit],
            )
            .fetchall()
        )
        return [(pseudonym, count) for pseudonym, count in rows]

    def most_anomalous_tool(self, since: float, until: float) -> str | None:
        """Ranked by the worst single call (what the anomaly alert fires on), then by the mean score."""
        row = (
            self._conn()
            .execute(
                """SELECT json_extract(t.value, '$.tool') AS tool, json_extract(t.value, '$.anomaly_score') AS score
               FROM prompt_log, json_each(prompt_log.tool_calls) AS t
               WHERE timestamp >= ? AND timestamp < ? AND tool_calls != '[]' AND score IS NOT NULL
               GROUP BY tool ORDER BY MAX(score) DESC, AVG(score) DESC, tool LIMIT 1""",
                (since, until),
            )
            .fetchone()
        )
        return None if row is None else row[0]

    def count_affected(self, since: float, until: float, where: LogQuery | None = None) -> Affected:
        """Users are counted by pseudonym: one user seen under two keys during a rotation counts twice."""
        window = replace(where or LogQuery(), since=since, until=until)
        condition, params = _where(window)
        users, sessions, entries = (
            self._conn()
            .execute(
                f"SELECT COUNT(DISTINCT user_pseudonym), COUNT(DISTINCT session_id), COUNT(*) FROM prompt_log "
                f"WHERE {condition}",
                params,
            )
            .fetchone()
        )
        return Affected(users, sessions, entries)

    def audit_log(self) -> list[AuditRecord]:
        rows = self._conn().execute("SELECT at, action, count, key_ids, reason FROM audit_log ORDER BY id")
        return [
            AuditRecord(at, action, count, tuple(filter(None, key_ids.split(","))), reason)
            for at, action, count, key_ids, reason in rows
        ]


class _Transaction:
    """`with` block holding the write lock from the start (BEGIN IMMEDIATE): no deadlock on lock upgrade."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self._conn.execute("BEGIN IMMEDIATE")
        return self._conn

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        try:
            if exc_type is None:
                self._conn.execute("COMMIT")
        finally:  # a COMMIT that failed (a full disk) may leave the transaction open: end it
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")


def insert_rows(conn: sqlite3.Connection, rows: Iterable[list[Any]]) -> None:
    """INSERT each row naming only the columns that hold a value: a column left out is NULL all the same.

    Python's sqlite3 binds None through its adaptation protocol, which raises and clears two AttributeErrors
    per parameter (CPython 3.11: ~0.3 µs each, more than binding a whole row of values); an entry has eight
    or more empty columns. Rows of a batch mostly leave the same columns empty: one statement per pattern.
    Booleans, which take the same path, go in as the integers SQLite keeps them as (changed in the rows)."""
    by_pattern: dict[tuple[bool, ...], list[list[Any]]] = {}
    for row in rows:
        for index in _BOOL_INDEXES:
            row[index] = int(row[index])
        present = tuple(map(is_not, row, _NONES))
        by_pattern.setdefault(present, []).append(list(compress(row, present)))
    for present, values in by_pattern.items():
        conn.executemany(_insert_statement(present), values)


@lru_cache(maxsize=256)
def _insert_statement(present: tuple[bool, ...]) -> str:
    columns = list(compress(ROW_COLUMNS, present))
    return f"INSERT OR IGNORE INTO prompt_log ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def _stored(row: Sequence[Any]) -> StoredEntry:
    values = list(row[: len(ENTRY_COLUMNS)])
    for index in _JSON_INDEXES:
        values[index] = json.loads(values[index])
    for index in _BOOL_INDEXES:
        values[index] = bool(values[index])
    return StoredEntry(PromptLogEntry(*values), incident_id=row[-2], scrubbed_at=row[-1])


def _where(query: LogQuery) -> tuple[str, list[Any]]:
    """The SQL condition and parameters of a query; literals are kept where a partial index needs them."""
    clauses: list[str] = []
    params: list[Any] = []
    if query.since is not None:
        clauses.append("timestamp >= ?")
        params.append(query.since)
    if query.until is not None:
        clauses.append("timestamp < ?")
        params.append(query.until)
    if query.session_id is not None:
        clauses.append("session_id = ?")
        params.append(query.session_id)
    if query.user_pseudonyms is not None:
        pseudonyms = sorted(query.user_pseudonyms)
        clauses.append(f"user_pseudonym IN ({', '.join('?' * len(pseudonyms))})" if pseudonyms else "0")
        params.extend(pseudonyms)
    if query.model is not None:
        clauses.append("model = ?")
        params.append(query.model)
    if query.guardrail is not None:
        clause, guardrail_params = _guardrail_clause(query.guardrail)
        clauses.append(clause)
        params.extend(guardrail_params)
    if query.incident_flag is not None:
        clauses.append("incident_flag = 1" if query.incident_flag else "incident_flag = 0")
    if query.incident_id is not None:
        clauses.append("log_id IN (SELECT log_id FROM incident_entries WHERE incident_id = ?)")
        params.append(query.incident_id)
    return (" AND ".join(clauses) or "1"), params


def _guardrail_clause(match: GuardrailMatch) -> tuple[str, list[Any]]:
    tests = [
        (f"json_extract(g.value, '$.{key}') = ?", value)
        for key, value in (("stage", match.stage), ("decision", match.decision), ("guardrail", match.guardrail))
        if value is not None
    ]
    condition = " AND ".join(test for test, _ in tests) or "1"
    return (
        f"EXISTS (SELECT 1 FROM json_each(prompt_log.guardrail_decisions) AS g WHERE {condition})",
        [value for _, value in tests],
    )


def _insert_audit(
    conn: sqlite3.Connection, at: float, action: str, count: int, key_ids: Sequence[str], reason: str
) -> None:
    conn.execute(
        "INSERT INTO audit_log (at, action, count, key_ids, reason) VALUES (?, ?, ?, ?, ?)",
        (at, action, count, ",".join(key_ids), reason),
    )
