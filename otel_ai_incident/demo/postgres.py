"""A throwaway PostgreSQL cluster on 127.0.0.1: initdb into a temp dir, pg_ctl start on a free port, removed on stop.

Used by the fleet demo and by the tests, never a system service. PostgreSQL refuses to run as root, so as
root the cluster belongs to the `postgres` OS user (Debian's package creates it) and is started through
`runuser`; as any other user it runs as that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from otel_ai_incident.demo.services import free_port

INSTALL_HINT = "apt-get update && apt-get install -y postgresql"
SUPERUSER = "postgres"


class MissingPostgres(RuntimeError):
    def __init__(self) -> None:
        super().__init__(
            f"PostgreSQL server binaries (initdb, pg_ctl) are not installed (install with: {INSTALL_HINT})"
        )


def find_bindir() -> Path:
    """The directory holding initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/<version>/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
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

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, timeout: float = 60) -> None:
        command = [str(self.bindir / argv[0]), *argv[1:]]
        if self._as_root:
            command = ["runuser", "-u", SUPERUSER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.dir)
        if result.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({result.returncode}): {result.stderr.strip() or result.stdout}")

    def start(self) -> PostgresServer:
        if self._as_root:
            user = pwd.getpwnam(SUPERUSER)
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-sync")
        self.restart_only()
        return self

    def restart_only(self) -> None:
        """Start the cluster's server (again, after `stop_server`); waits until it accepts connections."""
        options = f"-k {self.dir} -p {self.port} -c listen_addresses=127.0.0.1 -c max_connections=200"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"), "-o", options, "-w", "start")
        self._started = True

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server and keep the cluster (`mode`: smart, fast or immediate, as pg_ctl takes them)."""
        if self._started:
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
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
