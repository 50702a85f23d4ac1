"""`otel-ai-incident demo`: the whole loop on this machine, from normal traffic to contained incidents."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

# Long enough for the demo profile's baselines to be trusted (2 minutes of history), so the incidents are
# judged against real baselines rather than the absolute fallback of a brand-new service.
DEFAULT_NORMAL_S = 150.0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the whole loop locally: app, Prometheus, Alertmanager, receiver, five incidents",
        description="Start the webhook receiver, the instrumented example bot, Prometheus (with the generated "
                    "rules, demo profile) and Alertmanager on 127.0.0.1, drive normal traffic and then five "
                    "incidents, and show how each is detected and contained.",
    )  # fmt: skip
    parser.add_argument("--normal-seconds", type=float, default=DEFAULT_NORMAL_S,
                        help=f"normal traffic before the first incident (default {DEFAULT_NORMAL_S:g})")
    parser.add_argument("--workdir", type=Path, help="where configs, databases and logs go (default: a temp dir)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    parser.set_defaults(handler=demo)


def _stop_on_sigterm() -> None:
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def demo(args: argparse.Namespace) -> int:
    from otel_ai_incident.demo.run import Demo, summary_table, verify, write_postmortems
    from otel_ai_incident.demo.services import MissingBinary
    from otel_ai_incident.demo.stack import DemoStack, check_binaries

    try:
        check_binaries()
    except MissingBinary as missing:
        print(f"otel-ai-incident demo: {missing}", file=sys.stderr)
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="aii-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    stack = DemoStack(workdir=workdir)
    _stop_on_sigterm()
    try:
        print(f"Starting the stack in {workdir} ...", flush=True)
        stack.start()
        assert stack.receiver and stack.prometheus and stack.alertmanager
        print(f"  receiver {stack.receiver.url}   Prometheus {stack.prometheus.url}   "
              f"Alertmanager {stack.alertmanager.url}", flush=True)
        outcomes = Demo(stack).run(args.normal_seconds)
        checks = verify(stack)
        print("\n" + summary_table(outcomes), flush=True)
        postmortems = write_postmortems(stack, outcomes)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping everything", file=sys.stderr)
        return 130
    except Exception as error:
        print(f"otel-ai-incident demo failed: {error}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
    if args.json:
        args.json.write_text(json.dumps(
            {"scenarios": [o.to_json() for o in outcomes], "checks": checks.to_json(), "workdir": str(workdir),
             "postmortems": [str(p) for p in postmortems]},
            indent=2,
        ))  # fmt: skip
    contained = all(o.contained_after_s is not None for o in outcomes)
    return 0 if contained and checks.agree else 1
