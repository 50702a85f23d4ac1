"""The webhook receiver on Kubernetes: a Deployment of replicas sharing the PostgreSQL stores, and its Service.

Replicas are safe side by side because the stores are shared (the inbox hands each notification to one of
them under a lease), so Alertmanager may deliver to any. Credentials come from Secrets only: the bearer
token and the pseudonym key as files, the database URL as environment variables, none in the manifest; the
team-updates file, when a Secret holds it, as a directory with the webhook URLs it reads beside it. Every
replica gets the same file, as a fleet of receivers needs (README, "Updates to the team").
The pod runs as a non-root user on a read-only root filesystem; only /tmp is writable.
"""

from __future__ import annotations

from typing import Any

from otel_ai_incident import names
from otel_ai_incident.generate.kubernetes.manifests import receiver_labels, resource
from otel_ai_incident.generate.kubernetes.options import NAME, KubernetesOptions

TOKEN_DIR = "/etc/otel-ai-incident/webhook"
PSEUDONYM_DIR = "/etc/otel-ai-incident/pseudonym"
NOTIFY_DIR = "/etc/otel-ai-incident/notify"
TOKEN_KEY, DATABASE_KEY, PSEUDONYM_KEY, NOTIFY_KEY = "token", "url", "key", "notify.yaml"
HEALTH_PATH = "/healthz"
SECRET_FILE_MODE = 0o440  # readable by the pod's group (fsGroup), nobody else
STORES = (names.ENV_INCIDENTS, names.ENV_CONTAINMENT, names.ENV_PROMPT_LOG)


def _secret_volume(name: str, secret: str, key: str | None) -> dict[str, Any]:
    """The Secret as files: only `key`, or every key when None."""
    items = {"items": [{"key": key, "path": key}]} if key is not None else {}
    return {"name": name, "secret": {"secretName": secret, **items, "defaultMode": SECRET_FILE_MODE}}


def _container(options: KubernetesOptions) -> dict[str, Any]:
    database = {"secretKeyRef": {"name": options.database_secret, "key": DATABASE_KEY}}
    probe = {"httpGet": {"path": HEALTH_PATH, "port": "http"}}
    env: list[dict[str, Any]] = [
        *({"name": env, "valueFrom": database} for env in STORES),
        {"name": names.ENV_PSEUDONYM_KEY_FILE, "value": f"{PSEUDONYM_DIR}/{PSEUDONYM_KEY}"},
    ]
    mounts = [
        {"name": "webhook-token", "mountPath": TOKEN_DIR, "readOnly": True},
        {"name": "pseudonym-key", "mountPath": PSEUDONYM_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if options.notify_secret is not None:
        env.append({"name": names.ENV_NOTIFY_FILE, "value": f"{NOTIFY_DIR}/{NOTIFY_KEY}"})
        mounts.append({"name": "notify", "mountPath": NOTIFY_DIR, "readOnly": True})
    return {
        "name": "receiver",
        "image": options.receiver_image,
        "command": [NAME],
        "args": [
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            str(options.receiver_port),
            "--token-file",
            f"{TOKEN_DIR}/{TOKEN_KEY}",
        ],
        "env": env,
        "ports": [{"name": "http", "containerPort": options.receiver_port, "protocol": "TCP"}],
        # Ready only while the worker runs and the inbox is readable and not stalled; restarted only after a
        # minute of that, so a short database outage does not restart every replica at once.
        "readinessProbe": {**probe, "periodSeconds": 5, "timeoutSeconds": 3, "failureThreshold": 2},
        "livenessProbe": {
            **probe,
            "initialDelaySeconds": 10,
            "periodSeconds": 10,
            "timeoutSeconds": 3,
            "failureThreshold": 6,
        },
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": options.run_as_user,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }


def deployment(options: KubernetesOptions) -> dict[str, Any]:
    labels = receiver_labels()
    pod = {
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": options.run_as_user,
            "runAsGroup": options.run_as_user,
            "fsGroup": options.run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_container(options)],
        "volumes": [
            _secret_volume("webhook-token", options.webhook_secret, TOKEN_KEY),
            _secret_volume("pseudonym-key", options.pseudonym_secret, PSEUDONYM_KEY),
            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
            *([_secret_volume("notify", options.notify_secret, None)] if options.notify_secret is not None else []),
        ],
    }
    spec = {
        "replicas": options.receiver_replicas,
        "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": pod},
    }
    return resource("apps/v1", "Deployment", NAME, options.namespace, {"spec": spec}, labels)


def service(options: KubernetesOptions) -> dict[str, Any]:
    labels = receiver_labels()
    port = {"name": "http", "port": options.receiver_port, "targetPort": "http", "protocol": "TCP"}
    spec = {"type": "ClusterIP", "selector": labels, "ports": [port]}
    return resource("v1", "Service", NAME, options.namespace, {"spec": spec}, labels)
