"""Starting real processes for tests: the example bot, and small scripts run under a chosen environment."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conftest import free_port, missing

ROOT = Path(__file__).resolve().parent.parent
SUPPORT_BOT = ROOT / "examples" / "support_bot.py"


def scratch_dir() -> str:
    """A fresh working directory for a child, so the databases it creates by default land outside the repo."""
    return tempfile.mkdtemp(prefix="aii-test-")


def clean_env(**overrides: str) -> dict[str, str]:
    """The test's environment without OTEL_* / AII_* settings that would leak into a child, plus overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AII_"))}
    env.update(overrides)
    return env


@contextmanager
def support_bot(*args: str, env: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
    """Run the example bot with --serve; yield its summary (incl. metrics_url) and stop it afterwards."""
    proc = subprocess.Popen(
        [sys.executable, str(SUPPORT_BOT), "--serve", "--host", "127.0.0.1", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or clean_env(),
        cwd=scratch_dir(),
    )
    try:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"support bot exited early: {proc.stderr.read()}")
        yield json.loads(line)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def support_bot_server(
    env: dict[str, str], log: Path, workers: int = 1
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`uvicorn support_bot_server:app --workers N` (the example web app); yields the process and its base URL."""
    for module in ("uvicorn", "fastapi"):
        if importlib.util.find_spec(module) is None:
            missing(f"{module} is not installed (install the server extra: pip install -e '.[server]')")
    port = free_port()
    with open(log, "wb") as output:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "support_bot_server:app",
                "--app-dir",
                str(ROOT / "examples"),
                "--workers",
                str(workers),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            cwd=log.parent,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def post_turn(base_url: str, kind: str) -> dict[str, Any]:
    """One turn of `kind` to the example web app; its reply (text, contained_by, worker_pid)."""
    request = urllib.request.Request(
        f"{base_url}/turns", data=json.dumps({"kind": kind}).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def run_script(code: str, env: dict[str, str], timeout: float = 60) -> dict[str, Any]:
    """Run Python code in a fresh interpreter; the code prints one JSON object as its last line."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout, cwd=scratch_dir()
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def http_get(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


def wait_until(predicate: Any, timeout: float, interval: float = 0.2) -> Any:
    """Poll `predicate` until it returns something truthy; return that, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:  # the thing polled may not be up yet
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last error: {last_error})")
