"""What a cluster decides about the Kubernetes manifests: namespaces, selector labels, the app's pods, the image.

Every default matches a kube-prometheus-stack installed as the Helm release `kube-prometheus-stack` in the
`monitoring` namespace: its Prometheus selects PrometheusRules, ServiceMonitors and PodMonitors labelled
`release: <release name>`, and its Grafana sidecar loads ConfigMaps labelled `grafana_dashboard: "1"` from
Grafana's namespace. The Secrets are referenced by name and made by the user (README, "Install on Kubernetes").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata

NAME = "otel-ai-incident"
DEFAULT_RELEASE_LABELS = {"release": "kube-prometheus-stack"}
DEFAULT_APP_SELECTOR = {"app.kubernetes.io/name": "ai-app"}
GRAFANA_DASHBOARD_LABELS = {"grafana_dashboard": "1"}


def _default_image() -> str:
    try:
        return f"{NAME}:{metadata.version(NAME)}"
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return f"{NAME}:dev"


@dataclass(frozen=True)
class KubernetesOptions:
    """Where things go and how the stack finds them.

    The app, the receiver, the rules and the AlertmanagerConfig share `namespace`: the operator routes an
    AlertmanagerConfig only the alerts whose `namespace` label is its own, and the alerts keep the app's.
    """

    namespace: str = "ai-app"
    grafana_namespace: str = "monitoring"
    selector_labels: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_RELEASE_LABELS))
    app_selector: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_APP_SELECTOR))
    app_metrics_port: str = "metrics"  # the name of the app container's port serving /metrics
    receiver_image: str = field(default_factory=_default_image)
    receiver_replicas: int = 2
    receiver_port: int = 8080
    run_as_user: int = 10001
    webhook_secret: str = f"{NAME}-webhook"  # key `token`: the receiver's credentials and Alertmanager's
    database_secret: str = f"{NAME}-database"  # key `url`: postgresql://... for every store of the receiver
    pseudonym_secret: str = f"{NAME}-pseudonym"  # key `key`: the prompt log's pseudonym key
    # Key `notify.yaml`: the team-updates file, mounted with the Secret's other keys (the webhook URLs it reads
    # with `url_file`). None: no updates are sent, and the receivers mark them done unsent.
    notify_secret: str | None = None
    scrape_interval: str = "30s"

    @property
    def receiver_url(self) -> str:
        return f"http://{NAME}.{self.namespace}.svc:{self.receiver_port}/alertmanager"
