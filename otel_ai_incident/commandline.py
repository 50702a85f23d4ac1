"""What every sub-command shares: how the prompt log is named, and how a failure is reported.

A command that cannot do what it was asked raises `CommandFailed`; the entry point (`cli.main`) reports it in
one place, so every command fails the same way: `otel-ai-incident: error: MESSAGE` on stderr (the prefix
argparse gives a usage error), or, for a command given `--json`, `{"error": {"type": ..., "message": ...}}` on
stdout, so a script that reads the command's JSON reads its failure too. The exit status is the command's.
"""

from __future__ import annotations

import argparse
import enum
import json
import os
import sqlite3
import sys

from otel_ai_incident import names
from otel_ai_incident.storage.errors import StoreError

PROG = "otel-ai-incident"


class ErrorType(enum.StrEnum):
    """The `type` of a JSON error: what kind of failure, for a script to branch on (the message is for people)."""

    USAGE = "usage"  # the command line itself is wrong (argparse's error)
    NOT_FOUND = "not_found"  # an id that is not there: an incident, a prompt-log entry, a pending action
    NO_STORE = "no_store"  # a store that does not exist (a SQLite file is refused, never created empty)
    STORE = "store_error"  # a store that cannot be reached or used (refused login, corrupt, newer schema)
    IO = "io_error"  # a file or connection failed (unreadable, unwritable, a receiver that answered an error)
    INVALID = "invalid"  # a value that cannot be used (a malformed URL, a bad --days, a turn that cannot replay)
    REFUSED = "refused"  # understood and refused (closing without a root cause, a reason naming the user)
    UNAVAILABLE = "unavailable"  # something the command needs is not installed (prometheus for the demo)
    FAILED = "failed"  # the command started and could not finish (the demo's stack failed)


class CommandFailed(Exception):
    """A command's failure: one line for people, a type for scripts, and the exit status."""

    def __init__(self, message: str, kind: ErrorType, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.exit_code = exit_code


def failure_of(error: BaseException, *, exit_code: int, where: str | None = None) -> CommandFailed:
    """A store, file or value error as a failure: its first line; a store error also names its class, which
    says more than its text (StoreUnavailableError, SchemaTooNewError, DatabaseError...). `where` names the
    store for a database's own error, whose text does not ("file is not a database")."""
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else type(error).__name__
    if isinstance(error, OSError):
        return CommandFailed(text, ErrorType.IO, exit_code=exit_code)
    if isinstance(error, ValueError):
        return CommandFailed(text, ErrorType.INVALID, exit_code=exit_code)
    if where is not None and isinstance(error, sqlite3.Error):
        text = f"{where}: {text}"
    return CommandFailed(f"{type(error).__name__}: {text}", ErrorType.STORE, exit_code=exit_code)


def store_errors() -> tuple[type[BaseException], ...]:
    """What a store, its file or its URL raises when it cannot be used; psycopg's errors only once it was
    loaded (a postgresql:// URL), so the rest of the CLI works without the `postgres` extra."""
    errors: tuple[type[BaseException], ...] = (sqlite3.Error, StoreError, OSError, ValueError)
    psycopg = sys.modules.get("psycopg")
    return errors if psycopg is None else (*errors, psycopg.Error)


def report(failure: CommandFailed, *, as_json: bool) -> int:
    """Print the failure the one way every command does; return its exit status."""
    if as_json:
        print(json.dumps({"error": {"type": failure.kind.value, "message": failure.message}}))
    else:
        print(f"{PROG}: error: {failure.message}", file=sys.stderr)
    return failure.exit_code


def wants_json(parser: argparse.ArgumentParser, argv: list[str]) -> bool:
    """Whether `argv` asks `parser` (the command that failed to parse) for JSON output: it has a --json flag
    (off by default) and it was given; demo's `--json FILE` names a file and is no such flag."""
    return "--json" in argv and parser.get_default("json") is False


_DEFAULT_PROMPT_LOG = f"${names.ENV_PROMPT_LOG}, else {names.DEFAULT_PROMPT_LOG}"


def add_prompt_log_option(
    parser: argparse.ArgumentParser, *, purpose: str = "prompt log", default: str = _DEFAULT_PROMPT_LOG
) -> None:
    """`--prompt-log URL`, the one name every command gives the prompt log; `--db`, its old name in `logs`,
    stays as an alias so existing scripts keep working. Read it with `prompt_log_url`."""
    parser.add_argument(
        "--prompt-log",
        "--db",
        dest="prompt_log",
        metavar="URL",
        help=f"{purpose}: a sqlite:/// file or a postgresql:// database (default: {default}); "
        "--db is its old name, still accepted",
    )


def prompt_log_url(named: str | None) -> str:
    """The prompt log a command uses: the one named, else $AII_PROMPT_LOG, else the default file."""
    return named or os.environ.get(names.ENV_PROMPT_LOG) or names.DEFAULT_PROMPT_LOG
