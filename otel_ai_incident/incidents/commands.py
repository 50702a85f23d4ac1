"""`otel-ai-incident incidents list|show|rca|close|export-regressions`, `replay` and `postmortem`.

The on-call's working file: the incident store (--incidents, as the receiver writes it) joined with the prompt
log (--prompt-log) for the first occurrence, the blast radius, replays and regression cases. Reading an
incident with a prompt log at hand also holds its turns, so what a report counted stays until the close.
The turns that count are those of the signal catalogue (--signals, the file the receiver runs with).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import textwrap
import time
from collections.abc import Callable
from itertools import zip_longest
from pathlib import Path
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
from otel_ai_incident.containment.registry import REGISTRY
from otel_ai_incident.guardrails.output import PiiOutputGuard
from otel_ai_incident.incidents import blast_radius, postmortem, rca, regressions
from otel_ai_incident.incidents.disclosure import breach_clock, disclosure_lines
from otel_ai_incident.incidents.model import (
    MILESTONES,
    BlastRadius,
    Incident,
    IncidentStatus,
    Replay,
    RootCauseCategory,
)
from otel_ai_incident.incidents.replay import ReplayError, load_callable, prompt_diff, prompt_of_the_time, replay
from otel_ai_incident.incidents.sql_store import open_incident_store
from otel_ai_incident.incidents.store import IncidentStore
from otel_ai_incident.incidents.text import details, utc, yes_no
from otel_ai_incident.printable import for_terminal
from otel_ai_incident.promptlog.backends import open_store
from otel_ai_incident.promptlog.entry import system_prompt_hash
from otel_ai_incident.promptlog.evidence import SignalEvidence
from otel_ai_incident.promptlog.store import PromptLogStore
from otel_ai_incident.signals.load import load_signals
from otel_ai_incident.storage.private import write_private_text
from otel_ai_incident.storage.sqlite import SQLITE_SCHEME, sqlite_path

#: The time every command works at; tests replace it with a fixed clock.
clock: Callable[[], float] = time.time
_WIDTH = 120
#: The exit status of a store, file or value that cannot be used (a refused or impossible request gives 1).
EXIT_UNUSABLE = 2


def register(subparsers: Any) -> None:
    stores = argparse.ArgumentParser(add_help=False)
    stores.add_argument(
        "--incidents",
        metavar="URL",
        help=f"incident store (default ${names.ENV_INCIDENTS} or {names.DEFAULT_INCIDENTS})",
    )
    add_prompt_log_option(stores)
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON")
    catalogue = argparse.ArgumentParser(add_help=False)
    catalogue.add_argument(
        "--signals",
        type=Path,
        metavar="FILE",
        help="signals file laid over the built-in catalogue (as given to serve), so its signals' "
        "turns count in the blast radius",
    )

    group = subparsers.add_parser(
        "incidents",
        help="list, show, explain and close incidents",
        description="Work through the incidents the receiver opened.",
    )
    commands = group.add_subparsers(dest="incidents_command", metavar="COMMAND", required=True)

    listing = commands.add_parser("list", parents=[stores, as_json], help="incidents, newest first")
    listing.add_argument("--status", choices=[s.value for s in IncidentStatus], help="only incidents in this status")
    listing.set_defaults(handler=_run(list_command))

    show = commands.add_parser(
        "show",
        parents=[stores, catalogue, as_json],
        help="timeline, blast radius, RCA, disclosure",
        description="Show an incident: its timeline, blast radius (from the prompt log, "
        "whose turns it then holds), root cause, replays and disclosure duties.",
    )
    show.add_argument("id", metavar="ID")
    show.set_defaults(handler=_run(show_command))

    record = commands.add_parser(
        "rca",
        parents=[stores],
        help="record the root cause",
        description="Record (or replace) the incident's root cause analysis.",
    )
    record.add_argument("id", metavar="ID")
    record.add_argument("--category", required=True, choices=[c.value for c in RootCauseCategory])
    record.add_argument("--description", required=True, help="what caused the incident")
    record.add_argument("--factor", action="append", default=[], help="a contributing factor (repeatable)")
    record.add_argument("--remediation", action="append", default=[], help="a remediation step (repeatable)")
    record.add_argument("--regression-test-added", action="store_true", help="a regression test now covers it")
    record.add_argument("--recurrence-prevention", default="", help="what keeps it from happening again")
    record.set_defaults(handler=_run(rca_command))

    close = commands.add_parser(
        "close",
        parents=[stores, catalogue],
        help="close an incident (needs a root cause)",
        description="Close an incident that has a root cause, keeping its blast radius as counted now, and "
        "release its hold on the prompt log so retention applies again.",
    )
    close.add_argument("id", metavar="ID")
    close.add_argument("--by", required=True, help="who closes it (goes on the timeline)")
    close.set_defaults(handler=_run(close_command))

    export = commands.add_parser(
        "export-regressions",
        parents=[stores, catalogue],
        help="turns as eval cases and a test",
        description=f"Write the incident's turns as JSON Lines eval cases and a pytest file "
        f"that replays them through the pipeline ${regressions.PIPELINE_ENV} "
        f"names (module:function, message -> answer).",
    )
    export.add_argument("id", metavar="ID")
    export.add_argument("--out", required=True, type=Path, metavar="DIR", help="directory to write to")
    export.set_defaults(handler=_run(export_command))

    again = subparsers.add_parser(
        "replay",
        parents=[stores, as_json],
        help="replay a logged turn with the old and the current prompt",
        description="Replay a logged turn with the system prompt of the time and the current one, and re-run the "
        "PII guardrail on both answers. The model is a callable "
        "`def llm(*, model: str, system: str, messages: list[dict[str, str]]) -> str`, e.g. "
        "otel_ai_incident.incidents.openai_llm:llm. Both system prompts are printed in full, with a unified diff "
        "when they differ: they are the app's instructions, not user messages. Answers are shown redacted. The "
        "result is recorded in the incident unless --no-record.",
    )
    again.add_argument("log_id", metavar="LOG_ID")
    again.add_argument("--llm", required=True, metavar="MODULE:FUNCTION", help="the model callable")
    current = again.add_mutually_exclusive_group()
    current.add_argument("--prompt", type=Path, metavar="FILE", help="the current system prompt")
    current.add_argument(
        "--prompt-name",
        metavar="NAME",
        help="take the current prompt from the registry (filled by importing the --llm module); "
        "default: the turn's prompt name",
    )
    record = again.add_mutually_exclusive_group()
    record.add_argument(
        "--incident",
        metavar="ID",
        help="record the result in this incident (default: the incident the turn is held for)",
    )
    record.add_argument(
        "--no-record",
        action="store_true",
        help="only show the result: record it in no incident (to try a prompt before changing it)",
    )
    again.set_defaults(handler=_run(replay_command))

    report = subparsers.add_parser(
        "postmortem",
        parents=[stores, catalogue],
        help="write the post-mortem draft (Markdown)",
        description="Write the post-mortem draft of an incident as Markdown.",
    )
    report.add_argument("id", metavar="ID")
    report.add_argument("--out", type=Path, metavar="FILE", help="write here instead of standard output")
    report.set_defaults(handler=_run(postmortem_command))


def _run(command: Callable[[argparse.Namespace], None]) -> Callable[[argparse.Namespace], int]:
    """The command, its failures reported by the CLI; the stores it opened are closed when it ends
    (`args.closing`)."""

    def handler(args: argparse.Namespace) -> int:
        try:
            with contextlib.ExitStack() as args.closing:
                command(args)
        except rca.Refused as error:
            raise CommandFailed(str(error), ErrorType.REFUSED) from error
        except ReplayError as error:
            raise CommandFailed(str(error), ErrorType.INVALID) from error
        except BrokenPipeError:
            raise  # the reader went away: the CLI ends quietly
        except store_errors() as error:
            raise failure_of(error, exit_code=EXIT_UNUSABLE) from error
        return 0

    return handler


# -- stores ---------------------------------------------------------------------------------------------


def _incidents(args: argparse.Namespace) -> IncidentStore:
    """The store named (a SQLite file must exist: opening would create an empty one and report nothing)."""
    url = args.incidents or os.environ.get(names.ENV_INCIDENTS) or names.DEFAULT_INCIDENTS
    if url.startswith(SQLITE_SCHEME) and not sqlite_path(url).exists():
        raise CommandFailed(f"no incident store at {sqlite_path(url)}", ErrorType.NO_STORE)
    store = open_incident_store(url)
    args.closing.callback(store.close)
    return store


def open_prompt_log(url: str | None) -> PromptLogStore | None:
    """The prompt log at `url` (default: $AII_PROMPT_LOG, else the default file), or None when its file does not
    exist: opening would create an empty one, and an empty log would report "0 users affected"."""
    url = prompt_log_url(url)
    if url.startswith(SQLITE_SCHEME) and not sqlite_path(url).exists():
        return None
    return open_store(url)


def _prompt_log(args: argparse.Namespace) -> PromptLogStore | None:
    log = open_prompt_log(args.prompt_log)
    if log is not None:
        args.closing.callback(log.close)
    return log


def _required_prompt_log(args: argparse.Namespace) -> PromptLogStore:
    log = _prompt_log(args)
    if log is None:
        raise CommandFailed(f"no prompt log: pass --prompt-log URL or set {names.ENV_PROMPT_LOG}", ErrorType.NO_STORE)
    return log


def _evidence(args: argparse.Namespace) -> SignalEvidence:
    return SignalEvidence(load_signals(args.signals))


def _incident(store: IncidentStore, incident_id: str) -> Incident:
    incident = store.get(incident_id)
    if incident is None:
        raise CommandFailed(f"no incident {incident_id}", ErrorType.NOT_FOUND)
    return incident


# -- incidents ------------------------------------------------------------------------------------------


def list_command(args: argparse.Namespace) -> None:
    status = IncidentStatus(args.status) if args.status else None
    found = _incidents(args).list(status=status)
    if args.json:
        print(json.dumps([i.to_json() for i in found], indent=2))
        return
    for i in found:
        print(f"{i.id}  {i.status.value:<9}  {i.severity}  {i.incident_type:<16}  {utc(i.opened_at)}  {i.title}")
    if not found:
        print("no incidents")


def show_command(args: argparse.Namespace) -> None:
    store, now = _incidents(args), clock()
    radius = blast_radius.recorded(_incident(store, args.id))
    if radius is None and (log := _prompt_log(args)) is not None:
        radius = blast_radius.assess(store, log, _evidence(args), args.id, now)
    incident = _incident(store, args.id)  # with the first occurrence the assessment may have added
    clock_state = breach_clock(incident, now)
    if args.json:
        print(
            json.dumps(
                {
                    **incident.to_json(),
                    "milestones": incident.milestones(),
                    "blast_radius": radius.to_json() if radius is not None else None,
                    "gdpr_art_33_clock": clock_state.to_json() if clock_state is not None else None,
                    "disclosure": disclosure_lines(incident, now),
                },
                indent=2,
            )
        )
        return
    _say(f"{incident.id}  [{incident.status.value}]  {incident.title}")
    _say(f"type {incident.incident_type} · severity {incident.severity} · signals {', '.join(incident.signals)}")
    print("\nTimeline")
    milestones = incident.milestones()
    for key, label in MILESTONES.items():
        print(f"  {label:<30} {utc(milestones[key])}")
    print("\nEvents")
    for event in incident.timeline:
        _say(f"  {utc(event.at)}  {event.kind.value:<22} {details(event.detail)}")
    print("\nBlast radius")
    _say("  " + _describe_radius(radius, kept=incident.blast_radius is not None))
    print("\nRoot cause")
    for line in _describe_rca(incident):
        _say("  " + line)
    print("\nReplays")
    for r in incident.replays:
        _say(
            f"  {r.log_id} at {utc(r.at)}: reproduced {yes_no(r.reproduced)}; prompt of the time "
            f"{r.old.pii_decision}, current prompt {r.new.pii_decision}"
        )
    if not incident.replays:
        _say(f"  none (otel-ai-incident replay LOG_ID --llm MODULE:FUNCTION --incident {incident.id})")
    print("\nDisclosure")
    for line in disclosure_lines(incident, now):
        print(textwrap.fill(for_terminal(line), _WIDTH, initial_indent="  ", subsequent_indent="    "))


def _say(line: str) -> None:
    """Print one line holding recorded text, its control characters escaped (see `printable`)."""
    print(for_terminal(line))


def _describe_radius(radius: BlastRadius | None, *, kept: bool) -> str:
    if radius is None:
        return "unknown: no prompt log (pass --prompt-log URL)"
    text = (
        f"{radius.users} users, {radius.sessions} sessions, {radius.entries} turns between {utc(radius.since)} "
        f"and {utc(radius.until)} ({'counted when it closed' if kept else 'turns held for this incident'})"
    )
    if radius.signals_without_evidence:
        text += f"; not in the prompt log: {', '.join(radius.signals_without_evidence)}"
    return text


def _describe_rca(incident: Incident) -> list[str]:
    found = incident.rca
    if found is None:
        return [f"not recorded (otel-ai-incident incidents rca {incident.id} --category ... --description ...)"]
    return [
        f"{found.root_cause_category.value}: {found.root_cause_description}",
        *(f"factor: {f}" for f in found.contributing_factors),
        *(f"remediation: {r}" for r in found.remediation_steps),
        f"regression test added: {yes_no(found.regression_test_added)}",
        *([f"recurrence prevention: {found.recurrence_prevention}"] if found.recurrence_prevention else []),
    ]


def rca_command(args: argparse.Namespace) -> None:
    store = _incidents(args)
    _incident(store, args.id)
    recorded = rca.record_rca(
        store,
        args.id,
        category=RootCauseCategory(args.category),
        description=args.description,
        factors=args.factor,
        remediation=args.remediation,
        regression_test_added=args.regression_test_added,
        recurrence_prevention=args.recurrence_prevention,
        at=clock(),
    )
    print(f"recorded root cause of {args.id}: {recorded.root_cause_category.value}")


def close_command(args: argparse.Namespace) -> None:
    store = _incidents(args)
    _incident(store, args.id)
    released = rca.close(store, _prompt_log(args), _evidence(args), args.id, by=args.by, at=clock())
    print(f"closed {args.id}; released the hold on {released} prompt-log turns")


def export_command(args: argparse.Namespace) -> None:
    store, log = _incidents(args), _required_prompt_log(args)
    if blast_radius.recorded(_incident(store, args.id)) is None:
        # Open: find and hold its turns now. A closed one's turns were linked to it when it closed (and its
        # count kept): nothing to count again.
        blast_radius.assess(store, log, _evidence(args), args.id, clock())
    done = regressions.export(log, args.id, args.out)
    print(
        f"wrote {done.cases} cases ({done.checked} checked automatically) to {done.cases_file} and "
        f"{done.test_file}; run: {regressions.PIPELINE_ENV}=module:function pytest {done.test_file}"
    )
    if done.skipped_without_input:
        print(f"left out {done.skipped_without_input} turns without a user message")


def postmortem_command(args: argparse.Namespace) -> None:
    store = _incidents(args)
    _incident(store, args.id)
    text = postmortem.draft(store, _prompt_log(args), _evidence(args), args.id, clock())
    if args.out is None:
        sys.stdout.write(text)
    else:
        write_private_text(args.out, text)
        print(f"wrote {args.out}")


# -- replay ---------------------------------------------------------------------------------------------


def replay_command(args: argparse.Namespace) -> None:
    log = _required_prompt_log(args)
    stored = log.get(args.log_id)
    if stored is None:
        raise CommandFailed(f"no prompt-log entry {args.log_id}", ErrorType.NOT_FOUND)
    entry = stored.entry
    llm = load_callable(args.llm)  # first: importing the app's module may fill the prompt registry
    old_prompt, new_prompt = prompt_of_the_time(log, entry), _current_prompt(args, entry.prompt_name)
    result = replay(entry, old_prompt, new_prompt, llm, now=clock())
    incident_id = None if args.no_record else args.incident or stored.incident_id
    if incident_id is not None and not _incidents(args).record_replay(incident_id, result):
        raise CommandFailed(f"no incident {incident_id} to record the replay in", ErrorType.NOT_FOUND)
    diff = prompt_diff(old_prompt, new_prompt)
    if args.json:
        prompts = {"of_the_time": old_prompt, "current": new_prompt, "diff": diff}
        print(json.dumps({**result.to_json(), "prompts": prompts, "recorded_in": incident_id}, indent=2))
        return
    _print_prompts(old_prompt, new_prompt, diff)
    _print_side_by_side(result, entry.assistant_response)
    if incident_id is not None:
        print(f"recorded in {incident_id}")
    else:
        print("not recorded (--no-record)" if args.no_record else "not recorded in an incident (pass --incident ID)")


def _print_prompts(old_prompt: str, new_prompt: str, diff: list[str]) -> None:
    """Both system prompts in full, then their diff: what changed is what the replay tests."""
    for title, text in (("system prompt of the time", old_prompt), ("current system prompt", new_prompt)):
        print(f"{title} {system_prompt_hash(text)[:12]}:")
        for line in text.splitlines() or [""]:
            _say(f"  {line}")
    if diff:
        print("diff:")
        for line in diff:
            _say(f"  {line}")
    else:
        print("diff: none (the current prompt is the prompt of the time)")
    print()


def _current_prompt(args: argparse.Namespace, logged_name: str | None) -> str:
    if args.prompt is not None:
        return args.prompt.read_text(encoding="utf-8")
    name = args.prompt_name or logged_name
    if name is None:
        raise CommandFailed("no current prompt: pass --prompt FILE or --prompt-name NAME", ErrorType.INVALID)
    try:
        return REGISTRY.active_prompt(name).text
    except KeyError:
        raise CommandFailed(
            f"prompt {name!r} is not registered by the --llm module: pass --prompt FILE", ErrorType.INVALID
        ) from None


def _print_side_by_side(result: Replay, logged_output: str | None) -> None:
    column = (_WIDTH - 3) // 2
    logged = PiiOutputGuard().check(logged_output).text if logged_output else "(not logged)"
    print(f"turn {result.log_id} · model {result.model} · logged PII decision {result.logged_pii_decision or 'none'}")
    print(textwrap.fill(f"logged answer: {logged}", _WIDTH))
    rows = [
        (
            f"prompt of the time {result.old.system_prompt_hash[:12]}",
            f"current prompt {result.new.system_prompt_hash[:12]}",
        ),
        ("-" * column, "-" * column),
    ]
    rows += zip_longest(
        textwrap.wrap(result.old.redacted_output, column) or [""],
        textwrap.wrap(result.new.redacted_output, column) or [""],
        fillvalue="",
    )
    rows.append(
        (
            _guardrail(result.old.pii_decision, result.old.pii_entities),
            _guardrail(result.new.pii_decision, result.new.pii_entities),
        )
    )
    for left, right in rows:
        print(f"{left:<{column}} | {right}")
    print(
        f"reproduced: {yes_no(result.reproduced)} · the current prompt "
        f"{'changes' if result.prompts_differ else 'does not change'} the answer"
    )


def _guardrail(decision: str, entities: tuple[str, ...]) -> str:
    return f"pii: {decision}" + (f" ({', '.join(entities)})" if entities else "")
