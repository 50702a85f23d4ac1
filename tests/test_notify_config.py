"""The notify file and the messages: validation with errors that name the file and target but never a
webhook URL, secrets from the environment or a file, and payloads that carry what the team needs and
nothing a chat channel should not hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import free_port
from otel_ai_incident import names
from otel_ai_incident.incidents.model import EventKind, Incident, IncidentStatus, TimelineEvent
from otel_ai_incident.incidents.notifications import NotificationEvent, OutboxMessage
from otel_ai_incident.server.notify import payload
from otel_ai_incident.server.notify.config import NotifyConfigError, TargetKind, load_notify_config
from processes import clean_env, scratch_dir

SECRET = "https://hooks.example.com/services/T000/B000/very-secret-part"


def _write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "notify.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_urls_come_from_the_file_the_environment_or_a_secret_file(tmp_path: Path) -> None:
    (tmp_path / "pager").write_text(SECRET + "/pager\n")
    path = _write(
        tmp_path,
        {
            "version": 1,
            "incident_url": "https://console.example/ui/incidents/{id}",
            "p1_reminder_interval_s": 900,
            "targets": [
                {"name": "chat", "kind": "slack", "url_env": "CHAT_HOOK", "events": ["incident_opened"]},
                {"name": "pager", "kind": "json", "url_file": str(tmp_path / "pager")},
                {"name": "plain", "kind": "json", "url": SECRET},
            ],
        },
    )
    config = load_notify_config(path, {"CHAT_HOOK": SECRET + "/chat"})
    chat, pager, plain = config.targets
    assert (chat.kind, chat.url.get_secret_value()) == (TargetKind.SLACK, SECRET + "/chat")
    assert pager.url.get_secret_value() == SECRET + "/pager"
    assert chat.wants(NotificationEvent.OPENED) and not chat.wants(NotificationEvent.CLOSED)
    assert plain.wants(NotificationEvent.GDPR_REMINDER)  # no filter: every event
    assert config.p1_reminder_interval_s == 900 and config.delivery.max_attempts == 30
    assert config.link("INC-1") == "https://console.example/ui/incidents/INC-1"
    assert SECRET not in repr(config) and SECRET not in str(config)


@pytest.mark.parametrize(
    ("target", "environ", "complaint"),
    [
        ({"name": "chat", "kind": "slack"}, {}, "exactly one of url_env, url_file, url"),
        ({"name": "chat", "kind": "slack", "url": SECRET, "url_env": "X"}, {"X": SECRET}, "exactly one"),
        ({"name": "chat", "kind": "teams", "url": SECRET}, {}, "targets.0.kind"),
        ({"name": "chat", "kind": "slack", "url": SECRET, "events": ["opened"]}, {}, "targets.0.events"),
        ({"name": "chat", "kind": "slack", "url": SECRET, "colour": "red"}, {}, "colour"),
        ({"name": "chat", "kind": "slack", "url_env": "UNSET_HOOK"}, {}, "UNSET_HOOK is not set"),
        ({"name": "chat", "kind": "slack", "url_file": "/nonexistent/hook"}, {}, "cannot read url_file"),
        ({"name": "chat", "kind": "slack", "url_env": "X"}, {"X": "ftp://" + SECRET[8:]}, "must start with"),
    ],
)
def test_a_bad_target_is_refused_without_showing_the_url(
    tmp_path: Path, target: dict, environ: dict, complaint: str
) -> None:
    path = _write(tmp_path, {"version": 1, "targets": [target]})
    with pytest.raises(NotifyConfigError) as refused:
        load_notify_config(path, environ)
    message = str(refused.value)
    assert str(path) in message and complaint in message
    assert "very-secret-part" not in message


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        ({"targets": []}, "version"),
        ({"version": 2}, "version"),
        ({"version": 1, "p1_reminder_interval_s": 0}, "p1_reminder_interval_s"),
        ({"version": 1, "incident_url": "https://console.example/ui/"}, "incident_url"),
        ({"version": 1, "delivery": {"timeout_s": 0}}, "delivery.timeout_s"),
        (
            {"version": 1, "targets": [{"name": "a", "kind": "json", "url": SECRET}] * 2},
            "target names must be unique",
        ),
        ("just text", "file"),
    ],
)
def test_a_bad_file_is_refused_naming_the_field(tmp_path: Path, document: object, complaint: str) -> None:
    with pytest.raises(NotifyConfigError, match=complaint):
        load_notify_config(_write(tmp_path, document), {})


def _leak() -> Incident:
    notified = TimelineEvent(EventKind.NOTIFIED, 1000.0, {})
    return Incident(
        "INC-20250101-abc", "g", "PII <@channel> & more", "data_leakage", "p1", (), IncidentStatus.CONTAINED,
        990.0, 1000.0, (notified,),
    )  # fmt: skip


def _message(event: NotificationEvent = NotificationEvent.CONTAINMENT_APPLIED, **detail: object) -> OutboxMessage:
    return OutboxMessage(7, "INC-20250101-abc", event, 1001.0, detail or {"action": "kill_switch"}, 1001.5)


def test_the_generic_payload_is_versioned_and_complete() -> None:
    body = payload.generic(_message(), _leak(), "https://console.example/ui/incidents/INC-20250101-abc", 2000.0)
    assert body == {
        "version": 1,
        "event": "containment_applied",
        "id": 7,
        "at": 1001.0,
        "incident": {
            "id": "INC-20250101-abc",
            "title": "PII <@channel> & more",
            "type": "data_leakage",
            "severity": "p1",
            "status": "contained",
            "opened_at": 990.0,
        },
        "detail": {"action": "kill_switch"},
        "links": {"incident": "https://console.example/ui/incidents/INC-20250101-abc"},
        "gdpr_deadline": 1000.0 + 72 * 3600,
    }
    assert payload.generic(_message(), _leak(), None, 2000.0)["links"] == {}


def test_the_slack_message_escapes_what_could_forge_mentions_or_links() -> None:
    body = payload.slack(_message(), _leak(), "https://console.example/ui/incidents/INC-20250101-abc", 2000.0)
    assert body["text"] == "Containment applied (kill_switch): P1 INC-20250101-abc PII &lt;@channel&gt; &amp; more"
    blocks = str(body["blocks"])
    assert "<https://console.example/ui/incidents/INC-20250101-abc|INC-20250101-abc>" in blocks
    assert "<@channel>" not in blocks and "GDPR Art. 33 deadline" in blocks
    status_change = {"from": "resolved", "to": "open"}
    reopened = payload.slack(_message(NotificationEvent.REOPENED, **status_change), _leak(), None, 2000.0)
    assert reopened["text"].startswith("Incident reopened: P1 INC-20250101-abc")
    reminder = payload.slack(_message(NotificationEvent.GDPR_REMINDER, hours=66), _leak(), None, 2000.0)
    assert reminder["text"].startswith("GDPR Art. 33 deadline approaching (66 h of 72 h passed)")


def test_serve_refuses_a_bad_notify_file_without_showing_the_url(tmp_path: Path) -> None:
    path = _write(tmp_path, {"version": 1, "targets": [{"name": "chat", "kind": "slack", "url": SECRET, "x": 1}]})
    done = subprocess.run(
        [sys.executable, "-m", "otel_ai_incident.cli", "serve", "--insecure-no-auth", "--port", str(free_port())],
        capture_output=True,
        text=True,
        env=clean_env(**{names.ENV_NOTIFY_FILE: str(path), names.ENV_INCIDENTS: f"sqlite:///{tmp_path / 'i.db'}"}),
        cwd=scratch_dir(),
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert str(path) in done.stderr and "targets.0.x" in done.stderr
    assert "very-secret-part" not in done.stderr + done.stdout
