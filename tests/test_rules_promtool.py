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


def _run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, check=False, timeout=600)


def test_rules_pass_promtool_check() -> None:
    result = _run(find_binary("promtool"), "check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr


def _split_by_test(test_file: Path, out: Path) -> list[Path]:
    """One file per test of `test_file`, so promtool (sequential within a file) runs them in parallel."""
    document = yaml.safe_load(test_file.read_text())
    parts = []
    for index, test in enumerate(document["tests"]):
        part = out / f"part{index}.test.yml"
        rule_files = [str(test_file.parent / f) for f in document["rule_files"]]
        part.write_text(yaml.safe_dump({**document, "rule_files": rule_files, "tests": [test]}))
        parts.append(part)
    return parts


def test_there_is_a_test_per_alert() -> None:
    alerts = {line.split(":", 1)[1].strip() for line in RULES.read_text().splitlines() if "- alert:" in line}
    tests = yaml.safe_load(TEST_FILE.read_text())["tests"]
    assert {test["name"].split(":")[0] for test in tests} == alerts


def test_generated_unit_tests_pass(tmp_path: Path) -> None:
    promtool = find_binary("promtool")
    parts = _split_by_test(TEST_FILE, tmp_path)
    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        results = list(pool.map(lambda path: _run(promtool, "test", "rules", path), parts))
    failures = [r.stdout + r.stderr for r in results if r.returncode != 0]
    assert not failures, "\n".join(failures)


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


@pytest.mark.parametrize("path", [REPO / artefacts.ALERTMANAGER])
def test_alertmanager_example_passes_amtool(path: Path) -> None:
    result = _run(find_binary("amtool"), "check-config", path)
    assert result.returncode == 0, result.stdout + result.stderr
