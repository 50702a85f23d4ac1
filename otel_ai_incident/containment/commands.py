"""`otel-ai-incident containment status|lift|approve`: what a human on call does with containment.

They work on the state directly (the sqlite:/// or postgresql:// URL the receiver uses) or, for status and
lift, through a receiver's HTTP API (an http(s):// URL, with the webhook token). Every change is audited
under `--by` and put on the incident's timeline (`--incidents`; through the HTTP API the receiver does it).
A failure is raised as `CommandFailed` (exit code 1) for the CLI to report.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

from otel_ai_incident import names
from otel_ai_incident.commandline import CommandFailed, ErrorType, failure_of, store_errors
from otel_ai_incident.containment.remote import HttpStateReader
from otel_ai_incident.containment.state import (
    ContainmentEntry,
    ContainmentState,
    PendingAction,
    StateView,
    open_containment_state,
)
from otel_ai_incident.containment.tokens import Role, client_setting, client_token
from otel_ai_incident.incidents import decisions
from otel_ai_incident.incidents.sql_store import open_incident_store
from otel_ai_incident.incidents.store import IncidentStore
from otel_ai_incident.names import ContainmentActionName as Action
from otel_ai_incident.printable import for_terminal
from otel_ai_incident.storage.sqlite import sqlite_path
from otel_ai_incident.storage.urls import is_sqlite_url, redacted

LIFT_PATH = "/v1/containment/lift"
T = TypeVar("T")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "containment",
        help="show, lift and approve containment actions",
        description="Show, lift and approve containment actions.",
    )
    commands = parser.add_subparsers(dest="containment_command", metavar="COMMAND", required=True)

    status = commands.add_parser(
        "status",
        help="actions in force and actions waiting for approval",
        description="Show the actions in force and those waiting for approval.",
    )
    status.add_argument("--json", action="store_true", help="print JSON")
    _url_option(status)
    status.set_defaults(handler=status_command)

    lift = commands.add_parser(
        "lift",
        help="end an action in force",
        description="End an action in force (kill switch and read-only end only this way).",
    )
    lift.add_argument(
        "action",
        choices=[a.value for a in Action],
        metavar="ACTION",
        help=f"one of {', '.join(a.value for a in Action)}",
    )
    lift.add_argument("--target", help="the tool, pseudonym, guardrail or prompt the action applies to")
    lift.add_argument("--reason", required=True, help="why it is safe to lift (goes to the audit log)")
    lift.add_argument("--by", required=True, help="who lifts it (goes to the audit log)")
    _url_option(lift)
    _incidents_option(lift)
    lift.set_defaults(handler=lift_command)

    approve = commands.add_parser(
        "approve",
        help="apply an action waiting for approval",
        description="Apply a pending action (see `containment status` for ids).",
    )
    approve.add_argument("id", type=int, metavar="ID", help="the pending action's id")
    approve.add_argument("--by", required=True, help="who approves it (goes to the audit log)")
    _url_option(approve)
    _incidents_option(approve)
    approve.set_defaults(handler=approve_command)


def _url_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--containment",
        metavar="URL",
        help="sqlite:///FILE, postgresql://USER@HOST:PORT/DB or a receiver's http(s):// URL "
        f"(default ${names.ENV_CONTAINMENT} or {names.DEFAULT_CONTAINMENT})",
    )


def _incidents_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--incidents",
        metavar="URL",
        help=f"incident store the decision goes on (default ${names.ENV_INCIDENTS} or {names.DEFAULT_INCIDENTS}, "
        "skipped with a note when that default file does not exist)",
    )


def _url(args: argparse.Namespace) -> str:
    return args.containment or os.environ.get(names.ENV_CONTAINMENT) or names.DEFAULT_CONTAINMENT


def _remote(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def status_command(args: argparse.Namespace) -> int:
    url = _url(args)
    try:
        if _remote(url):
            roles = (Role.OPERATOR, Role.READER)
            reader = HttpStateReader(url, client_token(*roles), credential=client_setting(*roles))
            view = reader.changed_since(-1) or StateView(-1, ())
            pending: list[PendingAction] = []
        else:
            view, pending = _on_state(url, lambda state: (state.read(), state.pending()))
    except store_errors() as error:
        raise failure_of(error, exit_code=1, where=f"containment state at {redacted(url)}") from error
    if args.json:
        print(
            json.dumps(
                {
                    "revision": view.revision,
                    "entries": [e.to_json() for e in view.entries],
                    "pending": [_pending_json(p) for p in pending],
                },
                indent=2,
            )
        )
        return 0
    print(f"revision {view.revision}")
    print("in force:" if view.entries else "in force: nothing")
    for entry in view.entries:
        print(for_terminal("  " + _describe_entry(entry)))
    if pending:
        print("waiting for approval (otel-ai-incident containment approve ID --by NAME):")
        for p in pending:
            line = (
                f"  #{p.id} {p.planned.action.value} {p.planned.target or '(whole app)'} "
                f"incident={p.incident_id or '-'} requested by {p.requested_by} at {_time(p.requested_at)}"
            )
            print(for_terminal(line))
    return 0


def lift_command(args: argparse.Namespace) -> int:
    url = _url(args)
    action = Action(args.action)
    try:
        lifted = (
            _lift_remote(url, args)
            if _remote(url)
            else _on_incidents(
                args,
                lambda incidents: _on_state(
                    url,
                    lambda state: decisions.lift(
                        state, incidents, action, args.target, actor=args.by, reason=args.reason, at=time.time()
                    ),
                ),
            )
        )
    except store_errors() as error:
        raise failure_of(error, exit_code=1, where=f"containment state at {redacted(url)}") from error
    if not lifted:
        raise CommandFailed(f"{action.value} on {args.target or 'the whole app'} is not in force", ErrorType.NOT_FOUND)
    print(for_terminal(f"lifted {action.value} on {args.target or 'the whole app'}"))
    return 0


def approve_command(args: argparse.Namespace) -> int:
    url = _url(args)
    if _remote(url):
        raise CommandFailed(
            "approve works on the state itself: pass its sqlite:/// or postgresql:// URL", ErrorType.INVALID
        )
    try:
        entry = _on_incidents(
            args,
            lambda incidents: _on_state(
                url, lambda state: decisions.approve(state, incidents, args.id, actor=args.by, at=time.time())
            ),
        )
    except KeyError as error:
        raise CommandFailed(str(error.args[0]), ErrorType.NOT_FOUND) from None
    except store_errors() as error:
        raise failure_of(error, exit_code=1, where=f"containment state at {redacted(url)}") from error
    print(for_terminal("applied " + _describe_entry(entry)))
    return 0


def _on_incidents(args: argparse.Namespace, use: Callable[[IncidentStore | None], T]) -> T:
    """Run `use` with the incident store (None, with a note, when the default SQLite file does not exist; a
    store named explicitly must exist, so a mistyped path fails before anything changes)."""
    url = args.incidents or os.environ.get(names.ENV_INCIDENTS) or names.DEFAULT_INCIDENTS
    if is_sqlite_url(url) and not sqlite_path(url).is_file():
        if args.incidents or os.environ.get(names.ENV_INCIDENTS):
            raise CommandFailed(f"no incident store at {sqlite_path(url)} (nothing was changed)", ErrorType.NO_STORE)
        print(f"note: no incident store at {sqlite_path(url)}: the decision is not put on an incident", file=sys.stderr)
        return use(None)
    store = open_incident_store(url)
    try:
        return use(store)
    finally:
        store.close()


def _on_state(url: str, use: Callable[[ContainmentState], T]) -> T:
    """Run `use` on the state at `url`; a SQLite file that does not exist is refused, not created (a
    mistyped path, or a command run in the wrong directory, must not report an empty state as the truth)."""
    if is_sqlite_url(url) and not sqlite_path(url).is_file():
        raise CommandFailed(f"no containment state at {sqlite_path(url)} (nothing was created)", ErrorType.NO_STORE)
    state = open_containment_state(url, min_size=0, max_size=1)  # one command, one connection at a time
    try:
        return use(state)
    finally:
        state.close()


def _lift_remote(base_url: str, args: argparse.Namespace) -> bool:
    body = json.dumps({"action": args.action, "target": args.target, "reason": args.reason, "by": args.by})
    headers = {"Content-Type": "application/json"}
    token = client_token(Role.OPERATOR)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(base_url.rstrip("/") + LIFT_PATH, body.encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10):
            return True
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return False
        raise OSError(f"receiver answered {error.code}: {error.read().decode(errors='replace')}") from None


def _describe_entry(entry: ContainmentEntry) -> str:
    expires = f", expires {_time(entry.expires_at)}" if entry.expires_at is not None else ""
    return (
        f"{entry.action.value} {entry.target or '(whole app)'} incident={entry.incident_id or '-'} "
        f"by {entry.applied_by} since {_time(entry.applied_at)}{expires}"
    )


def _pending_json(pending: PendingAction) -> dict[str, Any]:
    planned = pending.planned
    return {
        "id": pending.id,
        "action": planned.action.value,
        "target": planned.target,
        "params": dict(planned.params),
        "ttl_s": planned.ttl_s,
        "incident_id": pending.incident_id,
        "requested_by": pending.requested_by,
        "requested_at": pending.requested_at,
    }


def _time(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
