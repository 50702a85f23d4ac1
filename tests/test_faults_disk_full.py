"""A full disk under the receiver and under the app, on real tmpfs mounts of a few MiB.

The receiver (`otel-ai-incident serve` in its own process) keeps its inbox and incident store on one small
tmpfs and its containment state on another, so each disk can be filled on its own while P1 alerts arrive:

- state disk full: notifications are acknowledged (the inbox has room) but their kill switch cannot be
  written; they stay pending and are retried with backoff, `/healthz` answers 503 and the oldest pending
  age grows; once space is freed each is acted on, once.
- inbox disk full: a notification that cannot be stored gets a 5xx and is delivered again later, as
  Alertmanager does; whatever was acknowledged is acted on once space is freed.

The test counts, per notification, acknowledged / acted on / lost / run twice from the containment audit.
On the app side, `instrument()`ed turns keep answering with the prompt log on a full disk: the entries wait
and are written once space is freed, and what is still waiting at shutdown is counted as dropped.
Mounting needs root on Linux: the tests skip otherwise, and fail instead under AII_REQUIRE_E2E=1.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import missing
from otel_ai_incident.demo.services import Receiver
from otel_ai_incident.server.worker import ACTING_FAILS
from processes import clean_env, run_script, wait_until
from promptlog_support import NEW_KEY
from test_promptlog_instrument import metric
from test_server import notification

TOKEN = "disk-full-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DISK_SIZE = "16m"


def _mount_tmpfs(where: Path) -> None:
    """Mount a tmpfs of DISK_SIZE at `where`, or skip (fail under AII_REQUIRE_E2E=1) saying why not."""
    if sys.platform != "linux" or os.geteuid() != 0:
        missing("mounting a tmpfs needs root on Linux")
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE},mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        missing(f"cannot mount a tmpfs: {done.stderr.strip()}")


@contextmanager
def _tmpfs_mounts(tmp_path: Path, *names: str) -> Iterator[list[Path]]:
    mounted: list[Path] = []
    try:
        for name in names:
            _mount_tmpfs(tmp_path / name)
            mounted.append(tmp_path / name)
        yield mounted
    finally:
        for where in reversed(mounted):
            subprocess.run(["umount", str(where)], check=True)


@pytest.fixture
def disks(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """Two small tmpfs mounts (inbox and incidents; containment state), unmounted afterwards."""
    with _tmpfs_mounts(tmp_path, "inbox-disk", "state-disk") as (inbox_disk, state_disk):
        yield inbox_disk, state_disk


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with _tmpfs_mounts(tmp_path, "disk") as (mounted,):
        yield mounted


def fill(disk: Path) -> Path:
    """Write a file until the disk refuses another byte; the file (remove it to free the space)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for chunk in (b"\0" * 65536, b"\0" * 4096, b"\0"):
            try:
                while True:
                    os.write(fd, chunk)
            except OSError as error:
                assert error.errno == errno.ENOSPC, error
    finally:
        os.close(fd)
    return filler


@contextmanager
def full(disk: Path) -> Iterator[None]:
    filler = fill(disk)
    try:
        yield
    finally:
        filler.unlink()


@dataclass
class Deliveries:
    """Posts notifications as Alertmanager does: one that got no 2xx is delivered again later."""

    url: str
    payloads: dict[str, dict[str, Any]] = field(default_factory=dict)  # by group key
    statuses: dict[str, list[int]] = field(default_factory=dict)

    def post(self, payload: dict[str, Any] | None = None) -> int:
        payload = payload or notification("data_leakage")
        key = payload["groupKey"]
        self.payloads[key] = payload
        try:
            status = httpx.post(f"{self.url}/alertmanager", json=payload, headers=AUTH, timeout=30).status_code
        except httpx.TransportError:
            status = 0
        self.statuses.setdefault(key, []).append(status)
        return status

    def acknowledged(self) -> set[str]:
        return {key for key, codes in self.statuses.items() if any(200 <= c < 300 for c in codes)}

    def redeliver(self, timeout: float = 60) -> None:
        """Post every notification that never got a 2xx again, until each has one."""
        deadline = time.monotonic() + timeout
        while waiting := set(self.payloads) - self.acknowledged():
            assert time.monotonic() < deadline, f"{len(waiting)} notifications still refused"
            for key in sorted(waiting):
                self.post(self.payloads[key])
            time.sleep(0.2)


