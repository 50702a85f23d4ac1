"""Bounded resources of the receiver as users run it: idle connections, slow clients, deep JSON."""

from __future__ import annotations

import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import free_port
from otel_ai_incident.server.inbox.sql_store import open_inbox
from test_server_crash import PAYLOAD

TOKEN = "limits-test-token-0123456789"
FILE_LIMIT = 1024  # the usual `ulimit -n`: about this many idle sockets used to lock Alertmanager out
IDLE_SOCKETS = 1100


def _limit_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FILE_LIMIT, FILE_LIMIT))


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    (tmp_path / "token").write_text(TOKEN)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "otel_ai_incident.cli",
            "serve",
            "--port",
            str(port),
            "--token-file",
            str(tmp_path / "token"),
            "--containment",
            f"sqlite:///{tmp_path / 'c.db'}",
            "--incidents",
            f"sqlite:///{tmp_path / 'i.db'}",
            "--header-timeout",
            "2",
            "--body-timeout",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "stderr").open("w"),
        preexec_fn=_limit_files,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        assert process.poll() is None, (tmp_path / "stderr").read_text()
        try:
            if httpx.get(url + "/healthz").status_code == 200:
                break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "receiver did not start"
            time.sleep(0.05)
    yield url
    process.kill()
    process.wait(timeout=10)
    assert "Too many open files" not in (tmp_path / "stderr").read_text()


def _post(url: str, body: bytes | None = None, timeout: float = 5.0) -> httpx.Response:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    if body is None:
        return httpx.post(url + "/alertmanager", json=PAYLOAD, headers=headers, timeout=timeout)
    return httpx.post(url + "/alertmanager", content=body, headers=headers, timeout=timeout)


def _idle_sockets(url: str, count: int) -> list[socket.socket]:
    port = int(url.rsplit(":", 1)[1])
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        sockets.append(sock)
    return sockets


def _closed_by_server(sock: socket.socket, timeout: float) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_idle_connections_beyond_the_file_limit_do_not_block_delivery(receiver: str, tmp_path: Path) -> None:
    sockets = _idle_sockets(receiver, IDLE_SOCKETS)
    try:
        started = time.monotonic()
        response = _post(receiver)
        took = time.monotonic() - started
        assert response.status_code == 200, response.text
        assert took < 2.0, f"delivery took {took:.2f}s behind {IDLE_SOCKETS} idle connections"
        notification_id = response.json()["id"]
    finally:
        for sock in sockets:
            sock.close()
    stored = open_inbox(f"sqlite:///{tmp_path / 'i.db'}")
    assert stored.count(pending=True) + stored.count(pending=False) >= 1
    assert notification_id


def test_a_client_that_never_finishes_its_headers_is_cut_off(receiver: str) -> None:
    (slow,) = _idle_sockets(receiver, 1)
    slow.sendall(b"POST /alertmanager HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
    started = time.monotonic()
    assert _closed_by_server(slow, timeout=10)
    assert 1.5 < time.monotonic() - started < 6
    slow.close()


def test_a_body_that_never_arrives_is_cut_off_and_stores_nothing(receiver: str, tmp_path: Path) -> None:
    (slow,) = _idle_sockets(receiver, 1)
    slow.sendall(
        f"POST /alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{".encode()
    )
    assert _closed_by_server(slow, timeout=10)
    slow.close()
    assert _post(receiver).status_code == 200  # the server is fine afterwards
    stored = open_inbox(f"sqlite:///{tmp_path / 'i.db'}")
    assert stored.count(pending=True) + stored.count(pending=False) == 1


@pytest.mark.parametrize("depth", [33, 100_000])
def test_deeply_nested_json_is_a_400(receiver: str, depth: int) -> None:
    response = _post(receiver, b"[" * depth + b"]" * depth)
    assert response.status_code == 400, response.text
    assert "nested deeper" in response.json()["detail"]
    nested_alerts = {
        **PAYLOAD,
        "commonLabels": {"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]},
    }
    assert _post(receiver, httpx.Request("POST", "/", json=nested_alerts).content).status_code == 400
    assert _post(receiver).status_code == 200
