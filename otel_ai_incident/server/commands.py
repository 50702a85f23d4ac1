"""`otel-ai-incident serve`: run the Alertmanager webhook receiver.

It refuses to start without credentials, unless told `--insecure-no-auth` and bound to loopback, because
whoever can post to it can switch the app off.
"""

from __future__ import annotations

import argparse
import math
import os
import sqlite3
import sys
from typing import Any

from otel_ai_incident import names
from otel_ai_incident.commandline import CommandFailed, ErrorType, add_prompt_log_option, failure_of
from otel_ai_incident.containment.tokens import Role, check_token, own_token, setting_name
from otel_ai_incident.server.auth import Credentials, RoleCredentials
from otel_ai_incident.server.connections import (
    DEFAULT_BODY_TIMEOUT_S,
    DEFAULT_HEADER_TIMEOUT_S,
    DEFAULT_MAX_WAITING,
    ConnectionLimits,
)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_LEASE_S = 10.0
DEFAULT_PORT = 8080


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the Alertmanager webhook receiver",
        description="Receive Alertmanager notifications (webhook payload v4), open incidents and apply the "
        "containment playbooks. Credentials, sent as a bearer token or a basic-auth password, one per role: "
        "Alertmanager's (--token-file, else AII_WEBHOOK_TOKEN_FILE, else AII_WEBHOOK_TOKEN), the apps' gates' "
        "(--reader-token-file, AII_READER_TOKEN_FILE, AII_READER_TOKEN: read the containment state only) and "
        "operators' (--operator-token-file, AII_OPERATOR_TOKEN_FILE, AII_OPERATOR_TOKEN: lift, incidents, "
        "acting in the incident console at /ui) and read-only viewers' (--viewer-token-file, "
        "AII_VIEWER_TOKEN_FILE, AII_VIEWER_TOKEN: the console's pages only). A role without its own token "
        "uses Alertmanager's, except viewers. Each token: at least 16 visible ASCII characters.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--token-file", help="file holding Alertmanager's secret (posting alerts)")
    parser.add_argument("--reader-token-file", help="file holding the apps' secret (reading the containment state)")
    parser.add_argument(
        "--operator-token-file", help="file holding operators' secret (lifting, incidents, the console)"
    )
    parser.add_argument(
        "--viewer-token-file", help="file holding the secret of read-only console users (no viewers without it)"
    )
    parser.add_argument(
        "--console-secret-file",
        metavar="FILE",
        help=f"secret signing the console's sessions (default ${names.ENV_CONSOLE_SECRET_FILE}, else one drawn "
        "at start, so sessions end with the process)",
    )
    parser.add_argument(
        "--secure-cookies",
        action="store_true",
        help=f"mark the console's cookies Secure even on plain HTTP (behind a TLS proxy; also "
        f"{names.ENV_CONSOLE_SECURE_COOKIES}=1); requests over https always get them",
    )
    parser.add_argument("--playbooks", help="YAML file overriding the default playbooks")
    parser.add_argument(
        "--notify",
        metavar="FILE",
        help=f"YAML file of the targets incident updates are pushed to (Slack-compatible or JSON webhooks; "
        f"default ${names.ENV_NOTIFY_FILE}); without one, updates are not sent",
    )
    parser.add_argument(
        "--signals",
        metavar="FILE",
        help="signals file the rules were generated with (generate --signals), so its signals get "
        "containment targets and a blast radius from the prompt log",
    )
    parser.add_argument(
        "--containment", help=f"containment state URL (default ${names.ENV_CONTAINMENT} or {names.DEFAULT_CONTAINMENT})"
    )
    parser.add_argument(
        "--incidents",
        help=f"incident store URL, also holding the inbox (default "
        f"${names.ENV_INCIDENTS} or {names.DEFAULT_INCIDENTS})",
    )
    add_prompt_log_option(
        parser,
        purpose="prompt log for containment targets and incident blast radius (a log named here or in "
        f"${names.ENV_PROMPT_LOG} is used even before the app has created it)",
        default=f"${names.ENV_PROMPT_LOG}, else {names.DEFAULT_PROMPT_LOG} if that file exists",
    )
    parser.add_argument(
        "--claim-lease",
        type=float,
        default=DEFAULT_LEASE_S,
        metavar="SECONDS",
        help="how long this receiver holds a notification it is acting on; receivers sharing an inbox take "
        f"over work whose holder died after this (default {DEFAULT_LEASE_S:g})",
    )
    parser.add_argument(
        "--keep-finished-days",
        type=float,
        metavar="DAYS",
        help="delete notifications acted on and updates delivered (or given up on) once finished this long "
        f"ago, checked at start and hourly; unfinished work is never deleted (default "
        f"${names.ENV_KEEP_FINISHED_DAYS} or {names.DEFAULT_KEEP_FINISHED_DAYS})",
    )
    parser.add_argument(
        "--header-timeout",
        type=float,
        default=DEFAULT_HEADER_TIMEOUT_S,
        metavar="SECONDS",
        help="close a connection that has not sent its request headers within this time "
        f"(default {DEFAULT_HEADER_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--body-timeout",
        type=float,
        default=DEFAULT_BODY_TIMEOUT_S,
        metavar="SECONDS",
        help=f"close a connection whose request body is not in within this time (default {DEFAULT_BODY_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--max-waiting-connections",
        type=int,
        default=DEFAULT_MAX_WAITING,
        metavar="N",
        help="connections allowed to wait without a request in progress; beyond it the longest waiting is "
        f"closed, so idle clients cannot crowd out Alertmanager (default {DEFAULT_MAX_WAITING})",
    )
    parser.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="accept requests without credentials (only with a loopback --host)",
    )
    parser.set_defaults(handler=serve)


