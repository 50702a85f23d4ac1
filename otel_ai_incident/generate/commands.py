"""`otel-ai-incident generate`: write (or, with --check, verify) every file generated from the catalogue."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from otel_ai_incident import names
from otel_ai_incident.commandline import CommandFailed, ErrorType
from otel_ai_incident.generate.kubernetes import receiver
from otel_ai_incident.generate.kubernetes.options import DEFAULT_APP_SELECTOR, DEFAULT_RELEASE_LABELS, KubernetesOptions
from otel_ai_incident.generate.links import DEFAULT_GRAFANA_BASE, DEFAULT_RUNBOOK_BASE, Links
from otel_ai_incident.signals import PRODUCTION, PROFILES, SignalConfigError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="alert rules, promtool tests, dashboard, Alertmanager example, runbook and Kubernetes manifests",
        description="Generate alert rules, their promtool tests, the Grafana dashboard, an Alertmanager example "
        "and the runbook from the signal catalogue. The production profile also writes the Kubernetes manifests "
        "for kube-prometheus-stack (deploy/kubernetes/), the JSON Schema of the "
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
    _kubernetes_arguments(parser.add_argument_group("Kubernetes manifests (deploy/kubernetes/, production profile)"))
    parser.add_argument(
        "--semconv",
        choices=names.SEMCONV_CHOICES,
        help="GenAI convention generation whose metric names the dashboard queries: default (today's), latest "
        f"(semantic-conventions-genai) or dup (both emitted; the dashboard follows the latest). Default: from "
        f"{names.ENV_SEMCONV_STABILITY_OPT_IN}, as the apps read it",
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 naming each stale file")
    parser.set_defaults(handler=generate_command)


def _label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _kubernetes_arguments(group: Any) -> None:
    defaults = KubernetesOptions()
    group.add_argument(
        "--k8s-namespace",
        default=defaults.namespace,
        metavar="NS",
        help=f"namespace of the app, the receiver, the rules and the AlertmanagerConfig (default {defaults.namespace})",
    )
    group.add_argument(
        "--k8s-grafana-namespace",
        default=defaults.grafana_namespace,
        metavar="NS",
        help=f"namespace the Grafana sidecar loads dashboards from (default {defaults.grafana_namespace})",
    )
    group.add_argument(
        "--k8s-selector-label",
        type=_label,
        action="append",
        metavar="KEY=VALUE",
        help="label the stack's selectors want on PrometheusRule, monitors and AlertmanagerConfig, repeatable "
        f"(default {', '.join(f'{k}={v}' for k, v in DEFAULT_RELEASE_LABELS.items())}: a Helm release's name)",
    )
    group.add_argument(
        "--k8s-app-selector",
        type=_label,
        action="append",
        metavar="KEY=VALUE",
        help="label of the app's pods, repeatable "
        f"(default {', '.join(f'{k}={v}' for k, v in DEFAULT_APP_SELECTOR.items())})",
    )
    group.add_argument(
        "--k8s-app-metrics-port",
        default=defaults.app_metrics_port,
        metavar="NAME",
        help=f"name of the app container's port serving /metrics (default {defaults.app_metrics_port})",
    )
    group.add_argument(
        "--k8s-receiver-image", metavar="IMAGE", help=f"receiver image (default {defaults.receiver_image})"
    )
    group.add_argument(
        "--k8s-notify-secret",
        metavar="NAME",
        help="Secret whose key notify.yaml is the receivers' team-updates file, its other keys the webhook URLs "
        f"the file reads with url_file from {receiver.NOTIFY_DIR}/ (default: none, no updates sent)",
    )


def _cluster(args: argparse.Namespace) -> KubernetesOptions:
    defaults = KubernetesOptions()
    return KubernetesOptions(
        namespace=args.k8s_namespace,
        grafana_namespace=args.k8s_grafana_namespace,
        selector_labels=dict(args.k8s_selector_label) if args.k8s_selector_label else defaults.selector_labels,
        app_selector=dict(args.k8s_app_selector) if args.k8s_app_selector else defaults.app_selector,
        app_metrics_port=args.k8s_app_metrics_port,
        receiver_image=args.k8s_receiver_image or defaults.receiver_image,
        notify_secret=args.k8s_notify_secret,
    )


def _generation(choice: str | None) -> names.Generation:
    """The generation the dashboard follows: the flag's, else the one OTEL_SEMCONV_STABILITY_OPT_IN selects for
    the apps; under dual emission, the current one (what the migration ends on)."""
    if choice is not None:
        return names.generations_from_choice(choice)[-1]
    return names.generations_from_opt_in(os.environ.get(names.ENV_SEMCONV_STABILITY_OPT_IN))[-1]


def generate_command(args: argparse.Namespace) -> int:
    # Imported here: the dashboard needs grafana-foundation-sdk, which only `generate` users install.
    from otel_ai_incident.generate import artefacts

    profile = PROFILES[args.profile]
    links = Links(args.runbook_url, args.grafana_url)
    generation = _generation(args.semconv)
    try:
        cluster = _cluster(args) if profile is PRODUCTION else None
        files = artefacts.render_all(artefacts.catalogue(args.signals, profile), profile, links, cluster, generation)
        if profile is PRODUCTION:
            files |= artefacts.published_files(args.out, links, generation)
    except SignalConfigError as exc:
        raise CommandFailed(str(exc), ErrorType.INVALID, exit_code=2) from exc
    if args.check:
        stale = artefacts.stale(files, args.out)
        for path in stale:
            print(f"stale: {args.out / path} (run: otel-ai-incident generate)", file=sys.stderr)
        return 1 if stale else 0
    for path in artefacts.write(files, args.out):
        print(f"wrote {args.out / path}")
    return 0