def health(url: str) -> tuple[int, dict[str, Any]]:
    response = httpx.get(f"{url}/healthz", timeout=10)
    return response.status_code, response.json()


def settled(url: str) -> bool:
    status, body = health(url)
    return status == 200 and body["pending_notifications"] == 0


def oldest_pending_age(url: str) -> float:
    return metric(httpx.get(f"{url}/metrics", timeout=10).text, "aii_inbox_oldest_pending_age_seconds")


def kill_switches_applied(state: Path) -> Counter[str]:
    """How many times the kill switch was applied for each incident, from the containment audit."""
    with sqlite3.connect(f"{state.as_uri()}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT incident_id FROM audit WHERE action = 'kill_switch' AND change = 'applied'"
        ).fetchall()
    conn.close()
    return Counter(incident for (incident,) in rows)


@dataclass(frozen=True)
class Figures:
    acknowledged: int
    acted_on: int
    lost: int
    twice: int


def figures(url: str, state: Path, deliveries: Deliveries) -> Figures:
    """Per notification the test posted: acknowledged (a 2xx), acted on (its incident's kill switch applied
    at least once), lost (acknowledged, never acted on), twice (applied more than once)."""
    listed = httpx.get(f"{url}/v1/incidents", headers=AUTH, params={"limit": 1000}, timeout=10).json()
    incident_of = {i["group_key"]: i["id"] for i in listed["incidents"]}
    applied = kill_switches_applied(state)
    acknowledged = deliveries.acknowledged()
    runs = [applied[incident_of[key]] if key in incident_of else 0 for key in acknowledged]
    return Figures(len(acknowledged), sum(r >= 1 for r in runs), sum(r == 0 for r in runs), sum(r > 1 for r in runs))


@pytest.fixture
def receiver(disks: tuple[Path, Path], tmp_path: Path) -> Iterator[Receiver]:
    inbox_disk, state_disk = disks
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    service = Receiver(tmp_path)
    service.start(
        "--incidents",
        f"sqlite:///{inbox_disk / 'receiver.db'}",
        "--containment",
        f"sqlite:///{state_disk / 'containment.db'}",
        "--token-file",
        str(token_file),
    )
    try:
        yield service
    finally:
        service.stop()


def test_a_full_disk_refuses_what_it_cannot_store_and_acts_once_on_all_it_acknowledged(
    receiver: Receiver, disks: tuple[Path, Path]
) -> None:
    inbox_disk, state_disk = disks
    state = state_disk / "containment.db"
    url = receiver.url
    deliveries = Deliveries(url)
    for _ in range(3):
        assert deliveries.post() == 200
    wait_until(lambda: settled(url), 20)

    # The containment state's disk is full: acknowledged, not acted on, retried, reported.
    with full(state_disk):
        held = [deliveries.post() for _ in range(20)]
        assert held == [200] * 20  # the inbox has room: every one is acknowledged
        _, body = wait_until(lambda: (answer := health(url))[0] == 503 and answer, 20)
        assert ACTING_FAILS in body["problems"]
        first_age = oldest_pending_age(url)
        time.sleep(1.5)
        assert oldest_pending_age(url) >= first_age + 1.0  # the oldest pending age grows
        assert figures(url, state, deliveries).acted_on == 3  # nothing could be applied meanwhile
    freed = time.monotonic()
    wait_until(lambda: settled(url), 90)
    print(f"state disk full: 20 acknowledged, all acted on {time.monotonic() - freed:.1f}s after space was freed")
    assert figures(url, state, deliveries) == Figures(acknowledged=23, acted_on=23, lost=0, twice=0)

    # The inbox's disk is full: a notification that cannot be stored gets a 5xx and comes again. SQLite
    # reuses the log space it has, so some are still acknowledged before the first refusal.
    before = len(deliveries.payloads)
    with full(inbox_disk):
        refused = 0
        for _ in range(200):
            if deliveries.post() >= 500:
                refused += 1
                if refused == 5:
                    break
        assert refused == 5, f"no refusal in {len(deliveries.payloads) - before} posts"
        status, body = health(url)
        assert status == 503 and any("inbox" in problem for problem in body["problems"])
    deliveries.redeliver()
    wait_until(lambda: settled(url), 90)
    final = figures(url, state, deliveries)
    posted = len(deliveries.payloads)
    print(
        f"inbox disk full: {posted - before - refused} acknowledged, {refused} refused with a 5xx and "
        f"acknowledged when delivered again; overall {final}"
    )
    assert final == Figures(acknowledged=posted, acted_on=posted, lost=0, twice=0)
    assert receiver.process is not None and receiver.process.poll() is None