def serve(args: argparse.Namespace) -> int:
    # Imported here so the rest of the CLI works without the `server` extra.
    import uvicorn

    from otel_ai_incident.containment.playbooks import DEFAULT_PLAYBOOKS, load_playbooks
    from otel_ai_incident.containment.state import open_containment_state
    from otel_ai_incident.containment.targets import PromptLogTargetFinder
    from otel_ai_incident.incidents.commands import open_prompt_log
    from otel_ai_incident.incidents.sql_store import open_incident_store
    from otel_ai_incident.promptlog.backends import open_store
    from otel_ai_incident.promptlog.evidence import SignalEvidence
    from otel_ai_incident.server.app import create_app
    from otel_ai_incident.server.auth import is_loopback
    from otel_ai_incident.server.console import ConsoleSettings
    from otel_ai_incident.server.console.session import read_secret
    from otel_ai_incident.server.inbox.sql_store import open_inbox
    from otel_ai_incident.server.notify.config import NotifyConfig, load_notify_config
    from otel_ai_incident.server.prune import DAY_S, PruneSchedule
    from otel_ai_incident.signals.load import load_signals
    from otel_ai_incident.storage.errors import StoreError

    try:
        credentials = _credentials(args)
    except (OSError, ValueError) as error:
        raise failure_of(error, exit_code=2) from error
    if credentials is None and not (args.insecure_no_auth and is_loopback(args.host)):
        raise CommandFailed(
            f"no credentials: set --token-file, {names.ENV_WEBHOOK_TOKEN_FILE} or {names.ENV_WEBHOOK_TOKEN} "
            "(or --insecure-no-auth with a loopback --host)",
            ErrorType.REFUSED,
            exit_code=2,
        )
    try:
        playbooks = load_playbooks(args.playbooks) if args.playbooks else DEFAULT_PLAYBOOKS
        notify_file = args.notify or os.environ.get(names.ENV_NOTIFY_FILE)
        notify = load_notify_config(notify_file) if notify_file else NotifyConfig()
        evidence = SignalEvidence(load_signals(args.signals))
        state = open_containment_state(
            args.containment or os.environ.get(names.ENV_CONTAINMENT) or names.DEFAULT_CONTAINMENT
        )
        incidents_url = args.incidents or os.environ.get(names.ENV_INCIDENTS) or names.DEFAULT_INCIDENTS
        incidents, inbox = open_incident_store(incidents_url), open_inbox(incidents_url)
        inbox.count(pending=True)  # PostgreSQL stores connect on first use: fail here, not on the first alert
        act_delay_s = float(os.environ.get(names.ENV_RECEIVER_ACT_DELAY) or 0)
        named = args.prompt_log or os.environ.get(names.ENV_PROMPT_LOG)
        prompt_log = open_store(named) if named else open_prompt_log(None)
        secret_file = args.console_secret_file or os.environ.get(names.ENV_CONSOLE_SECRET_FILE)
        console = ConsoleSettings(
            secret=read_secret(secret_file) if secret_file else None,
            secure_cookies=args.secure_cookies or os.environ.get(names.ENV_CONSOLE_SECURE_COOKIES) == "1",
        )
        pruning = PruneSchedule(keep_s=_keep_finished_days(args) * DAY_S)
        limits = ConnectionLimits(
            header_timeout_s=args.header_timeout,
            body_timeout_s=args.body_timeout,
            max_waiting=args.max_waiting_connections,
        )
    except (
        OSError,
        ValueError,
        sqlite3.Error,
        StoreError,
    ) as error:  # PlaybookError, SignalConfigError and NotifyConfigError are ValueErrors
        raise failure_of(error, exit_code=2) from error
    if prompt_log is None:
        print(
            "otel-ai-incident serve: no prompt log file: containment targets come from alert labels only and "
            "incidents get no blast radius",
            file=sys.stderr,
        )
    app = create_app(
        state=state,
        incidents=incidents,
        inbox=inbox,
        credentials=credentials,
        playbooks=playbooks,
        finder=PromptLogTargetFinder(prompt_log, evidence) if prompt_log is not None else None,
        act_delay_s=act_delay_s,
        lease_s=args.claim_lease,
        console=console,
        notify=notify,
        pruning=pruning,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", **limits.uvicorn_options())
    return 0


def _keep_finished_days(args: argparse.Namespace) -> float:
    """--keep-finished-days, else its variable, else the default; raises ValueError unless a positive number."""
    if args.keep_finished_days is not None:
        source, raw = "--keep-finished-days", str(args.keep_finished_days)
    else:
        source = names.ENV_KEEP_FINISHED_DAYS
        raw = os.environ.get(source) or str(names.DEFAULT_KEEP_FINISHED_DAYS)
    try:
        days = float(raw)
    except ValueError:
        days = math.nan
    if not (math.isfinite(days) and days > 0):
        raise ValueError(f"{source} must be a positive number of days, not {raw!r}")
    return days


def _credentials(args: argparse.Namespace) -> RoleCredentials | None:
    """The secret of each role, checked; None without Alertmanager's. Raises OSError or ValueError."""
    files = {
        Role.ALERTS: args.token_file,
        Role.READER: args.reader_token_file,
        Role.OPERATOR: args.operator_token_file,
        Role.VIEWER: args.viewer_token_file,
    }
    tokens: dict[Role, str] = {}
    for role, token_file in files.items():
        try:
            token = own_token(role, token_file)
        except OSError as error:
            raise OSError(f"cannot read the {role.value} token: {error}") from None
        if token is not None:
            check_token(token, setting_name(role, token_file))
            tokens[role] = token
    if Role.ALERTS not in tokens:
        if len(tokens) > 0:
            raise ValueError("reader, operator or viewer tokens are set but not Alertmanager's (--token-file)")
        return None
    if len(set(tokens.values())) < len(tokens):
        raise ValueError("the alerts, reader, operator and viewer tokens must differ from each other")
    alerts = tokens[Role.ALERTS]
    borrowing = [r for r in (Role.READER, Role.OPERATOR) if r not in tokens]
    if borrowing:
        print(
            "otel-ai-incident serve: warning: "
            + ", ".join(r.value for r in borrowing)
            + " requests use Alertmanager's token; an app holding it can also lift its containment and post "
            "alerts (give apps --reader-token-file and operators --operator-token-file)",
            file=sys.stderr,
        )
    return RoleCredentials(
        alerts=Credentials(alerts),
        reader=Credentials(tokens.get(Role.READER, alerts)),
        operator=Credentials(tokens.get(Role.OPERATOR, alerts)),
        viewer=Credentials(tokens[Role.VIEWER]) if Role.VIEWER in tokens else None,
    )
