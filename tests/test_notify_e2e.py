"""Updates pushed to the team by `otel-ai-incident serve --notify` (a real receiver process) to webhook
endpoints the test runs: opened and containment messages delivered to a Slack-compatible and a JSON
webhook; an endpoint failing at first gets everything after retries, nothing twice; one that hangs is given
up on after the configured attempts, which the incident and /metrics show, and never delays the
acknowledgement of alerts; P1 reminders on a short interval; a close made with the CLI is pushed too; and
receivers sharing a store deliver each update once."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from otel_ai_incident.demo.services import Receiver
from otel_ai_incident.testing.webhook_endpoint import Endpoint
from processes import clean_env, scratch_dir, wait_until
from test_server import notification

TOKEN = "notify-e2e-token-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _alert(incident_type: str, severity: str) -> dict[str, Any]:
    payload = notification(incident_type, severity)
    payload["alerts"][0]["startsAt"] = _now_iso()
    return payload


def _receiver(tmp_path: Path, store_url: str, notify: Path, name: str = "receiver") -> Receiver:
    token = tmp_path / "token"
    token.write_text(TOKEN)
    return Receiver(tmp_path, name).start(
        "--token-file",
        str(token),
        "--incidents",
        store_url,
        "--containment",
        store_url,
        "--notify",
        str(notify),
    )


def _post(receiver: Receiver, payload: dict[str, Any]) -> float:
    """Post an alert; the seconds until it was acknowledged."""
    started = time.perf_counter()
    response = httpx.post(f"{receiver.url}/alertmanager", json=payload, headers=AUTH, timeout=30)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    return elapsed


def _incident(receiver: Receiver, incident_id: str) -> dict[str, Any]:
    return httpx.get(f"{receiver.url}/v1/incidents/{incident_id}", headers=AUTH, timeout=10).json()


def _metric(receiver: Receiver, name: str, **labels: str) -> float:
    """A sample of the receiver's /metrics; 0 when it has none with these labels."""
    text = httpx.get(f"{receiver.url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def _cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "otel_ai_incident.cli", *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=scratch_dir(),
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_updates_reach_the_team_through_failures_hangs_and_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_url = f"sqlite:///{tmp_path / 'receiver.db'}"
    with (
        Endpoint() as chat,
        Endpoint(fail_first=2) as pager,
        Endpoint(hang_s=30) as slow,
    ):
        monkeypatch.setenv("TEAM_CHAT_WEBHOOK", chat.url)
        (tmp_path / "pager-url").write_text(pager.url + "\n")
        notify = tmp_path / "notify.yaml"
        notify.write_text(
            yaml.safe_dump(
                {
                    "version": 1,
                    "incident_url": "https://console.example/ui/incidents/{id}",
                    "p1_reminder_interval_s": 2,
                    "delivery": {"timeout_s": 2, "max_attempts": 3, "max_age_s": 600},
                    "targets": [
                        {"name": "chat", "kind": "slack", "url_env": "TEAM_CHAT_WEBHOOK"},
                        {"name": "pager", "kind": "json", "url_file": str(tmp_path / "pager-url")},
                        {"name": "slow", "kind": "json", "url": slow.url, "events": ["incident_opened"]},
                    ],
                }
            )
        )
        receiver = _receiver(tmp_path, store_url, notify)
        try:
            _post(receiver, _alert("data_leakage", "p1"))  # p1: kill switch applied, rate limit for approval
            wait_until(lambda: slow.in_flight, 20)
            # While the slow endpoint holds a delivery, alerts are still acknowledged at once.
            repeated = _alert("safety_violation", "p3")  # Alertmanager repeating one group: one incident
            ack_s = [_post(receiver, repeated) for _ in range(20)]
            assert slow.in_flight, "the measurement must overlap a hanging delivery"
            assert max(ack_s) < 1.5, ack_s  # waiting on the webhook would take its 2 s timeout at least
            median_ms, max_ms = statistics.median(ack_s) * 1000, max(ack_s) * 1000
            print(f"ack under a hanging webhook: median {median_ms:.1f} ms, max {max_ms:.1f} ms")

            leak = next(
                i
                for i in httpx.get(f"{receiver.url}/v1/incidents", headers=AUTH).json()["incidents"]
                if i["incident_type"] == "data_leakage"
            )
            wanted = {"incident_opened", "containment_applied", "containment_pending"}
            wait_until(lambda: wanted <= set(chat.events()) and "p1_reminder" in chat.events(), 60)
            wait_until(lambda: wanted <= set(pager.events()), 60)
            assert pager.requests > len(pager.received) >= len(wanted)  # its first answers were errors

            leak_to_pager = [b for b in pager.received if b["incident"]["id"] == leak["id"]]
            opened = next(b for b in leak_to_pager if b["event"] == "incident_opened")
            assert opened["version"] == 1 and opened["incident"]["severity"] == "p1"
            assert opened["links"] == {"incident": f"https://console.example/ui/incidents/{leak['id']}"}
            assert opened["gdpr_deadline"] == pytest.approx(opened["at"] + 72 * 3600, abs=3600)
            applied = next(b for b in leak_to_pager if b["event"] == "containment_applied")
            assert applied["detail"] == {"action": "kill_switch"}
            slack_opened = next(b for b in chat.received if leak["id"] in b["text"] and "opened" in b["text"])
            assert slack_opened["text"].startswith("Incident opened: P1") and slack_opened["blocks"]

            # The hanging target is given up on after 3 attempts; the incident and /metrics show it.
            def failed() -> list[dict[str, Any]]:
                timeline = _incident(receiver, leak["id"])["timeline"]
                return [e for e in timeline if e["kind"] == "notification_failed"]

            [gave_up] = wait_until(failed, 60)
            assert gave_up["detail"] | {"error": None} == {
                "event": "incident_opened",
                "target": "slow",
                "attempts": 3,
                "error": None,
            }
            assert "no answer within 2s" in gave_up["detail"]["error"]
            timeline = _incident(receiver, leak["id"])["timeline"]
            delivered = {
                (e["detail"]["event"], e["detail"]["target"]) for e in timeline if e["kind"] == "notification_delivered"
            }
            assert {
                ("incident_opened", "chat"),
                ("incident_opened", "pager"),
                ("containment_applied", "pager"),
            } <= delivered
            assert ("p1_reminder", "chat") in delivered
            slow_opened = {"target": "slow", "event": "incident_opened"}  # the leak's and the p3 incident's
            wait_until(lambda: _metric(receiver, "aii_notifications_total", **slow_opened, outcome="gave_up") == 2, 60)
            assert _metric(receiver, "aii_notifications_total", **slow_opened, outcome="retrying") == 4
            assert slow.requests == 6

            # A close made with the CLI, on the store directly, reaches the team too.
            cli_store = ["--incidents", store_url]
            _cli("incidents", "rca", leak["id"], *cli_store, "--category", "prompt_failure", "--description", "x")
            _cli("incidents", "close", leak["id"], *cli_store, "--by", "alice")
            wait_until(lambda: "incident_closed" in pager.events() and "incident_closed" in chat.events(), 30)
            show = _cli("incidents", "show", leak["id"], *cli_store)
            assert "notification_delivered" in show and "notification_failed" in show

            # Nothing twice: every update reached each target once (the JSON payloads carry their id).
            ids = Counter((b["id"]) for b in pager.received)
            assert max(ids.values()) == 1, ids
            assert Counter(chat.events())["incident_opened"] == 2  # the leak and the p3 alerts' group
            wait_until(lambda: _metric(receiver, "aii_notification_outbox_pending") == 0, 30)
        finally:
            receiver.stop()


def test_receivers_sharing_a_store_deliver_each_update_once(tmp_path: Path, store_url: str) -> None:
    receivers = 2
    with Endpoint() as hook:
        notify = tmp_path / "notify.yaml"
        notify.write_text(
            yaml.safe_dump({"version": 1, "targets": [{"name": "hook", "kind": "json", "url": hook.url}]})
        )
        fleet = [_receiver(tmp_path, store_url, notify, name=f"receiver{n}") for n in range(receivers)]
        try:
            for n in range(12):
                _post(fleet[n % receivers], _alert("safety_violation", "p2"))  # approve mode: pending actions

            def opened() -> bool:  # the workers act after the acknowledgement
                return len(httpx.get(f"{fleet[0].url}/v1/incidents", headers=AUTH).json()["incidents"]) == 12

            wait_until(opened, 60)

            def settled() -> bool:
                return all(_metric(r, "aii_notification_outbox_pending") == 0 for r in fleet)

            wait_until(lambda: len(hook.received) >= 36, 60)  # per incident: opened, two actions to approve
            wait_until(settled, 60)
            time.sleep(1.5)  # a duplicate, were there one, would arrive within a poll
            ids = Counter(b["id"] for b in hook.received)
            assert max(ids.values()) == 1, ids
            opened = [b for b in hook.received if b["event"] == "incident_opened"]
            pending = [b for b in hook.received if b["event"] == "containment_pending"]
            assert len(opened) == 12 and len(pending) == 24  # two actions to approve per incident
            labels = {"target": "hook", "event": "incident_opened", "outcome": "delivered"}
            per_receiver = [_metric(r, "aii_notifications_total", **labels) for r in fleet]
            assert sum(per_receiver) == 12
        finally:
            for receiver in fleet:
                receiver.stop()
