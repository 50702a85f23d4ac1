"""The prompt log a fleet shares: PostgreSQL, in the schema `aii_prompt_log`.

The tables and columns are the SQLite store's (`promptlog.sqlite`), with PostgreSQL's types where they
pay: JSONB for the guardrail decisions and tool calls, with a GIN index that answers "entries a guardrail
blocked" (`@>`) without reading every row (it costs about a tenth of the server's insert rate), while tool
scores are unnested from the rows of the time window only; double precision Unix seconds for times, what
the Protocol speaks, exact on a round trip; and the "C" collation on text, which sorts bytes as SQLite does
and keeps index maintenance cheap.

Writing: a batch is one COPY into the table, the fastest way in that was measured (benchmarks/promptlog.py:
1.3x COPY through a staging table and 4.7x a multi-row INSERT, at a twelfth of the latter's CPU in the
app). COPY cannot skip a row that exists, so a batch that
meets a `log_id` already stored (written before the acknowledgement of its commit was lost, or submitted
twice) is written again through a temporary staging table and INSERT ... ON CONFLICT DO NOTHING: retries are
idempotent and the usual batch pays nothing for it.

Retention runs once per fleet: a purge holds a session advisory lock, and a replica that finds it taken
skips its turn instead of deleting the same rows in parallel.

Erasure: a DELETE removes the text for every reader at commit, and `reclaim` (VACUUM, run by `erase` and
`scrub`) then removes the dead row versions and their index entries, so no query, dump or replica built
from now on holds it. What PostgreSQL does not promise is to overwrite the bytes: a vacuumed row's bytes
can stay in its page's free space until a new row takes it (measured: when the row was the last one
written to its page), the WAL keeps them until its segments are recycled, and backups and WAL archives until
they expire. `VACUUM FULL aii_prompt_log.prompt_log` rewrites the table into new files, which removes the
first of these; it locks the table for the rewrite (the apps' writers keep their entries meanwhile, then
drop what exceeds their bound), so run it in a quiet hour when a copy free of them is required.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import replace
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from otel_ai_incident.promptlog.entry import PromptLogEntry
from otel_ai_incident.promptlog.rows import (
    ENTRY_COLUMNS,
    ROW_COLUMNS,
    SystemPrompts,
    encode_json,
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
from otel_ai_incident.storage.postgres import PostgresDatabase, advisory_lock_id

SCHEMA = "aii_prompt_log"
#: What PostgreSQL (or the UTF-8 encoding on the way) raises for text it cannot hold, see rows.sanitized.
_REFUSED_TEXT = (psycopg.DataError, UnicodeEncodeError)
STORE_NAME = "prompt log"
QUERY_PAGE = 1000
DEFAULT_CONNECT_TIMEOUT_S = 2.0

# Append-only, as for SQLite: a released step is never edited.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE prompt_log (
            log_id text COLLATE "C" PRIMARY KEY,
            timestamp double precision NOT NULL,
            user_pseudonym text COLLATE "C",
            pseudonym_key_id text COLLATE "C",
            session_id text COLLATE "C",
            model text COLLATE "C" NOT NULL,
            system_prompt_hash text COLLATE "C",
            user_message text,
            assistant_response text,
            input_tokens integer,
            output_tokens integer,
            guardrail_decisions jsonb NOT NULL,
            tool_calls jsonb NOT NULL,
            latency_ms double precision,
            outcome text COLLATE "C" NOT NULL,
            refused boolean NOT NULL,
            error_type text COLLATE "C",
            trace_id text COLLATE "C",
            span_id text COLLATE "C",
            prompt_name text COLLATE "C",
            prompt_version text COLLATE "C",
            incident_flag boolean NOT NULL DEFAULT false,
            incident_id text COLLATE "C",
            scrubbed_at double precision
        )""",
        "CREATE INDEX prompt_log_time ON prompt_log (timestamp)",
        "CREATE INDEX prompt_log_session ON prompt_log (session_id, timestamp)",
        "CREATE INDEX prompt_log_user ON prompt_log (user_pseudonym, timestamp)",
        "CREATE INDEX prompt_log_model ON prompt_log (model, timestamp)",
        "CREATE INDEX prompt_log_flagged ON prompt_log (timestamp) WHERE incident_flag",
        "CREATE INDEX prompt_log_incident ON prompt_log (incident_id) WHERE incident_id IS NOT NULL",
        "CREATE INDEX prompt_log_guardrails ON prompt_log USING gin (guardrail_decisions jsonb_path_ops)",
        """CREATE TABLE system_prompts (
            hash text COLLATE "C" PRIMARY KEY,
            text text NOT NULL,
            first_seen double precision NOT NULL
        )""",
        # Every incident an entry belongs to; `held` is the legal hold, cleared when the incident closes.
        """CREATE TABLE incident_entries (
            incident_id text COLLATE "C" NOT NULL,
            log_id text COLLATE "C" NOT NULL,
            held boolean NOT NULL DEFAULT true,
            PRIMARY KEY (incident_id, log_id)
        )""",
        "CREATE INDEX incident_entries_held ON incident_entries (log_id) WHERE held",
        """CREATE TABLE audit_log (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            at double precision NOT NULL,
            action text NOT NULL,
            count integer NOT NULL,
            key_ids text NOT NULL,
            reason text NOT NULL
        )""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

_COLUMNS = ", ".join(ROW_COLUMNS)
_COPY = f"COPY prompt_log ({_COLUMNS}) FROM STDIN"
_STAGING = "CREATE TEMP TABLE IF NOT EXISTS prompt_log_staging (LIKE prompt_log) ON COMMIT DELETE ROWS"
_COPY_STAGED = f"COPY prompt_log_staging ({_COLUMNS}) FROM STDIN"
_MERGE_STAGED = (
    f"INSERT INTO prompt_log ({_COLUMNS}) SELECT {_COLUMNS} FROM prompt_log_staging ON CONFLICT (log_id) DO NOTHING"
)
_INSERT_PROMPT = "INSERT INTO system_prompts (hash, text, first_seen) VALUES (%s, %s, %s) ON CONFLICT (hash) DO NOTHING"
_SELECT = f"SELECT {', '.join(ENTRY_COLUMNS)}, incident_id, scrubbed_at FROM prompt_log"
_PURGE = """DELETE FROM prompt_log WHERE log_id IN (
    SELECT log_id FROM prompt_log p WHERE timestamp < %s
    AND NOT EXISTS (SELECT 1 FROM incident_entries h WHERE h.log_id = p.log_id AND h.held)
    ORDER BY timestamp LIMIT %s)"""
_MOST_ANOMALOUS_TOOL = """
    SELECT t.value ->> 'tool' AS tool FROM prompt_log, jsonb_array_elements(tool_calls) AS t
    WHERE timestamp >= %s AND timestamp < %s AND tool_calls <> '[]'::jsonb
      AND jsonb_typeof(t.value -> 'anomaly_score') = 'number' AND t.value ? 'tool'
    GROUP BY tool
    ORDER BY MAX((t.value ->> 'anomaly_score')::float8) DESC, AVG((t.value ->> 'anomaly_score')::float8) DESC, tool
    LIMIT 1"""


class PostgresStore:
    """A `PromptLogStore` in a PostgreSQL database that every replica of a fleet may share.

    Connections come from a pool opened on first use (`storage.postgres.PostgresDatabase`); a call made while
    the server cannot be reached raises StoreUnavailableError naming the prompt log and the URL (without
    its password), after at most `connect_timeout_s`: that long the writer's attempt waits when the server
    has just gone, while entries keep queueing behind it.
    """

    def __init__(
        self, url: str, *, max_connections: int = 4, connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    ) -> None:
        self._db = PostgresDatabase(
            url,
            store=STORE_NAME,
            schema=SCHEMA,
            migrations=MIGRATIONS,
            max_size=max_connections,
            connect_timeout_s=connect_timeout_s,
        )
        self._prompts = SystemPrompts()
        self._purge_lock = advisory_lock_id(f"{SCHEMA}.purge")

    def close(self) -> None:
        self._db.close()

    # -- writing --------------------------------------------------------------------------------------

    def write(self, entries: Sequence[PromptLogEntry], *, scrubbed_at: float | None = None) -> None:
        if not entries:
            return
        try:
            prompts = self._insert(entries, scrubbed_at, staged=False)
        except (pg_errors.UniqueViolation, *_REFUSED_TEXT):  # some are stored already, or some text was refused
            try:
                prompts = self._insert(entries, scrubbed_at, staged=True)
            except _REFUSED_TEXT:
                prompts = self._insert([sanitized(entry) for entry in entries], scrubbed_at, staged=True)
        self._prompts.written(prompts)

    def _insert(self, entries: Sequence[PromptLogEntry], scrubbed_at: float | None, *, staged: bool) -> list[str]:
        rows = entry_rows(entries, scrubbed_at)
        prompts = self._prompts.new(entries)
        with self._db.connection() as conn, conn.transaction():
            cursor = conn.cursor()
            if prompts:
                cursor.executemany(_INSERT_PROMPT, list(prompts.values()))
            if staged:
                cursor.execute(_STAGING)
            with cursor.copy(_COPY_STAGED if staged else _COPY) as copy:
                for row in rows:
                    copy.write_row(row)
            if staged:
                cursor.execute(_MERGE_STAGED)
        return list(prompts)

    def flag_incident(self, incident_id: str, *, log_ids: Collection[str] = (), where: LogQuery | None = None) -> int:
        if bool(log_ids) == (where is not None):
            raise ValueError("flag_incident takes exactly one of log_ids and where")
        if where is not None:
            condition, params = _where(where)
        else:
            condition, params = "log_id = ANY(%s)", [list(log_ids)]
        with self._db.connection() as conn, conn.transaction():
            conn.execute(
                f"INSERT INTO incident_entries (incident_id, log_id) SELECT %s, log_id FROM prompt_log "
                f"WHERE {condition} ON CONFLICT DO NOTHING",
                [incident_id, *params],
            )
            return conn.execute(
                f"UPDATE prompt_log SET incident_flag = true, incident_id = COALESCE(incident_id, %s) "
                f"WHERE {condition}",
                [incident_id, *params],
            ).rowcount

    def release_hold(self, incident_id: str) -> int:
        with self._db.connection() as conn:
            return conn.execute(
                "UPDATE incident_entries SET held = false WHERE incident_id = %s AND held", (incident_id,)
            ).rowcount

    def purge(self, cutoff: float, *, batch_size: int = 1000, max_batches: int | None = None) -> int:
        """One short transaction per batch, all under the fleet's purge lock."""
        with self._db.connection() as conn:
            if not conn.execute("SELECT pg_try_advisory_lock(%s)", (self._purge_lock,)).fetchone()[0]:  # type: ignore[index]
                return 0
            try:
                deleted = batches = 0
                while max_batches is None or batches < max_batches:
                    with conn.transaction():
                        count = conn.execute(_PURGE, (cutoff, batch_size)).rowcount
                    deleted += count
                    batches += 1
                    if count < batch_size:
                        break
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (self._purge_lock,))
        return deleted

    def erase(self, pseudonyms: Collection[str], *, key_ids: Sequence[str], reason: str, now: float) -> int:
        values = list(pseudonyms)
        with self._db.connection() as conn, conn.transaction():
            conn.execute(
                "DELETE FROM incident_entries WHERE log_id IN "
                "(SELECT log_id FROM prompt_log WHERE user_pseudonym = ANY(%s))",
                (values,),
            )
            count = conn.execute("DELETE FROM prompt_log WHERE user_pseudonym = ANY(%s)", (values,)).rowcount
            _insert_audit(conn, now, "erase", count, key_ids, reason)
        self.reclaim()
        return count

    def scrub(self, redact: Callable[[str], str], *, now: float, batch_size: int = 500) -> ScrubCount:
        """Pages through unscrubbed entries by log_id; redaction runs outside the transactions, and an update
        only lands on a row still unscrubbed (another scrub may have been faster)."""
        scanned = redacted = 0
        last_id = ""
        while True:
            with self._db.connection() as conn:
                rows = conn.execute(
                    "SELECT log_id, user_message, assistant_response FROM prompt_log "
                    "WHERE scrubbed_at IS NULL AND log_id > %s ORDER BY log_id LIMIT %s",
                    (last_id, batch_size),
                ).fetchall()
            if not rows:
                break
            updates = []
            for log_id, message, response in rows:
                new_message = redact(message) if message else message
                new_response = redact(response) if response else response
                redacted += new_message != message or new_response != response
                updates.append((new_message, new_response, now, log_id))
            with self._db.connection() as conn, conn.transaction():
                conn.cursor().executemany(
                    "UPDATE prompt_log SET user_message = %s, assistant_response = %s, scrubbed_at = %s "
                    "WHERE log_id = %s AND scrubbed_at IS NULL",
                    updates,
                )
            scanned += len(rows)
            last_id = rows[-1][0]
        if scanned:
            with self._db.connection() as conn:
                _insert_audit(conn, now, "scrub", redacted, (), f"PII redacted in place; {scanned} entries scanned")
            self.reclaim()
        return ScrubCount(scanned, redacted)

    def reclaim(self) -> None:
        """VACUUM the tables that held the text (it cannot run inside a transaction: the pool's connections
        are in autocommit). Plain VACUUM, which leaves the table open to writers; see the module's notes."""
        with self._db.connection() as conn:
            conn.execute("VACUUM prompt_log, incident_entries")

    # -- reading --------------------------------------------------------------------------------------

    def get(self, log_id: str) -> StoredEntry | None:
        with self._db.connection() as conn:
            row = conn.execute(f"{_SELECT} WHERE log_id = %s", (log_id,)).fetchone()
        return None if row is None else _stored(row)

    def query(self, query: LogQuery) -> Iterator[StoredEntry]:
        """Pages of QUERY_PAGE entries, each read with a connection of its own, so a caller that consumes
        slowly (or calls the store again meanwhile) does not keep a pooled connection."""
        condition, params = _where(query)
        remaining = query.limit
        after: tuple[float, str] | None = None
        while remaining is None or remaining > 0:
            page = QUERY_PAGE if remaining is None else min(QUERY_PAGE, remaining)
            resume = "" if after is None else " AND (timestamp, log_id) > (%s, %s)"
            with self._db.connection() as conn:
                rows = conn.execute(
                    f"{_SELECT} WHERE {condition}{resume} ORDER BY timestamp, log_id LIMIT %s",
                    [*params, *(after or ()), page],
                ).fetchall()
            for row in rows:
                yield _stored(row)
            if len(rows) < page:
                return
            if remaining is not None:
                remaining -= len(rows)
            after = (rows[-1][ENTRY_COLUMNS.index("timestamp")], rows[-1][0])

    def get_system_prompt(self, prompt_hash: str) -> str | None:
        with self._db.connection() as conn:
            row = conn.execute("SELECT text FROM system_prompts WHERE hash = %s", (prompt_hash,)).fetchone()
        return None if row is None else row[0]

    def top_users(
        self, since: float, until: float, *, guardrail: GuardrailMatch | None = None, limit: int = 10
    ) -> list[tuple[str, int]]:
        condition, params = _where(LogQuery(since=since, until=until, guardrail=guardrail))
        with self._db.connection() as conn:
            rows = conn.execute(
                f"SELECT user_pseudonym, COUNT(*) AS n FROM prompt_log "
                f"WHERE {condition} AND user_pseudonym IS NOT NULL "
                f"GROUP BY user_pseudonym ORDER BY n DESC, user_pseudonym LIMIT %s",
                [*params, limit],
            ).fetchall()
        return [(pseudonym, count) for pseudonym, count in rows]

    def most_anomalous_tool(self, since: float, until: float) -> str | None:
        with self._db.connection() as conn:
            row = conn.execute(_MOST_ANOMALOUS_TOOL, (since, until)).fetchone()
        return None if row is None else row[0]

    def count_affected(self, since: float, until: float, where: LogQuery | None = None) -> Affected:
        condition, params = _where(replace(where or LogQuery(), since=since, until=until))
        with self._db.connection() as conn:
            row = conn.execute(
                f"SELECT COUNT(DISTINCT user_pseudonym), COUNT(DISTINCT session_id), COUNT(*) FROM prompt_log "
                f"WHERE {condition}",
                params,
            ).fetchone()
        users, sessions, entries = row  # type: ignore[misc]
        return Affected(users, sessions, entries)

    def audit_log(self) -> list[AuditRecord]:
        with self._db.connection() as conn:
            rows = conn.execute("SELECT at, action, count, key_ids, reason FROM audit_log ORDER BY id").fetchall()
        return [
            AuditRecord(at, action, count, tuple(filter(None, key_ids.split(","))), reason)
            for at, action, count, key_ids, reason in rows
        ]


