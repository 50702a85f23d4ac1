"""Where `/metrics` listens: one setting (OTEL_EXPORTER_PROMETHEUS_HOST) binds it for other pods, and
`instrument()` says where it listens once, at INFO, with a hint while it is on loopback only."""

from __future__ import annotations

import socket

from processes import clean_env, run_script

_SCRIPT = """
import json, logging, urllib.request
import otel_ai_incident as aii
records = []
handler = logging.Handler()
handler.emit = records.append
logging.getLogger("otel_ai_incident").addHandler(handler)
logging.getLogger("otel_ai_incident").setLevel(logging.INFO)
first = aii.instrument(service_name="x", prometheus_port=0)
aii.instrument(service_name="x", prometheus_port=0)
port = first.prometheus_address[1]
body = urllib.request.urlopen(f"http://{REACH}:{port}/metrics", timeout=5).read().decode()
said = [(r.levelname, r.getMessage()) for r in records if "/metrics" in r.getMessage()]
print(json.dumps({"port": port, "said": said, "scraped": "target_info" in body or "# HELP" in body}))
"""


def _outside_address() -> str | None:
    """An address of this machine other than loopback, to reach a server bound to every interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: only the route is looked up
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def test_one_setting_binds_metrics_for_other_pods_and_it_is_said_once() -> None:
    reach = _outside_address() or "127.0.0.1"
    result = run_script(_SCRIPT.replace("{REACH}", reach), clean_env(OTEL_EXPORTER_PROMETHEUS_HOST="0.0.0.0"))
    assert result["scraped"]
    assert result["said"] == [
        ["INFO", f"otel-ai-incident: serving /metrics on 0.0.0.0:{result['port']} (this process)"]
    ]


def test_default_loopback_says_how_to_open_it() -> None:
    result = run_script(_SCRIPT.replace("{REACH}", "127.0.0.1"), clean_env())
    [(level, message)] = result["said"]
    assert level == "INFO" and f"localhost:{result['port']}" in message
    assert "OTEL_EXPORTER_PROMETHEUS_HOST=0.0.0.0" in message
