"""The manifest files, numbered in the order to apply them (README, "Install on Kubernetes")."""

from __future__ import annotations

from otel_ai_incident import names
from otel_ai_incident.generate.kubernetes import operator, receiver
from otel_ai_incident.generate.kubernetes.options import KubernetesOptions
from otel_ai_incident.generate.links import Links
from otel_ai_incident.generate.output import to_yaml_documents
from otel_ai_incident.signals import MonitoringSignal, Profile

DIRECTORY = "deploy/kubernetes"
RECEIVER = f"{DIRECTORY}/10-receiver.yaml"
MONITORS = f"{DIRECTORY}/20-monitors.yaml"
PROMETHEUS_RULE = f"{DIRECTORY}/30-prometheusrule.yaml"
ALERTMANAGER_CONFIG = f"{DIRECTORY}/40-alertmanagerconfig.yaml"
GRAFANA_DASHBOARD = f"{DIRECTORY}/50-grafana-dashboard.yaml"


def render(
    signals: list[MonitoringSignal],
    profile: Profile,
    links: Links,
    options: KubernetesOptions,
    generation: names.Generation = names.DEFAULT_GENERATION,
) -> dict[str, str]:
    """Every manifest file by path; the Secrets they name are made by the user (README, "Install on Kubernetes")."""
    named = [options.webhook_secret, options.database_secret, options.pseudonym_secret]
    if options.notify_secret is not None:
        named.append(options.notify_secret)
    secrets = f"{', '.join(named[:-1])} and {named[-1]}"
    return {
        RECEIVER: to_yaml_documents(
            [receiver.deployment(options), receiver.service(options)],
            f"The webhook receiver. Needs the Secrets {secrets} in namespace {options.namespace}.",
        ),
        MONITORS: to_yaml_documents(
            [operator.app_pod_monitor(options), operator.receiver_service_monitor(options)],
            "Scrapes the app's /metrics (pods with the selected labels, port named "
            f"{options.app_metrics_port}) and the receiver's.",
        ),
        PROMETHEUS_RULE: to_yaml_documents(
            [operator.prometheus_rule(signals, profile, links, options)],
            f"The rule file's groups (alert_rules/), profile {profile.name}.",
        ),
        ALERTMANAGER_CONFIG: to_yaml_documents(
            [operator.alertmanager_config(signals, options)],
            f"Routes the catalogue's alerts of namespace {options.namespace} to the receiver; token from Secret "
            f"{options.webhook_secret}.",
        ),
        GRAFANA_DASHBOARD: to_yaml_documents(
            [operator.dashboard_config_map(signals, links, options, generation)],
            "The overview dashboard, for the Grafana sidecar (label grafana_dashboard).",
        ),
    }
