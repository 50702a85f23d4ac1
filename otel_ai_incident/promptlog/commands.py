"""`otel-ai-incident logs ...`: purge, erase, scrub and export the prompt log.

The database is chosen by --prompt-log (--db, its old name) or AII_PROMPT_LOG: a sqlite:/// file or the
fleet's postgresql:// database.
Erasure and the --user filter pseudonymise the given id under every configured key (AII_PSEUDONYM_KEY /
AII_PSEUDONYM_KEY_FILE) and refuse to run without one, since a random key would match nothing and report a
misleading zero; for a shared log only those two variables count (no ./ai_pseudonym.key of this host).
A store that cannot be reached or used is reported as one line naming it, with exit code 1; a refused or
invalid request with exit code 2 (see `commandline`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from otel_ai_incident import names
from otel_ai_incident.commandline import (
    CommandFailed,
    ErrorType,
    add_prompt_log_option,
    failure_of,
    prompt_log_url,
    store_errors,
)
from otel_ai_incident.promptlog.backends import open_store
from otel_ai_incident.promptlog.export import write_jsonl
from otel_ai_incident.promptlog.pseudonym import (
    Pseudonymizer,
    PseudonymKeyError,
    is_shared_log,
    load_pseudonymizers,
    pseudonyms_of,
)
from otel_ai_incident.promptlog.retention import Retention, retention_days
from otel_ai_incident.promptlog.store import LogQuery, PromptLogStore
from otel_ai_incident.storage.private import open_private
from otel_ai_incident.storage.sqlite import sqlite_path
from otel_ai_incident.storage.urls import is_postgres_url, is_sqlite_url, redacted

DEFAULT_ERASE_REASON = "GDPR Art. 17 erasure request"


#: The exit status of a request refused or not understood (a database that cannot be used gives 1).
EXIT_REFUSED = 2


def register(subparsers: Any) -> None:
    db = argparse.ArgumentParser(add_help=False)
    add_prompt_log_option(db)
    logs = subparsers.add_parser(
        "logs", help="purge, erase, scrub or export the prompt log", description="Manage the prompt log."
    )
    actions = logs.add_subparsers(dest="logs_command", metavar="ACTION", required=True)

    purge = actions.add_parser(
        "purge",
        parents=[db],
        help="delete entries past retention (held ones stay)",
        description="Delete entries older than the retention window, except those an open incident holds.",
    )
    purge.add_argument(
        "--days",
        type=float,
        default=None,
        help=f"retention in days (default: ${names.ENV_PROMPT_LOG_RETENTION_DAYS} or {names.DEFAULT_RETENTION_DAYS})",
    )
    purge.set_defaults(handler=_run(_purge))

    erase = actions.add_parser(
        "erase",
        parents=[db],
        help="delete every entry of one user (GDPR Art. 17)",
        description="Delete every entry of a user, matched under every live pseudonym key, record the erasure "
        "in the audit log (without the id), and remove the user's pseudonym from the containment state and the "
        "incident store too.",
    )
    erase.add_argument("--user", required=True, metavar="ID", help="the raw user id")
    erase.add_argument(
        "--containment",
        metavar="URL",
        help=f"containment state to erase the user from too (default: ${names.ENV_CONTAINMENT}; else, for a "
        f"postgresql:// log, the same database; else {names.DEFAULT_CONTAINMENT} if it exists)",
    )
    erase.add_argument(
        "--incidents",
        metavar="URL",
        help=f"incident store to erase the user from too (default: ${names.ENV_INCIDENTS}; else, for a "
        f"postgresql:// log, the same database; else {names.DEFAULT_INCIDENTS} if it exists)",
    )
    erase.add_argument(
        "--reason", default=DEFAULT_ERASE_REASON, help="why, for the audit log (must not contain the user id)"
    )
    erase.set_defaults(handler=_run(_erase))

    scrub = actions.add_parser(
        "scrub",
        parents=[db],
        help="redact PII in stored entries",
        description="Run the PII detector over stored messages and responses not "
        "scrubbed yet and redact them in place.",
    )
    scrub.set_defaults(handler=_run(_scrub))

    export = actions.add_parser(
        "export",
        parents=[db],
        help="write entries as JSON Lines",
        description="Write matching entries as JSON Lines, oldest first. Times are "
        "ISO 8601; without a zone they are UTC.",
    )
    export.add_argument("--since", type=_timestamp, metavar="ISO", help="from this time (inclusive)")
    export.add_argument("--until", type=_timestamp, metavar="ISO", help="to this time (exclusive)")
    export.add_argument("--session", metavar="S", help="only this session")
    export.add_argument("--user", metavar="RAWID", help="only this user (raw id, pseudonymised here)")
    export.add_argument("--model", metavar="M", help="only this model")
    export.add_argument("--out", metavar="FILE", help="write here instead of standard output")
    export.set_defaults(handler=_run(_export))


def _run(action: Callable[[argparse.Namespace, PromptLogStore], None]) -> Callable[[argparse.Namespace], int]:
    """Open the store, run the action, close it; a store that cannot be used fails the command (exit code 1).
    A SQLite file that does not exist is refused: opening would create an empty log, and an erasure or
    export of it would report success having done nothing (a mistyped path)."""

    def handler(args: argparse.Namespace) -> int:
        args.prompt_log = prompt_log_url(args.prompt_log)
        if is_sqlite_url(args.prompt_log) and not sqlite_path(args.prompt_log).is_file():
            raise CommandFailed(
                f"no prompt log at {sqlite_path(args.prompt_log)} (nothing was created)", ErrorType.NO_STORE
            )
        try:
            store = open_store(args.prompt_log)
            try:
                action(args, store)
            finally:
                store.close()
        except BrokenPipeError:
            raise  # the reader went away: not a database error (the CLI ends quietly)
        except store_errors() as error:
            raise failure_of(error, exit_code=1, where=f"prompt log at {redacted(args.prompt_log)}") from error
        return 0

    return handler


def _refused(message: str) -> CommandFailed:
    return CommandFailed(message, ErrorType.REFUSED, exit_code=EXIT_REFUSED)


def _purge(args: argparse.Namespace, store: PromptLogStore) -> None:
    days = args.days if args.days is not None else retention_days()
    if days <= 0:
        raise CommandFailed("--days must be positive", ErrorType.INVALID, exit_code=EXIT_REFUSED)
    purged = Retention(days).purge(store)
    if purged:
        store.reclaim()
    print(f"purged {purged} entries older than {days:g} days")


def _erase(args: argparse.Namespace, store: PromptLogStore) -> None:
    if args.user in args.reason:
        raise _refused("the reason must not contain the user id (the audit log holds no personal data)")
    from otel_ai_incident.containment.state import open_containment_state
    from otel_ai_incident.incidents.erasure import erase_user
    from otel_ai_incident.incidents.sql_store import open_incident_store

    pseudonyms = pseudonyms_of(args.user, _configured_pseudonymizers(args.prompt_log))
    containment_url = _companion_store(
        args.containment, names.ENV_CONTAINMENT, names.DEFAULT_CONTAINMENT, args.prompt_log
    )
    incidents_url = _companion_store(args.incidents, names.ENV_INCIDENTS, names.DEFAULT_INCIDENTS, args.prompt_log)
    containment = None if containment_url is None else open_containment_state(containment_url)
    incidents = None if incidents_url is None else open_incident_store(incidents_url)
    try:
        result = erase_user(
            set(pseudonyms.values()),
            key_ids=list(pseudonyms),
            reason=args.reason,
            now=time.time(),
            prompt_log=store,
            containment=containment,
            incidents=incidents,
        )
    finally:
        for companion in (containment, incidents):
            if companion is not None:
                companion.close()
    print(result.describe())


def _companion_store(named: str | None, variable: str, default: str, log_url: str) -> str | None:
    """The URL of another store an erasure must reach: named, configured, the log's own PostgreSQL database
    (a fleet keeps every store there), or the default SQLite file when it exists (None when it does not:
    opening would create an empty one)."""
    url = named or os.environ.get(variable) or (log_url if is_postgres_url(log_url) else default)
    if named is None and is_sqlite_url(url) and not sqlite_path(url).exists():
        return None
    return url


def _scrub(args: argparse.Namespace, store: PromptLogStore) -> None:
    from otel_ai_incident.promptlog.scrub import pii_redactor

    result = store.scrub(pii_redactor(), now=time.time())
    print(f"scrubbed {result.scanned} entries, redacted PII in {result.redacted}")


def _export(args: argparse.Namespace, store: PromptLogStore) -> None:
    filters: dict[str, Any] = {
        "since": args.since,
        "until": args.until,
        "session_id": args.session,
        "model": args.model,
    }
    query = (
        LogQuery.for_user(args.user, _configured_pseudonymizers(args.prompt_log), **filters)
        if args.user
        else LogQuery(**filters)
    )
    if args.out:
        with open_private(args.out) as out:
            count = write_jsonl(store.query(query), out)
        print(f"exported {count} entries to {args.out}", file=sys.stderr)
    else:
        write_jsonl(store.query(query), sys.stdout)


def _configured_pseudonymizers(url: str) -> list[Pseudonymizer]:
    try:
        pseudonymizers = load_pseudonymizers(create=False, shared=is_shared_log(url))
    except PseudonymKeyError as error:
        raise _refused(str(error)) from None
    if not pseudonymizers:
        raise _refused(
            f"no pseudonym key configured ({names.ENV_PSEUDONYM_KEY} or "
            f"{names.ENV_PSEUDONYM_KEY_FILE}): a user id cannot be matched"
        )
    return pseudonymizers


def _timestamp(text: str) -> float:
    """ISO 8601 to Unix seconds; a time without a zone is UTC."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
