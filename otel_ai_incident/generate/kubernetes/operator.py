"""Prometheus Operator resources from the catalogue: PrometheusRule, monitors, AlertmanagerConfig, dashboard.

The PrometheusRule holds exactly the groups of the rule file (`rules.rule_groups`), so the promtool tests
of that file hold for it. The AlertmanagerConfig is the Alertmanager example's route tree
(`alertmanager.config`) in the operator's spelling, narrowed to the catalogue's signals; the operator nests
it under a route matching the AlertmanagerConfig's namespace, which `alertmanager_equivalent` reproduces so
that amtool can check what Alertmanager will run.
"""

from __future__ import annotations

import re
from typing import Any

from otel_ai_incident import names
from otel_ai_incident.generate import alertmanager, dashboard, rules
from otel_ai_incident.generate.kubernetes.manifests import receiver_labels, resource
from otel_ai_incident.generate.kubernetes.options import GRAFANA_DASHBOARD_LABELS, NAME, KubernetesOptions
from otel_ai_incident.generate.kubernetes.receiver import TOKEN_KEY
from otel_ai_incident.generate.links import Links
from otel_ai_incident.signals import NAMESPACE_LABEL, MonitoringSignal, Profile

MONITORING_V1 = "monitoring.coreos.com/v1"
MONITORING_V1ALPHA1 = "monitoring.coreos.com/v1alpha1"
DASHBOARD_FILE = "ai_incident_overview.json"
# Where amtool's copy of the configuration reads the token the operator takes from the Secret.
EQUIVALENT_CREDENTIALS_FILE = "/etc/alertmanager/secrets/otel-ai-incident-webhook/token"
_MATCHER_RE = re.compile(r'^([a-zA-Z_][a-zA-Z0-9_]*)(=~|!~|!=|=)"(.*)"$')
_ROUTE_KEYS = {
    "receiver": "receiver",
    "group_by": "groupBy",
    "group_wait": "groupWait",
    "group_interval": "groupInterval",
    "repeat_interval": "repeatInterval",
    "matchers": "matchers",
    "routes": "routes",
}


def prometheus_rule(
    signals: list[MonitoringSignal], profile: Profile, links: Links, options: KubernetesOptions
) -> dict[str, Any]:
    spec = {"groups": rules.rule_groups(signals, profile, links)["groups"]}
    return resource(MONITORING_V1, "PrometheusRule", NAME, options.namespace, {"spec": spec}, options.selector_labels)


def app_pod_monitor(options: KubernetesOptions) -> dict[str, Any]:
    """The app's /metrics, scraped from every pod the selector matches, by the name of its container port."""
    endpoint = {"port": options.app_metrics_port, "path": "/metrics", "interval": options.scrape_interval}
    spec = {"selector": {"matchLabels": dict(options.app_selector)}, "podMetricsEndpoints": [endpoint]}
    return resource(
        MONITORING_V1, "PodMonitor", f"{NAME}-app", options.namespace, {"spec": spec}, options.selector_labels
    )


def receiver_service_monitor(options: KubernetesOptions) -> dict[str, Any]:
    """The receiver's own /metrics (notifications, actions, inbox), through its Service."""
    endpoint = {"port": "http", "path": "/metrics", "interval": options.scrape_interval}
    spec = {"selector": {"matchLabels": receiver_labels()}, "endpoints": [endpoint]}
    name = f"{NAME}-receiver"
    return resource(MONITORING_V1, "ServiceMonitor", name, options.namespace, {"spec": spec}, options.selector_labels)


def _route_tree(signals: list[MonitoringSignal], options: KubernetesOptions) -> dict[str, Any]:
    """The example's configuration, delivering to the receiver's Service, its top route taking only the
    catalogue's alerts (an AlertmanagerConfig's route must not swallow the namespace's other alerts)."""
    config = alertmanager.config(signals, urls=(options.receiver_url,), credentials_file=EQUIVALENT_CREDENTIALS_FILE)
    names_pattern = "|".join(re.escape(signal.name) for signal in signals)
    receiver, *rest = config["route"].items()
    config["route"] = dict([receiver, ("matchers", [f'{names.ALERT_LABEL_SIGNAL}=~"{names_pattern}"']), *rest])
    return config


def _matcher(text: str) -> dict[str, str]:
    match = _MATCHER_RE.match(text)
    if match is None:
        raise ValueError(f"not a matcher the AlertmanagerConfig can hold: {text}")
    return {"name": match.group(1), "matchType": match.group(2), "value": match.group(3)}


def _route(route: dict[str, Any]) -> dict[str, Any]:
    """A route in the operator's spelling: camelCase keys, matchers as objects."""
    out: dict[str, Any] = {}
    for key, value in route.items():
        if key == "matchers":
            value = [_matcher(m) for m in value]
        elif key == "routes":
            value = [_route(r) for r in value]
        out[_ROUTE_KEYS[key]] = value
    return out


def alertmanager_config(signals: list[MonitoringSignal], options: KubernetesOptions) -> dict[str, Any]:
    config = _route_tree(signals, options)
    [receiver] = config["receivers"]
    credentials = {"name": options.webhook_secret, "key": TOKEN_KEY}
    webhooks = [
        {
            "url": webhook["url"],
            "sendResolved": webhook["send_resolved"],
            "httpConfig": {"authorization": {"type": "Bearer", "credentials": credentials}},
        }
        for webhook in receiver["webhook_configs"]
    ]
    spec = {"route": _route(config["route"]), "receivers": [{"name": receiver["name"], "webhookConfigs": webhooks}]}
    return resource(
        MONITORING_V1ALPHA1, "AlertmanagerConfig", NAME, options.namespace, {"spec": spec}, options.selector_labels
    )


def alertmanager_equivalent(signals: list[MonitoringSignal], options: KubernetesOptions) -> dict[str, Any]:
    """What the operator makes of the AlertmanagerConfig inside an otherwise empty Alertmanager: its receiver
    renamed `<namespace>/<name>/<receiver>`, its route under one matching its namespace, `continue` set."""
    config = _route_tree(signals, options)
    prefix = f"{options.namespace}/{NAME}/"

    def renamed(route: dict[str, Any]) -> dict[str, Any]:
        children = {"routes": [renamed(r) for r in route["routes"]]} if "routes" in route else {}
        return {**route, "receiver": prefix + route["receiver"], **children}

    top = renamed(config["route"])
    top["matchers"] = [f'{NAMESPACE_LABEL}="{options.namespace}"', *top["matchers"]]
    top["continue"] = True
    receivers = [{**r, "name": prefix + r["name"]} for r in config["receivers"]]
    return {"route": {"receiver": "null", "routes": [top]}, "receivers": [{"name": "null"}, *receivers]}


def dashboard_config_map(
    signals: list[MonitoringSignal],
    links: Links,
    options: KubernetesOptions,
    generation: names.Generation = names.DEFAULT_GENERATION,
) -> dict[str, Any]:
    """The dashboard as the Grafana sidecar of kube-prometheus-stack loads it: a labelled ConfigMap."""
    data = {"data": {DASHBOARD_FILE: dashboard.render(signals, links, generation)}}
    name = f"{NAME}-dashboard"
    return resource("v1", "ConfigMap", name, options.grafana_namespace, data, GRAFANA_DASHBOARD_LABELS)
