"""`otel-ai-incident demo`: the whole loop on this machine, from normal traffic to contained incidents."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from otel_ai_incident.commandline import CommandFailed, ErrorType

# Long enough for the demo profile's baselines to be trusted (2 minutes of history), so the incidents are
# judged against real baselines rather than the absolute fallback of a brand-new service.
DEFAULT_NORMAL_S = 150.0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole loop locally: app, Prometheus, Alertmanager, receiver, five incidents",
        description="Start the webhook receiver, the instrumented example bot, Prometheus (with the generated "
        "rules, demo profile) and Alertmanager on 127.0.0.1, drive normal traffic and then five "
        "incidents, and show how each is detected and contained.",
    )
    parser.add_argument(
        "--normal-seconds",
        type=float,
        default=DEFAULT_NORMAL_S,
        help=f"normal traffic before the first incident (default {DEFAULT_NORMAL_S:g})",
    )
    parser.add_argument("--workdir", type=Path, help="where configs, databases and logs go (default: a temp dir)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    parser.add_argument(
        "--fleet",
        action="store_true",
        help="run it as a fleet: PostgreSQL, 3 app replicas, 2 receivers, 2 clustered Alertmanagers; one receiver "
        "is killed (SIGKILL) after the second incident",
    )
    parser.set_defaults(handler=demo)


def _stop_on_sigterm() -> None:
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def demo(args: argparse.Namespace) -> int:
    from otel_ai_incident.demo.fleet import FleetStack
    from otel_ai_incident.demo.postgres import MissingPostgres
    from otel_ai_incident.demo.run import Demo, summary_table, verify, write_postmortems
    from otel_ai_incident.demo.services import MissingBinary
    from otel_ai_incident.demo.stack import DemoStack, check_binaries

    try:
        check_binaries()
    except MissingBinary as missing:
        raise CommandFailed(str(missing), ErrorType.UNAVAILABLE, exit_code=2) from None
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="aii-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    stack = FleetStack(workdir=workdir) if args.fleet else DemoStack(workdir=workdir)
    fleet_checks = None
    _stop_on_sigterm()
    try:
        print(f"Starting the stack in {workdir} ...", flush=True)
        stack.start()
        if isinstance(stack, FleetStack):
            outcomes, fleet_checks = _run_fleet(stack, args.normal_seconds)
        else:
            assert stack.receiver and stack.prometheus and stack.alertmanager
            print(
                f"  receiver {stack.receiver.url}   Prometheus {stack.prometheus.url}   "
                f"Alertmanager {stack.alertmanager.url}\n"
                f"  incident console {stack.receiver.url}/ui (log in with the token in {workdir}/webhook.token)",
                flush=True,
            )
            outcomes = Demo(stack).run(args.normal_seconds)
        checks = verify(stack)
        print("\n" + summary_table(outcomes), flush=True)
        postmortems = write_postmortems(stack, outcomes)
    except MissingPostgres as missing:
        raise CommandFailed(str(missing), ErrorType.UNAVAILABLE, exit_code=2) from None
    except KeyboardInterrupt:
        print("\ninterrupted; stopping everything", file=sys.stderr)
        return 130
    except Exception as error:
        raise CommandFailed(f"the demo failed: {error}", ErrorType.FAILED) from error
    finally:
        stack.stop()
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "scenarios": [o.to_json() for o in outcomes],
                    "checks": checks.to_json(),
                    "workdir": str(workdir),
                    "postmortems": [str(p) for p in postmortems],
                    "fleet": None if fleet_checks is None else fleet_checks.to_json(),
                },
                indent=2,
            )
        )
    contained = all(o.contained_after_s is not None for o in outcomes)
    fleet_ok = fleet_checks is None or fleet_checks.ok
    return 0 if contained and checks.agree and fleet_ok else 1


# The receiver killed mid-run, and after which scenario (by its position).
KILLED_RECEIVER = 0
KILL_AFTER_SCENARIO = 2


def _run_fleet(stack: Any, normal_s: float) -> tuple[list[Any], Any]:
    """The five scenarios on the fleet, a receiver killed part-way, then the fleet's own checks."""
    from otel_ai_incident.demo.fleet_checks import PII_SIGNAL, verify_fleet
    from otel_ai_incident.demo.run import Demo, wait_until_scraped

    print(f"  PostgreSQL {stack.database_url}", flush=True)
    print(f"  replicas {', '.join(r.url for r in stack.replicas)}", flush=True)
    print(
        f"  receivers {', '.join(r.url for r in stack.receivers)}   Prometheus {stack.prometheus.url}   "
        f"Alertmanagers {', '.join(m.url for m in stack.alertmanagers)} (one cluster)",
        flush=True,
    )
    demo = Demo(stack, replicas=[r.name for r in stack.replicas])

    def after(outcome: Any) -> None:
        if len(demo.outcomes) == KILL_AFTER_SCENARIO:
            wait_until_scraped(stack.prometheus, outcome.action)  # the receiver that acted may be this one
            stack.kill_receiver(KILLED_RECEIVER)
            print(f"  !! receiver-{KILLED_RECEIVER} killed (SIGKILL); the other carries on", flush=True)

    outcomes = demo.run(normal_s, after_scenario=after)
    pii = next((o.incident_id for o in outcomes if o.scenario.signal == PII_SIGNAL), None)
    checks = verify_fleet(stack.database_url, demo.driver, pii)
    leaks = sum(checks.leak_turns_answered.values())
    print(
        f"\nFleet: PII blast radius {checks.blast_radius_entries} turns, {checks.blast_radius_users} user(s); the "
        f"replicas answered {leaks} leaking turns ({checks.leak_turns_answered})",
        flush=True,
    )
    print(
        f"Fleet: actions applied more often than their incident's alerts fired: "
        f"{', '.join(checks.actions_applied_too_often) or 'none'}; notifications finished "
        f"{checks.finished_notifications}, pending {checks.pending_notifications}: "
        f"{'ok' if checks.ok else 'FAILED'}",
        flush=True,
    )
    return outcomes, checks
