"""Common shapes of the manifests: metadata and the labels that select the receiver."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otel_ai_incident.generate.kubernetes.options import NAME

PART_OF = {"app.kubernetes.io/part-of": NAME}


def receiver_labels() -> dict[str, str]:
    """The labels that select the receiver's pods (Deployment, Service, ServiceMonitor)."""
    return {"app.kubernetes.io/name": NAME, "app.kubernetes.io/component": "receiver"}


def resource(
    api_version: str,
    kind: str,
    name: str,
    namespace: str,
    body: Mapping[str, Any],
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An object with its metadata (always labelled part-of the project), then `body` (spec, data)."""
    metadata = {"name": name, "namespace": namespace, "labels": {**PART_OF, **(labels or {})}}
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, **body}
