"""Kubernetes manifests for a cluster running kube-prometheus-stack, from the same catalogue as the rule file.

`options` (namespaces, selector labels, image), `receiver` (Deployment and Service of the webhook receiver),
`operator` (PrometheusRule, PodMonitor and ServiceMonitor, AlertmanagerConfig, Grafana dashboard ConfigMap).
`files.render` lays them out as files numbered in the order to apply them (README, "Install on Kubernetes").
"""