def _stored(row: Sequence[Any]) -> StoredEntry:
    """psycopg already gives JSONB as lists and booleans as bool."""
    return StoredEntry(PromptLogEntry(*row[: len(ENTRY_COLUMNS)]), incident_id=row[-2], scrubbed_at=row[-1])


def _where(query: LogQuery) -> tuple[str, list[Any]]:
    """The SQL condition and parameters of a query, in forms the indexes serve (`= ANY`, `@>`)."""
    clauses: list[str] = []
    params: list[Any] = []
    for clause, value in (
        ("timestamp >= %s", query.since),
        ("timestamp < %s", query.until),
        ("session_id = %s", query.session_id),
        ("model = %s", query.model),
    ):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    if query.user_pseudonyms is not None:
        clauses.append("user_pseudonym = ANY(%s)")
        params.append(sorted(query.user_pseudonyms))
    if query.guardrail is not None:
        clauses.append("guardrail_decisions @> %s::jsonb")
        params.append(_guardrail_pattern(query.guardrail))
    if query.incident_flag is not None:
        clauses.append("incident_flag" if query.incident_flag else "NOT incident_flag")
    if query.incident_id is not None:
        clauses.append("log_id IN (SELECT log_id FROM incident_entries WHERE incident_id = %s)")
        params.append(query.incident_id)
    return (" AND ".join(clauses) or "true"), params


def _guardrail_pattern(match: GuardrailMatch) -> str:
    """A JSON array holding one object with the fields given: `@>` matches an entry with at least one
    decision having them all (`[{}]` matches any entry with a decision)."""
    wanted = {"stage": match.stage, "decision": match.decision, "guardrail": match.guardrail}
    return encode_json([{key: value for key, value in wanted.items() if value is not None}])


def _insert_audit(
    conn: psycopg.Connection[Any], at: float, action: str, count: int, key_ids: Sequence[str], reason: str
) -> None:
    conn.execute(
        "INSERT INTO audit_log (at, action, count, key_ids, reason) VALUES (%s, %s, %s, %s, %s)",
        (at, action, count, ",".join(key_ids), reason),
    )
