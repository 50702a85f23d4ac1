"""The committed rules with the real promtool and amtool: syntax, every generated unit test, and a broken
rule that the generated tests must catch."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from conftest import find_binary
from otel_ai_incident.generate import artefacts

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / artefacts.RULES
TEST_FILE = RULES.parent / "ai_incident.rules.test.yml"
# The committed outputs of each example signals file (examples/signals/NAME/out/), checked like the main ones.
EXAMPLES = sorted(path.parent / artefacts.EXAMPLE_OUT for path in (REPO / artefacts.EXAMPLES).glob("*/signals.yml"))


def _relative(path: Path) -> str:
    return str(path.relative_to(REPO))


def _run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, check=False, timeout=600)


@pytest.mark.parametrize("rules", [RULES, *(out / artefacts.RULES for out in EXAMPLES)], ids=_relative)
def test_rules_pass_promtool_check(rules: Path) -> None:
    result = _run(find_binary("promtool"), "check", "rules", rules)
    assert result.returncode == 0, result.stdout + result.stderr


def _split_by_test(test_file: Path, out: Path, only: list[dict] | None = None) -> list[Path]:
    """One file per test of `test_file` (or of `only` among them), so promtool (sequential within a file) runs
    them in parallel."""
    document = yaml.safe_load(test_file.read_text())
    parts = []
    for index, test in enumerate(document["tests"] if only is None else only):
        part = out / f"part{index}.test.yml"
        rule_files = [str(test_file.parent / f) for f in document["rule_files"]]
        part.write_text(yaml.safe_dump({**document, "rule_files": rule_files, "tests": [test]}))
        parts.append(part)
    return parts


def _run_in_parallel(parts: list[Path]) -> None:
    promtool = find_binary("promtool")
    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        results = list(pool.map(lambda path: _run(promtool, "test", "rules", path), parts))
    failures = [r.stdout + r.stderr for r in results if r.returncode != 0]
    assert not failures, "\n".join(failures)


def test_there_is_a_test_per_alert() -> None:
    alerts = {line.split(":", 1)[1].strip() for line in RULES.read_text().splitlines() if "- alert:" in line}
    tests = yaml.safe_load(TEST_FILE.read_text())["tests"]
    assert {test["name"].split(":")[0] for test in tests} == alerts


def test_generated_unit_tests_pass(tmp_path: Path) -> None:
    _run_in_parallel(_split_by_test(TEST_FILE, tmp_path))


def test_generated_tests_of_the_alerts_examples_add_pass(tmp_path: Path) -> None:
    """A signal added in YAML gets promtool tests that pass; tests of built-in alerts are run above."""
    builtin = {test["name"].split(":")[0] for test in yaml.safe_load(TEST_FILE.read_text())["tests"]}
    parts = []
    for out in EXAMPLES:
        example = out / TEST_FILE.relative_to(REPO)
        added = [t for t in yaml.safe_load(example.read_text())["tests"] if t["name"].split(":")[0] not in builtin]
        (tmp_path / out.parent.name).mkdir()
        parts += _split_by_test(example, tmp_path / out.parent.name, added)
    assert parts, "no example adds an alert"
    _run_in_parallel(parts)


def test_generated_tests_catch_a_rule_that_misses_new_series(tmp_path: Path) -> None:
    """Without the `unless ... offset` clause, a PII series that appears at 1 is never seen: the tests must say so."""
    promtool = find_binary("promtool")
    lines = [line for line in RULES.read_text().splitlines() if " unless " not in line]
    broken = "\n".join(lines).replace("  or increase(", "  increase(")
    (tmp_path / RULES.name).write_text(broken + "\n")
    document = yaml.safe_load(TEST_FILE.read_text())
    document["tests"] = [t for t in document["tests"] if t["name"].startswith("PiiDetectionInOutput:")]
    (tmp_path / "pii.test.yml").write_text(yaml.safe_dump(document))
    result = _run(promtool, "test", "rules", tmp_path / "pii.test.yml")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert 'job="new_series"' in output and 'job="event"' not in output


@pytest.mark.parametrize(
    "path", [REPO / artefacts.ALERTMANAGER, *(out / artefacts.ALERTMANAGER for out in EXAMPLES)], ids=_relative
)
def test_alertmanager_example_passes_amtool(path: Path) -> None:
    result = _run(find_binary("amtool"), "check-config", path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_tests_of_an_example_with_more_target_labels_pass(tmp_path: Path) -> None:
    """With `aggregate_by: [cluster]` every alert's label set changes, so all of its tests run, not only added ones."""
    example = REPO / artefacts.EXAMPLES / "clusters" / artefacts.EXAMPLE_OUT / TEST_FILE.relative_to(REPO)
    _run_in_parallel(_split_by_test(example, tmp_path))


def test_generated_tests_catch_rules_that_drop_the_namespace(tmp_path: Path) -> None:
    """Summed by job alone, a busy namespace raises the baseline of a quiet one of the same job, and an event
    loses its namespace: the tests of both kinds of detection must say so, and only in those scenarios."""
    promtool = find_binary("promtool")
    broken = RULES.read_text().replace("sum by (namespace, job", "sum by (job")
    assert broken != RULES.read_text()
    (tmp_path / RULES.name).write_text(broken)
    document = yaml.safe_load(TEST_FILE.read_text())
    kept = ("SafetyClassifierBlockRate:", "PiiDetectionInOutput:")
    document["tests"] = [t for t in document["tests"] if t["name"].startswith(kept)]
    (tmp_path / "namespaces.yml").write_text(yaml.safe_dump(document))
    for part in _split_by_test(tmp_path / "namespaces.yml", tmp_path):
        result = _run(promtool, "test", "rules", part)
        output = result.stdout + result.stderr
        assert result.returncode != 0, output
        assert 'namespace="quiet"' in output or 'namespace="busy"' in output
        assert 'job="spike"' not in output and 'job="event"' not in output


def test_rules_and_their_tests_generated_for_the_latest_conventions_pass_promtool(tmp_path: Path) -> None:
    """`generate --semconv latest` (what an app opted into gen_ai_latest_experimental needs) gives rules and
    promtool tests that the real promtool accepts and passes, not only the committed default ones."""
    from otel_ai_incident.cli import main

    assert main(["generate", "--semconv", "latest", "--out", str(tmp_path)]) == 0
    rules = tmp_path / artefacts.RULES
    result = _run(find_binary("promtool"), "check", "rules", rules)
    assert result.returncode == 0, result.stdout + result.stderr
    _run_in_parallel(_split_by_test(rules.parent / TEST_FILE.name, tmp_path))
