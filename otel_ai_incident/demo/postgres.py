"""A throwaway PostgreSQL cluster on 127.0.0.1: initdb into a temp dir, the server on a free port, removed on stop.

Used by the fleet demo and by the tests, never a system service. PostgreSQL refuses to run as root, so as
root the cluster belongs to the `postgres` OS user (Debian's package creates it); as any other user it runs
as that user. The server is a direct child (not daemonised by pg_ctl), started to die with its parent, so
even a demo or test killed with SIGKILL leaves no server behind.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from otel_ai_incident.demo.services import DIE_WITH_PARENT, free_port

INSTALL_HINT = "apt-get update && apt-get install -y postgresql"
SUPERUSER = "postgres"
_SHUTDOWN_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}


class MissingPostgres(RuntimeError):
    def __init__(self) -> None:
        super().__init__(
            f"PostgreSQL server binaries (initdb, postgres) are not installed (install with: {INSTALL_HINT})"
        )


def find_bindir() -> Path:
    """The directory holding initdb and postgres: on PATH, else Debian's /usr/lib/postgresql/<version>/bin."""
    on_path = shutil.which("initdb")
    if on_path and (Path(on_path).parent / "postgres").exists():
        return Path(on_path).parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "postgres").exists():
            return Path(candidate)
    raise MissingPostgres()


def _version(path: str) -> int:
    name = Path(path).parent.name
    return int(name) if name.isdigit() else 0


class PostgresServer:
    """A cluster of its own. `durable=False` turns fsync off (tests: faster, and a crash loses the cluster
    anyway); the benchmarks and the demo keep PostgreSQL's defaults."""

    def __init__(self, *, durable: bool = False) -> None:
        self.bindir = find_bindir()
        self.port = free_port()
        self.durable = durable
        self.dir = Path(tempfile.mkdtemp(prefix="aii-postgres-"))
        self.data = self.dir / "data"
        self._as_root = os.geteuid() == 0
        self._started = False
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    @property
    def _user(self) -> str | None:
        return SUPERUSER if self._as_root else None

    def start(self) -> PostgresServer:
        if self._as_root:
            user = pwd.getpwnam(SUPERUSER)
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        if not self.data.exists():
            initdb = [str(self.bindir / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8"]
            result = subprocess.run(
                [*initdb, "--no-sync"], capture_output=True, text=True, timeout=120, cwd=self.dir, user=self._user
            )
            if result.returncode != 0:
                raise RuntimeError(f"initdb failed ({result.returncode}): {result.stderr.strip() or result.stdout}")
        self.restart_only()
        return self

    def restart_only(self, timeout: float = 30) -> None:
        """Start the cluster's server (again, after `stop_server`); waits until it accepts connections."""
        argv = [str(self.bindir / "postgres"), "-D", str(self.data), "-k", str(self.dir), "-p", str(self.port)]
        argv += ["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"]
        if not self.durable:
            argv += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        with open(self.dir / "server.log", "ab") as log:
            self._process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                user=self._user,
                preexec_fn=DIE_WITH_PARENT,
            )
        deadline = time.monotonic() + timeout
        while not self._accepts_connections():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self._process.kill()
                raise RuntimeError(f"PostgreSQL did not start: {self.log_tail()}")
            time.sleep(0.05)
        self._started = True

    def _accepts_connections(self) -> bool:
        import psycopg

        try:
            psycopg.connect(self.admin_url, connect_timeout=2).close()
        except psycopg.OperationalError:  # still starting up
            return False
        return True

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server and keep the cluster. `mode` as pg_ctl names PostgreSQL's shutdowns: smart waits
        for clients, fast disconnects them, immediate stops without a checkpoint (a crash, as far as the
        data is concerned)."""
        if self._started and self._process is not None:
            self._process.send_signal(_SHUTDOWN_SIGNALS[mode])
            try:
                self._process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._started = False

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = name or f"aii_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]  # generated name
        return self.url(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join((self.dir / "server.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server and remove the cluster."""
        try:
            self.stop_server("immediate")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
