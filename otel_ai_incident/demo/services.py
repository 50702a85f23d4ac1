"""Real Prometheus and Alertmanager processes on 127.0.0.1, each in its own temporary directory.

Used by the demo and by the tests, so both exercise the same binaries the same way: free ports, a config
written to the temp dir, readiness polled over HTTP, and a stop that never leaves an orphan behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

INSTALL_HINT = "apt-get update && apt-get install -y prometheus prometheus-alertmanager"
# Debian's prometheus-alertmanager package names the binary after the package.
BINARY_CANDIDATES = {
    "prometheus": ("prometheus",),
    "promtool": ("promtool",),
    "alertmanager": ("prometheus-alertmanager", "alertmanager"),
    "amtool": ("amtool",),
}


class MissingBinary(RuntimeError):
    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is not installed (install with: {INSTALL_HINT})")
        self.name = name


def find_binary(name: str) -> str:
    for candidate in BINARY_CANDIDATES.get(name, (name,)):
        path = shutil.which(candidate)
        if path:
            return path
    raise MissingBinary(name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_PR_SET_PDEATHSIG = 1
# Resolved in the parent: the child, forked from a threaded process, must not load libraries before exec.
_prctl: Any = None
if sys.platform == "linux":
    with contextlib.suppress(OSError, AttributeError):
        _prctl = ctypes.CDLL(None, use_errno=True).prctl


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM it when the process that started it dies, so even a
    demo or test killed with SIGKILL leaves no Prometheus, Alertmanager or receiver behind."""
    _prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


#: `preexec_fn` for a child that must not outlive this process (None where Linux' prctl is not available).
DIE_WITH_PARENT = _die_with_parent if _prctl is not None else None


class Service:
    """A child process with a temp dir, a port and a readiness URL."""

    def __init__(self, name: str, workdir: Path | None = None) -> None:
        self.name = name
        self.port = free_port()
        self._own_dir = workdir is None
        self.dir = Path(tempfile.mkdtemp(prefix=f"aii-{name}-")) if workdir is None else workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.dir / f"{name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _start(self, argv: list[str], ready_path: str, timeout: float, env: Mapping[str, str] | None = None) -> None:
        """Start `argv` (with `env` added to this process' environment) and wait until `ready_path` answers."""
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child writes to it until stop()
        self.process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
            env={**os.environ, **(env or {})},
            preexec_fn=DIE_WITH_PARENT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + ready_path, timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} not ready within {timeout}s: {self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Prometheus(Service):
    def __init__(self, workdir: Path | None = None) -> None:
        super().__init__("prometheus", workdir)

    def start(
        self,
        scrape_targets: dict[str, list[str]],
        *,
        rule_files: list[Path] = (),
        alertmanager_urls: Sequence[str] = (),
        interval: str = "1s",
        timeout: float = 30,
    ) -> Prometheus:
        """Scrape `{job: [host:port, ...]}` every `interval`, evaluate `rule_files`, alert to every Alertmanager."""
        config: dict[str, Any] = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval, "scrape_timeout": interval},
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": targets}]} for job, targets in scrape_targets.items()
            ],
            "rule_files": [str(p) for p in rule_files],
        }
        if alertmanager_urls:
            hosts = [urllib.parse.urlparse(url).netloc for url in alertmanager_urls]
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": hosts}]}]}
        config_path = self.dir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=True))
        self._start(
            [
                find_binary("prometheus"),
                f"--config.file={config_path}",
                f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
            ],
            "/-/ready",
            timeout,
        )
        return self

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>; the `data` of a successful answer, else RuntimeError with Prometheus' message."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:
            body = json.load(error)
        if body.get("status") != "success":
            raise RuntimeError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return self.api("query", query=expr)["result"]

    def query_range(self, expr: str, start: float, end: float, step: str) -> list[dict[str, Any]]:
        """What a dashboard panel asks: one point per `step` from `start` to `end` (Unix seconds)."""
        return self.api("query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=step)["result"]


class Alertmanager(Service):
    def __init__(self, workdir: Path | None = None, name: str = "alertmanager") -> None:
        super().__init__(name, workdir)
        #: The gossip port, for a cluster of Alertmanagers (`start(..., peers=...)`).
        self.cluster_port = free_port()

    def start(self, config: dict[str, Any], *, peers: Sequence[int] = (), timeout: float = 30) -> Alertmanager:
        """Alone by default (no gossip port); with `peers` (the cluster ports of the others) as one
        member of a cluster, which shares silences and deduplicates notifications with its peers."""
        config_path = self.dir / "alertmanager.yml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=True))
        cluster = (
            [
                f"--cluster.listen-address=127.0.0.1:{self.cluster_port}",
                f"--cluster.advertise-address=127.0.0.1:{self.cluster_port}",
                *(f"--cluster.peer=127.0.0.1:{p}" for p in peers),
            ]
            if peers
            else ["--cluster.listen-address="]
        )
        self._start(
            [
                find_binary("alertmanager"),
                f"--config.file={config_path}",
                f"--storage.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                *cluster,
            ],
            "/-/ready",
            timeout,
        )
        return self


class Receiver(Service):
    """`otel-ai-incident serve` in a child process (the same command users run)."""

    def __init__(self, workdir: Path | None = None, name: str = "receiver") -> None:
        super().__init__(name, workdir)

    def start(self, *options: str, timeout: float = 30) -> Receiver:
        self._start(
            [
                sys.executable,
                "-m",
                "otel_ai_incident.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                *options,
            ],
            "/healthz",
            timeout,
        )
        return self
