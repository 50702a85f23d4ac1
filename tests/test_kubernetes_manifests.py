"""The Kubernetes manifests (deploy/kubernetes/) against the official schemas and the real tools.

Core objects are validated strictly (unknown fields refused) by kubernetes-validate, which ships the
Kubernetes OpenAPI schemas. The operator's custom resources are validated by tests/operator_crds.mjs with the
models npm's @kubernetes-models/prometheus-operator generates from the operator's CRDs, installed once into
a cache (scripts/setup.sh does it too); without npm or the registry those tests skip, or fail under
AII_REQUIRE_E2E=1. The PrometheusRule's groups pass promtool and the generated promtool tests, and the
Alertmanager configuration the operator makes of the AlertmanagerConfig passes amtool and routes as meant.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from conftest import find_binary, missing
from npm_packages import npm_package
from otel_ai_incident import cli, names
from otel_ai_incident.generate import artefacts
from otel_ai_incident.generate.kubernetes import files, operator, receiver
from otel_ai_incident.generate.kubernetes.options import KubernetesOptions
from otel_ai_incident.signals import PRODUCTION

REPO = Path(__file__).resolve().parent.parent
VALIDATOR = Path(__file__).parent / "operator_crds.mjs"
# The oldest Kubernetes minor still supported upstream when this was written, and the newest the package knows.
KUBERNETES_VERSIONS = ("1.32.0", kubernetes_validate.latest_version())
OPERATOR_KINDS = {"PrometheusRule", "ServiceMonitor", "PodMonitor", "AlertmanagerConfig"}


def _objects() -> list[dict[str, Any]]:
    return [
        doc for path in sorted((REPO / files.DIRECTORY).glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text())
    ]


def _by_kind(kind: str) -> list[dict[str, Any]]:
    return [o for o in _objects() if o["kind"] == kind]


def _run(*command: str | Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, check=False, timeout=600, **kwargs)


def test_committed_manifests_are_the_default_options_output() -> None:
    signals = artefacts.catalogue(None, PRODUCTION)
    rendered = files.render(signals, PRODUCTION, artefacts.DEFAULT_LINKS, KubernetesOptions())
    assert set(rendered) == {str(p.relative_to(REPO)) for p in (REPO / files.DIRECTORY).glob("*.yaml")}
    assert {o["kind"] for o in _objects()} == {"Deployment", "Service", "ConfigMap", *OPERATOR_KINDS}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_core_objects_pass_the_kubernetes_schemas_strictly(version: str) -> None:
    core = [o for o in _objects() if o["kind"] not in OPERATOR_KINDS]
    assert len(core) == 3
    for obj in core:
        kubernetes_validate.validate(obj, version, strict=True)
    broken = json.loads(json.dumps(_by_kind("Deployment")[0]))
    broken["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFilesystm"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, version, strict=True)


@pytest.fixture(scope="session")
def operator_models() -> Path:
    """node_modules holding @kubernetes-models/prometheus-operator: the cache, installed there if needed."""
    if shutil.which("node") is None:
        missing("node is needed to validate the operator's custom resources")
    purpose = "validating the operator's custom resources"
    return npm_package("@kubernetes-models/prometheus-operator", purpose).parent.parent


def _validate_crs(modules: Path, objects: list[dict[str, Any]]) -> list[list[str]]:
    done = _run("node", VALIDATOR, input=json.dumps({"modules": str(modules), "objects": objects}))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_operator_resources_pass_the_operators_crd_schemas(operator_models: Path) -> None:
    resources = [o for o in _objects() if o["kind"] in OPERATOR_KINDS]
    assert {o["kind"] for o in resources} == OPERATOR_KINDS
    assert _validate_crs(operator_models, resources) == [[] for _ in resources]


def test_the_crd_check_catches_wrong_types_unknown_fields_and_bad_child_routes(operator_models: Path) -> None:
    [rule] = json.loads(json.dumps(_by_kind("PrometheusRule")))
    rule["spec"]["groups"][0]["rules"][0]["recrod"] = rule["spec"]["groups"][0]["rules"][0].pop("record")
    [monitor] = json.loads(json.dumps(_by_kind("PodMonitor")))
    monitor["spec"]["podMetricsEndpoints"][0]["interval"] = 30
    [config] = json.loads(json.dumps(_by_kind("AlertmanagerConfig")))
    config["spec"]["route"]["routes"][0]["groupWiat"] = "1m"
    rule_problems, monitor_problems, config_problems = _validate_crs(operator_models, [rule, monitor, config])
    assert any("recrod is not a field" in p for p in rule_problems)
    assert any("interval must be string" in p for p in monitor_problems)
    assert config_problems == ["/spec/route/routes/0/groupWiat is not a field of v1alpha1/Route.d.ts"]


def test_prometheus_rule_groups_pass_promtool_and_the_generated_tests(tmp_path: Path) -> None:
    promtool = find_binary("promtool")
    [rule] = _by_kind("PrometheusRule")
    rule_file = tmp_path / Path(artefacts.RULES).name
    rule_file.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    checked = _run(promtool, "check", "rules", rule_file)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tests = yaml.safe_load((REPO / "alert_rules" / "ai_incident.rules.test.yml").read_text())
    parts = []
    for index, test in enumerate(tests["tests"]):
        part = tmp_path / f"part{index}.test.yml"
        part.write_text(yaml.safe_dump({**tests, "rule_files": [rule_file.name], "tests": [test]}))
        parts.append(part)
    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        results = list(pool.map(lambda p: _run(promtool, "test", "rules", p), parts))
    failures = [r.stdout + r.stderr for r in results if r.returncode != 0]
    assert not failures, "\n".join(failures)


def _equivalent(tmp_path: Path) -> Path:
    signals = artefacts.catalogue(None, PRODUCTION)
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(operator.alertmanager_equivalent(signals, KubernetesOptions())))
    return path


def test_alertmanager_configuration_passes_amtool_and_routes_only_the_catalogues_alerts(tmp_path: Path) -> None:
    amtool = find_binary("amtool")
    config = _equivalent(tmp_path)
    checked = _run(amtool, "check-config", config)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    ours = "ai-app/otel-ai-incident/otel-ai-incident"
    for labels, receiver_name in [
        ({"namespace": "ai-app", "signal": "pii_detection_in_output", "priority": "p1"}, ours),
        ({"namespace": "ai-app", "signal": "refusal_rate_spike", "severity": "warning"}, ours),
        ({"namespace": "other", "signal": "pii_detection_in_output"}, "null"),  # another namespace's config
        ({"namespace": "ai-app", "alertname": "KubePodCrashLooping"}, "null"),  # not an AI alert
    ]:
        routed = _run(
            amtool, "config", "routes", "test", f"--config.file={config}", *(f"{k}={v}" for k, v in labels.items())
        )
        assert routed.stdout.strip() == receiver_name, (labels, routed.stdout + routed.stderr)


def test_the_alertmanager_config_resource_is_the_checked_configuration(tmp_path: Path) -> None:
    """The CR's routes and webhook are the ones amtool checked, in the operator's spelling, token from a Secret."""
    [resource] = _by_kind("AlertmanagerConfig")
    equivalent = yaml.safe_load(_equivalent(tmp_path).read_text())
    top = equivalent["route"]["routes"][0]
    route = resource["spec"]["route"]
    assert [(m["name"], m["matchType"], m["value"]) for m in route["matchers"]] == [
        ("signal", "=~", top["matchers"][1].split('=~"')[1][:-1])
    ]
    assert route["groupBy"] == top["group_by"] == ["alertname", "signal", "namespace", "job"]
    assert [r["matchers"][0]["value"] for r in route["routes"]] == [
        r["matchers"][0].split('"')[1] for r in top["routes"]
    ]
    assert [r["repeatInterval"] for r in route["routes"]] == [r["repeat_interval"] for r in top["routes"]]
    [webhook] = resource["spec"]["receivers"][0]["webhookConfigs"]
    assert webhook["url"] == equivalent["receivers"][1]["webhook_configs"][0]["url"] == KubernetesOptions().receiver_url
    assert webhook["httpConfig"]["authorization"]["credentials"] == {"name": "otel-ai-incident-webhook", "key": "token"}


def test_receiver_deployment_runs_the_real_command_on_the_shared_stores() -> None:
    [deployment] = _by_kind("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    args = cli.build_parser().parse_args(container["args"])  # the flags exist and parse
    assert (args.host, args.port) == ("0.0.0.0", 8080)
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    secrets = {v["name"]: v["secret"] for v in pod["volumes"] if "secret" in v}
    assert args.token_file == f"{mounts['webhook-token']}/{secrets['webhook-token']['items'][0]['path']}"
    env = {e["name"]: e for e in container["env"]}
    for store in (names.ENV_INCIDENTS, names.ENV_CONTAINMENT, names.ENV_PROMPT_LOG):
        assert env[store]["valueFrom"]["secretKeyRef"] == {"name": "otel-ai-incident-database", "key": "url"}
    assert env[names.ENV_PSEUDONYM_KEY_FILE]["value"].startswith(mounts["pseudonym-key"] + "/")
    assert deployment["spec"]["replicas"] == 2
    assert (
        container["readinessProbe"]["httpGet"]["path"]
        == container["livenessProbe"]["httpGet"]["path"]
        == receiver.HEALTH_PATH
    )
    assert container["securityContext"]["readOnlyRootFilesystem"] and pod["securityContext"]["runAsNonRoot"]
    assert pod["securityContext"]["runAsUser"] != 0 and container["resources"]["requests"]


def test_dashboard_config_map_is_the_dashboard_labelled_for_the_sidecar() -> None:
    [config_map] = _by_kind("ConfigMap")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["data"][operator.DASHBOARD_FILE] == (REPO / artefacts.DASHBOARD).read_text()


def test_options_reach_the_manifests_and_check_covers_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    options = [
        "--out",
        str(tmp_path),
        "--runbook-url",
        "https://runbooks.example.org/ai/runbook.md",
        "--grafana-url",
        "https://grafana.example.org",
        "--k8s-namespace",
        "chat",
        "--k8s-selector-label",
        "release=kps",
        "--k8s-selector-label",
        "team=ai",
        "--k8s-app-selector",
        "app=chat-api",
        "--k8s-receiver-image",
        "registry.example.org/otel-ai-incident:1.2.3",
        "--k8s-notify-secret",
        "team-updates",
    ]
    assert cli.main(["generate", *options]) == 0
    written = {
        d["kind"]: d
        for p in sorted((tmp_path / files.DIRECTORY).glob("*.yaml"))
        for d in yaml.safe_load_all(p.read_text())
    }
    rule = written["PrometheusRule"]
    assert rule["metadata"]["namespace"] == "chat" and rule["metadata"]["labels"]["release"] == "kps"
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert all(
        a["annotations"]["runbook_url"].startswith("https://runbooks.example.org/ai/runbook.md#") for a in alerts
    )
    assert all(a["annotations"]["dashboard_url"].startswith("https://grafana.example.org/d/") for a in alerts)
    assert written["PodMonitor"]["spec"]["selector"]["matchLabels"] == {"app": "chat-api"}
    assert written["ServiceMonitor"]["metadata"]["labels"]["team"] == "ai"
    assert written["AlertmanagerConfig"]["spec"]["receivers"][0]["webhookConfigs"][0]["url"].startswith(
        "http://otel-ai-incident.chat.svc:"
    )
    assert written["Deployment"]["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.2.3")
    volumes = written["Deployment"]["spec"]["template"]["spec"]["volumes"]
    assert "team-updates" in {v["secret"]["secretName"] for v in volumes if "secret" in v}
    capsys.readouterr()
    assert cli.main(["generate", "--check", *options]) == 0
    assert cli.main(["generate", "--check", "--out", str(tmp_path)]) == 1  # other options: other manifests
    assert f"stale: {tmp_path / files.PROMETHEUS_RULE}" in capsys.readouterr().err


def _pod_process(container: dict[str, Any], values: dict[str, str], files_dir: Path, port: int) -> subprocess.Popen:
    """The container's command, args and environment run as a local process: Secret files and mounts under
    `files_dir`, Secret values from `values` (by Secret name), bound to loopback on `port`."""
    args = [a.replace("/etc/otel-ai-incident", str(files_dir)) for a in container["args"]]
    args[args.index("--host") + 1], args[args.index("--port") + 1] = "127.0.0.1", str(port)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AII_", "OTEL_"))}
    for item in container["env"]:
        if "valueFrom" in item:
            env[item["name"]] = values[item["valueFrom"]["secretKeyRef"]["name"]]
        else:
            env[item["name"]] = item["value"].replace("/etc/otel-ai-incident", str(files_dir))
    command = shutil.which(container["command"][0]) or pytest.fail(f"{container['command'][0]} is not installed")
    return subprocess.Popen([command, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


TOKEN = "t" * 32


def _secret_files(files_dir: Path) -> None:
    """The webhook token and pseudonym key Secrets as the pod sees them, under `files_dir`."""
    (files_dir / "webhook").mkdir()
    (files_dir / "webhook" / "token").write_text(TOKEN)
    (files_dir / "pseudonym").mkdir()
    (files_dir / "pseudonym" / "key").write_text("k" * 64 + "\n")


def _wait_healthy(process: subprocess.Popen, port: int) -> None:
    import httpx

    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        try:
            if httpx.get(f"http://127.0.0.1:{port}{receiver.HEALTH_PATH}").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "replica not healthy within 30 s"
        time.sleep(0.2)


def _post_install_check(port: int) -> None:
    """Post, as Alertmanager would, one firing alert of a p3 incident named install_check."""
    import httpx

    alert = {
        "status": "firing",
        "labels": {
            "alertname": "InstallCheck",
            "signal": "pii_detection_in_output",
            "incident_type": "install_check",
            "priority": "p3",
            "severity": "info",
            "namespace": "ai-app",
        },
        "annotations": {},
        "startsAt": "2025-01-01T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": "fp-install-check",
    }
    payload = {
        "version": "4",
        "groupKey": '{}:{alertname="InstallCheck"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "otel-ai-incident",
        "groupLabels": {},
        "commonLabels": alert["labels"],
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [alert],
    }
    headers = {"Authorization": f"Bearer {TOKEN}"}
    accepted = httpx.post(f"http://127.0.0.1:{port}/alertmanager", json=payload, headers=headers)
    assert accepted.status_code == 200, accepted.text


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def test_two_replicas_as_deployed_share_the_postgresql_stores(tmp_path: Path, postgres_url: str) -> None:
    """The Deployment's command and environment, run twice on one database: both become healthy, and what
    one replica accepted, the other lists."""
    import httpx

    from otel_ai_incident.demo.services import free_port

    [deployment] = _by_kind("Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    _secret_files(tmp_path)
    ports = [free_port() for _ in range(deployment["spec"]["replicas"])]
    processes = [_pod_process(container, {"otel-ai-incident-database": postgres_url}, tmp_path, p) for p in ports]
    try:
        for process, port in zip(processes, ports, strict=True):
            _wait_healthy(process, port)
        _post_install_check(ports[0])
        deadline = time.monotonic() + 15
        headers = {"Authorization": f"Bearer {TOKEN}"}
        while True:
            listed = httpx.get(f"http://127.0.0.1:{ports[-1]}/v1/incidents", headers=headers).json()["incidents"]
            if listed:
                break
            assert time.monotonic() < deadline, "the other replica never listed the incident"
            time.sleep(0.2)
        assert [(i["incident_type"], i["severity"]) for i in listed] == [("install_check", "p3")]
    finally:
        _stop(processes)


def test_a_notify_secret_gives_the_replicas_the_team_updates_file(tmp_path: Path, postgres_url: str) -> None:
    """With --k8s-notify-secret the Deployment mounts that Secret whole and points the receiver at its
    notify.yaml; run as deployed, an alert's incident reaches the webhook whose URL sits in the same Secret."""
    from otel_ai_incident.demo.services import free_port
    from otel_ai_incident.testing.webhook_endpoint import Endpoint

    options = KubernetesOptions(notify_secret="otel-ai-incident-notify")
    deployment = receiver.deployment(options)
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(deployment, version, strict=True)
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    [volume] = [v for v in pod["volumes"] if v.get("secret", {}).get("secretName") == "otel-ai-incident-notify"]
    assert "items" not in volume["secret"]  # every key: the file and the URLs beside it
    [mount] = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env[names.ENV_NOTIFY_FILE] == f"{mount['mountPath']}/{receiver.NOTIFY_KEY}"
    assert names.ENV_NOTIFY_FILE not in {
        e["name"] for e in _by_kind("Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    }  # the default manifests send no updates

    _secret_files(tmp_path)
    with Endpoint() as team:
        notify_dir = tmp_path / "notify"  # the Secret's keys, as the mount shows them
        notify_dir.mkdir()
        (notify_dir / "team-url").write_text(team.url + "\n")
        (notify_dir / receiver.NOTIFY_KEY).write_text(
            yaml.safe_dump(
                {
                    "version": 1,
                    "targets": [{"name": "team", "kind": "json", "url_file": str(notify_dir / "team-url")}],
                }
            )
        )
        port = free_port()
        processes = [_pod_process(container, {"otel-ai-incident-database": postgres_url}, tmp_path, port)]
        try:
            _wait_healthy(processes[0], port)
            _post_install_check(port)
            deadline = time.monotonic() + 15
            while not team.received:
                assert time.monotonic() < deadline, "no update reached the team's webhook"
                time.sleep(0.2)
        finally:
            _stop(processes)
    [update] = [u for u in team.received if u["event"] == "incident_opened"]
    assert (update["incident"]["type"], update["incident"]["severity"]) == ("install_check", "p3")
