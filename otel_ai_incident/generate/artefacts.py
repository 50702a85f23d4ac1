"""Every generated file, by path relative to the output directory: the one place that lists them.

Besides the catalogue's outputs, the production profile writes the JSON Schema of the signals file and, for
each example spec found under `examples/signals/<name>/signals.yml` in the output directory, the outputs of
that spec under `examples/signals/<name>/out/`, so `generate --check` keeps the published examples honest.
"""

from __future__ import annotations

from pathlib import Path

from otel_ai_incident import names
from otel_ai_incident.generate import alertmanager, dashboard, rule_tests, rules, runbook
from otel_ai_incident.generate.kubernetes import files as kubernetes
from otel_ai_incident.generate.kubernetes.options import KubernetesOptions
from otel_ai_incident.generate.links import Links
from otel_ai_incident.generate.output import to_json
from otel_ai_incident.signals import PRODUCTION, MonitoringSignal, Profile
from otel_ai_incident.signals.load import load_signals
from otel_ai_incident.signals.spec import json_schema

RULES = "alert_rules/ai_incident.rules.yml"
ALERTMANAGER = "alert_rules/alertmanager.example.yml"
DASHBOARD = "dashboards/ai_incident_overview.json"
RUNBOOK = "docs/runbook.md"
SCHEMA = "docs/signals.schema.json"
EXAMPLES = Path("examples/signals")
EXAMPLE_SPEC = "signals.yml"
EXAMPLE_OUT = "out"


def catalogue(signals_file: Path | str | None, profile: Profile) -> list[MonitoringSignal]:
    return [profile.apply(signal) for signal in load_signals(signals_file)]


DEFAULT_LINKS = Links()


def render_all(
    signals: list[MonitoringSignal],
    profile: Profile = PRODUCTION,
    links: Links = DEFAULT_LINKS,
    cluster: KubernetesOptions | None = None,
    generation: names.Generation = names.DEFAULT_GENERATION,
) -> dict[str, str]:
    """Rules and dashboard for any profile; promtool tests, Alertmanager example and runbook for production,
    and the Kubernetes manifests (deploy/kubernetes/) when `cluster` says where they go.

    The tests' scenarios are sized for production windows (minutes, a day of history); the demo only needs
    rules that promtool accepts, and the other files do not depend on the profile. The dashboard's model-call
    panels query the metric names of `generation` (the one the apps emit, or under dual emission the current
    one).
    """
    files = {RULES: rules.render(signals, profile, links), DASHBOARD: dashboard.render(signals, links, generation)}
    if profile is PRODUCTION:
        tests = [test for signal in signals for test in rule_tests.detection_tests(signal)]
        rule_dir = Path(RULES).parent
        for name, text in rule_tests.render(tests, Path(RULES).name).items():
            files[str(rule_dir / name)] = text
        files[ALERTMANAGER] = alertmanager.render(signals)
        files[RUNBOOK] = runbook.render(signals, links)
        if cluster is not None:
            files |= kubernetes.render(signals, profile, links, cluster, generation)
    return files


def published_files(
    root: Path, links: Links = DEFAULT_LINKS, generation: names.Generation = names.DEFAULT_GENERATION
) -> dict[str, str]:
    """The signals file's JSON Schema, and the production outputs of every example spec under `root`."""
    files = {SCHEMA: to_json(json_schema())}
    for spec_path in sorted((root / EXAMPLES).glob(f"*/{EXAMPLE_SPEC}")):
        out = spec_path.parent.relative_to(root) / EXAMPLE_OUT
        for path, text in render_all(catalogue(spec_path, PRODUCTION), PRODUCTION, links, None, generation).items():
            files[str(out / path)] = text
    return files


def stale(files: dict[str, str], out: Path) -> list[str]:
    """Paths whose content on disk differs from `files` (missing counts as stale)."""
    return [
        path
        for path, text in files.items()
        if not (out / path).is_file() or (out / path).read_text(encoding="utf-8") != text
    ]


def write(files: dict[str, str], out: Path) -> list[str]:
    """Write what changed; returns the paths written."""
    changed = stale(files, out)
    for path in changed:
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(files[path], encoding="utf-8")
    return changed
