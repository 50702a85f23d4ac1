"""The npm packages tests use (tests/npm/package.json), installed once into a cache that scripts/setup.sh fills too.

Without npm or the registry a test needing one skips with the reason, or fails under AII_REQUIRE_E2E=1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from conftest import missing

PACKAGE_JSON = Path(__file__).parent / "npm" / "package.json"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "otel-ai-incident" / "npm"


def npm_package(name: str, purpose: str) -> Path:
    """The installed package `name` (its directory in the cache's node_modules), installing the cache if needed."""
    installed = CACHE / "node_modules" / name
    if installed.is_dir():
        return installed
    npm = shutil.which("npm")
    if npm is None:
        missing(f"npm is needed to install {name} ({purpose})")
    CACHE.mkdir(parents=True, exist_ok=True)
    shutil.copy(PACKAGE_JSON, CACHE / "package.json")
    done = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(CACHE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0 or not installed.is_dir():
        missing(f"npm could not install {name} ({purpose}; registry unreachable?): {done.stderr[-300:]}")
    return installed
