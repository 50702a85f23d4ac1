"""`otel-ai-incident generate`: write (or, with --check, verify) every file generated from the catalogue."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from otel_ai_incident.generate.links import DEFAULT_GRAFANA_BASE, DEFAULT_RUNBOOK_BASE, Links
from otel_ai_incident.signals import PRODUCTION, PROFILES, SignalConfigError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="alert rules, promtool tests, dashboard, Alertmanager example and runbook",
        description="Generate alert rules, their promtool tests, the Grafana dashboard, an Alertmanager example "
        "and the runbook from the signal catalogue. The production profile also writes the JSON Schema of the "
        "signals file (docs/signals.schema.json) and the outputs of every example under "
        "DIR/examples/signals/NAME/signals.yml (into its out/ directory).",
    )
    parser.add_argument("--signals", type=Path, metavar="FILE", help="YAML that adds, overrides or disables signals")
    parser.add_argument("--out", type=Path, default=Path("."), metavar="DIR", help="output directory (default: .)")
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="production",
        help="production (committed) or demo (short windows, 1 s evaluation; do not commit)",
    )
    parser.add_argument(
        "--runbook-url",
        default=DEFAULT_RUNBOOK_BASE,
        metavar="URL",
        help=f"base of the alerts' runbook_url (default: {DEFAULT_RUNBOOK_BASE})",
    )
    parser.add_argument(
        "--grafana-url",
        default=DEFAULT_GRAFANA_BASE,
        metavar="URL",
        help="Grafana root for the alerts' dashboard_url (default: a path relative to Grafana)",
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 naming each stale file")
    parser.set_defaults(handler=generate_command)


def generate_command(args: argparse.Namespace) -> int:
    # Imported here: the dashboard needs grafana-foundation-sdk, which only `generate` users install.
    from otel_ai_incident.generate import artefacts

    profile = PROFILES[args.profile]
    links = Links(args.runbook_url, args.grafana_url)
    try:
        files = artefacts.render_all(artefacts.catalogue(args.signals, profile), profile, links)
        if profile is PRODUCTION:
            files |= artefacts.published_files(args.out, links)
    except SignalConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        stale = artefacts.stale(files, args.out)
        for path in stale:
            print(f"stale: {args.out / path} (run: otel-ai-incident generate)", file=sys.stderr)
        return 1 if stale else 0
    for path in artefacts.write(files, args.out):
        print(f"wrote {args.out / path}")
    return 0
