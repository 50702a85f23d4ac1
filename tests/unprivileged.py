"""Running the app as `nobody`: a process that may read what it needs and write nothing of ours.

The child runs Debian's /usr/bin/python3 on the checkout and the test environment's packages. `nobody` can
import them only if every directory above them lets others in; a checkout in a private directory (a
`mktemp -d`, mode 0700) does not. Then the child gets a world-readable copy of the package and of its
runtime dependencies as installed (the distributions `otel-ai-incident` requires without extras), made
once per test session.
"""

from __future__ import annotations

import atexit
import functools
import importlib.metadata
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import httpx
import pytest
from packaging.requirements import Requirement

from processes import clean_env

ROOT = Path(__file__).resolve().parent.parent
SITE = Path(httpx.__file__).resolve().parent.parent  # the test environment's packages
PYTHON = "/usr/bin/python3"


def as_nobody() -> list[str]:
    """The command prefix that runs a child as `nobody`; skips (fails under AII_REQUIRE_E2E=1) without root."""
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        if os.environ.get("AII_REQUIRE_E2E") == "1":
            pytest.fail("running a process as an unprivileged user needs root and runuser")
        pytest.skip("needs root and runuser to run a process as nobody")
    return ["runuser", "-u", "nobody", "--"]


def run_as_nobody(code: str, cwd: Path | str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `code` with /usr/bin/python3 as `nobody` in `cwd`, the package importable, `env` added."""
    prefix = as_nobody()
    return subprocess.run(
        [*prefix, PYTHON, "-c", code],
        env=clean_env(PYTHONPATH=_path_for_nobody(), **env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@functools.cache
def _path_for_nobody() -> str:
    """PYTHONPATH from which `nobody` imports the package: the checkout itself, or a readable copy of it."""
    in_place = f"{ROOT}:{SITE}"
    probe = subprocess.run(
        [*as_nobody(), PYTHON, "-c", "import otel_ai_incident, httpx"],
        env=clean_env(PYTHONPATH=in_place),
        cwd="/",
        capture_output=True,
        timeout=60,
    )
    if probe.returncode == 0:
        return in_place
    copy = Path(tempfile.mkdtemp(prefix="aii-readable-"))
    atexit.register(shutil.rmtree, copy, True)
    copy.chmod(0o755)
    shutil.copytree(ROOT / "otel_ai_incident", copy / "otel_ai_incident", ignore=shutil.ignore_patterns("__pycache__"))
    for distribution in _runtime_distributions("otel-ai-incident"):
        for file in distribution.files or []:
            source = Path(distribution.locate_file(file)).resolve()
            if source.is_file() and source.is_relative_to(SITE):
                target = copy / source.relative_to(SITE)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
    for directory, _, files in os.walk(copy):
        os.chmod(directory, 0o755)
        for name in files:
            os.chmod(os.path.join(directory, name), 0o644)
    return str(copy)


def _runtime_distributions(name: str) -> list[importlib.metadata.Distribution]:
    """`name`'s distribution and every one it requires, transitively, leaving out optional extras."""
    found: dict[str, importlib.metadata.Distribution] = {}
    pending = [name]
    while pending:
        wanted = pending.pop()
        key = wanted.lower().replace("_", "-")
        if key in found:
            continue
        try:
            distribution = importlib.metadata.distribution(wanted)
        except importlib.metadata.PackageNotFoundError:
            continue  # required only on other platforms or Python versions
        found[key] = distribution
        for line in distribution.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return list(found.values())