# -- the app: the prompt log on a full disk --------------------------------------------------------------

_APP = """
import json, logging, os, sqlite3, sys, time, urllib.request
import otel_ai_incident as aii
from test_faults_disk_full import fill

disk, free_again = sys.argv[1], sys.argv[2] == "free"
records = []
class Remember(logging.Handler):
    def emit(self, record):
        records.append([record.levelname, record.getMessage()])
logging.getLogger("otel_ai_incident").addHandler(Remember())
handle = aii.instrument(service_name="x", prometheus_host="127.0.0.1", prometheus_port=0)
log = handle.runtime.prompt_log

def turns(n, tag):
    answered = 0
    for i in range(n):
        with aii.llm_turn(model="m", user_id="alice", session_id="s", user_message=f"{tag} {i}") as turn:
            turn.complete("ok")
        answered += 1
    return answered

answered = turns(5, "before")
log.flush()
filler = fill(__import__("pathlib").Path(disk))
answered += turns(30, "while full")
time.sleep(1.0)  # the writer meets the full disk, keeps the entries and retries
if free_again:
    filler.unlink()
    answered += turns(5, "after")
log.close(10.0 if free_again else 1.0)
host, port = handle.prometheus_address
metrics = urllib.request.urlopen(f"http://{host}:{port}/metrics").read().decode()
handle.shutdown()
if not free_again:
    filler.unlink()
with sqlite3.connect(os.path.join(disk, "log.db")) as conn:
    written = conn.execute("SELECT count(*) FROM prompt_log").fetchone()[0]
print(json.dumps({"answered": answered, "written": written, "records": records, "metrics": metrics}))
"""


def _run_app(disk: Path, free_again: bool) -> dict[str, Any]:
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); sys.argv[1:] = "
    code += f"[{str(disk)!r}, {'free' if free_again else 'full'!r}]\n" + _APP
    env = clean_env(AII_PROMPT_LOG=f"sqlite:///{disk / 'log.db'}", AII_PSEUDONYM_KEY=NEW_KEY.decode())
    return run_script(code, env, timeout=120)


def _dropped(exposition: str) -> float:
    try:
        return metric(exposition, "ai_prompt_log_dropped_total", reason="store_unavailable")
    except AssertionError:  # never counted
        return 0.0


@pytest.mark.parametrize("free_again", [True, False], ids=["space-freed", "still-full"])
def test_the_prompt_log_on_a_full_disk_never_stops_a_turn_and_counts_what_it_loses(
    disk: Path, free_again: bool
) -> None:
    result = _run_app(disk, free_again)
    turns = 40 if free_again else 35
    assert result["answered"] == turns
    assert metric(result["metrics"], "ai_turns_total", outcome="ok") == turns
    assert any(level == "ERROR" and "disk is full" in message for level, message in result["records"])
    dropped = _dropped(result["metrics"])
    if free_again:  # kept while the disk was full, written once it was not
        assert (result["written"], dropped) == (40, 0)
    else:  # still queued at shutdown: counted, never raised
        assert (result["written"], dropped) == (5, 30)
