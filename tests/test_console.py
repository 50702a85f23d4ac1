"""The incident console's rules over HTTP (no browser): who may log in, sessions, CSRF, roles, escaping, audit.

The receiver app is driven in-process with its real stores (SQLite files in a temp dir) and its worker running,
so a notification posted here opens an incident and a pending action exactly as in production.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from otel_ai_incident.containment.state import SqliteContainmentState
from otel_ai_incident.containment.targets import PromptLogTargetFinder
from otel_ai_incident.containment.tokens import Role
from otel_ai_incident.incidents.model import EventKind, IncidentStatus
from otel_ai_incident.incidents.sql_store import open_incident_store
from otel_ai_incident.incidents.store import IncidentStore
from otel_ai_incident.promptlog.entry import PromptLogEntry
from otel_ai_incident.promptlog.evidence import SignalEvidence
from otel_ai_incident.promptlog.sqlite import SqliteStore
from otel_ai_incident.server.app import create_app
from otel_ai_incident.server.auth import Credentials, RoleCredentials
from otel_ai_incident.server.console import ConsoleSettings
from otel_ai_incident.server.console.session import SESSION_COOKIE, SESSION_TTL_S, Sessions
from otel_ai_incident.server.inbox.sql_store import open_inbox
from otel_ai_incident.signals.load import load_signals
from test_server import notification

ALERTS, READER = "alerts-token-0123456789", "reader-token-0123456789"
OPERATOR, VIEWER = "operator-token-0123456789", "viewer-token-0123456789"
ROLES = RoleCredentials(
    alerts=Credentials(ALERTS), reader=Credentials(READER), operator=Credentials(OPERATOR), viewer=Credentials(VIEWER)
)
SECRET_TEXT = "my card is 4111 1111 1111 1111 and I live at 1 Secret Lane"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Receiver:
    client: TestClient
    state: SqliteContainmentState
    incidents: IncidentStore
    log: SqliteStore

    def alert(self, payload: dict) -> str:
        """Post a notification as Alertmanager does; the id of the incident it opened, once processed."""
        auth = {"Authorization": f"Bearer {ALERTS}"}
        assert self.client.post("/alertmanager", json=payload, headers=auth).status_code == 200
        deadline = time.monotonic() + 10
        while True:
            found = [i for i in self.incidents.list(limit=1000) if i.group_key == payload["groupKey"]]
            if found and self.client.get("/healthz").json()["pending_notifications"] == 0:
                return found[0].id
            assert time.monotonic() < deadline, "the notification was not processed"
            time.sleep(0.02)


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    state = SqliteContainmentState(tmp_path / "containment.db")
    incidents = open_incident_store(f"sqlite:///{tmp_path / 'incidents.db'}")
    log = SqliteStore(str(tmp_path / "log.db"))
    app = create_app(
        state=state,
        incidents=incidents,
        inbox=open_inbox(f"sqlite:///{tmp_path / 'incidents.db'}"),
        credentials=ROLES,
        finder=PromptLogTargetFinder(log, SignalEvidence(load_signals(None))),
    )
    with TestClient(app) as client:
        yield Receiver(client, state, incidents, log)
    log.close()


def login(client: TestClient, token: str, name: str = "Ann On-call") -> str:
    """Log in through the form; the CSRF token of the session's pages ('' when the login failed)."""
    page = client.get("/ui/login")
    response = client.post(
        "/ui/login", data={"csrf": _CSRF.search(page.text)[1], "name": name, "token": token}, follow_redirects=False
    )
    if response.status_code != 303:
        return ""
    return _CSRF.search(client.get("/ui/incidents").text)[1]


def pending_incident(receiver: Receiver, **annotations: str) -> str:
    """A p2 data leak: its playbook waits for approval, so a kill switch is pending for it."""
    payload = notification("data_leakage", "p2")
    payload["commonAnnotations"].update(annotations)
    incident_id = receiver.alert(payload)
    assert [p.incident_id for p in receiver.state.pending()] == [incident_id]
    return incident_id


@pytest.mark.parametrize("path", ["/ui", "/ui/incidents", "/ui/incidents/INC-x", "/ui/incidents/INC-x/postmortem.md"])
def test_pages_without_a_session_redirect_to_the_login(receiver: Receiver, path: str) -> None:
    response = receiver.client.get(path, follow_redirects=False)
    assert response.status_code in (303, 307)
    location = response.headers["location"]
    if location.endswith("/ui/incidents"):  # /ui forwards to the list first, which then wants a login
        location = receiver.client.get(location, follow_redirects=False).headers["location"]
    assert location.endswith("/ui/login")


def test_only_operator_and_viewer_tokens_log_in(receiver: Receiver) -> None:
    for token in (ALERTS, READER, "not-a-token-0123456789", ""):
        assert login(receiver.client, token) == ""
        assert receiver.client.get("/ui/incidents", follow_redirects=False).status_code == 303
    assert login(receiver.client, VIEWER)
    assert receiver.client.get("/ui/incidents").status_code == 200


def test_the_session_cookie_is_http_only_strict_and_scoped(receiver: Receiver) -> None:
    page = receiver.client.get("/ui/login")
    form = {"csrf": _CSRF.search(page.text)[1], "name": "Ann", "token": OPERATOR}
    cookie = receiver.client.post("/ui/login", data=form, follow_redirects=False).headers["set-cookie"]
    assert SESSION_COOKIE in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert "Secure" not in cookie  # plain HTTP: the browser would never send a Secure cookie back


def test_cookies_are_secure_over_https_and_when_configured(tmp_path: Path) -> None:
    stores = {
        "state": SqliteContainmentState(tmp_path / "c.db"),
        "incidents": open_incident_store(f"sqlite:///{tmp_path / 'i.db'}"),
        "inbox": open_inbox(f"sqlite:///{tmp_path / 'i.db'}"),
    }
    for base_url, settings in (
        ("https://console.example", ConsoleSettings()),
        ("http://console.example", ConsoleSettings(secure_cookies=True)),
    ):
        app = create_app(**stores, credentials=ROLES, console=settings)
        with TestClient(app, base_url=base_url) as client:
            page = client.get("/ui/login")
            assert "Secure" in page.headers["set-cookie"]
            form = {"csrf": _CSRF.search(page.text)[1], "name": "Ann", "token": OPERATOR}
            # Sent by hand: a client keeps a Secure cookie from plain HTTP (the proxy speaks TLS to the browser).
            nonce = page.headers["set-cookie"].partition(";")[0]
            response = client.post("/ui/login", data=form, headers={"cookie": nonce}, follow_redirects=False)
            assert response.status_code == 303 and "Secure" in response.headers["set-cookie"]


def test_a_login_form_without_its_token_is_refused(receiver: Receiver) -> None:
    receiver.client.get("/ui/login")
    response = receiver.client.post("/ui/login", data={"name": "Mallory", "token": OPERATOR})
    assert response.status_code == 403
    assert receiver.client.get("/ui/incidents", follow_redirects=False).status_code == 303


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing(receiver: Receiver) -> None:
    incident_id = pending_incident(receiver)
    csrf = login(receiver.client, OPERATOR)
    [pending] = receiver.state.pending()
    for forged in ({}, {"csrf": "wrong"}, {"csrf": csrf[:-1]}):
        for path, form in (
            ("approve", {"pending_id": str(pending.id)}),
            ("rca", {"category": "model_failure", "description": "forged"}),
            ("status", {"to": "resolved"}),
        ):
            response = receiver.client.post(f"/ui/incidents/{incident_id}/{path}", data={**form, **forged})
            assert response.status_code == 403, path
    assert receiver.state.pending() == [pending]
    assert receiver.state.read().entries == ()
    incident = receiver.incidents.get(incident_id)
    assert incident.rca is None and incident.status is IncidentStatus.OPEN
    # The same forms with the session's token do act.
    approved = receiver.client.post(
        f"/ui/incidents/{incident_id}/approve",
        data={"csrf": csrf, "pending_id": str(pending.id)},
        follow_redirects=False,
    )
    assert approved.status_code == 303
    assert [e.action.value for e in receiver.state.read().entries] == ["kill_switch"]


def test_the_csrf_token_of_one_session_does_not_work_in_another(receiver: Receiver) -> None:
    incident_id = pending_incident(receiver)
    stolen = login(receiver.client, OPERATOR, "Ann")
    receiver.client.cookies.clear()
    assert login(receiver.client, OPERATOR, "Bob") != stolen
    response = receiver.client.post(f"/ui/incidents/{incident_id}/status", data={"csrf": stolen, "to": "resolved"})
    assert response.status_code == 403


def test_a_viewer_sees_no_action_buttons_and_cannot_post(receiver: Receiver) -> None:
    incident_id = pending_incident(receiver)
    csrf = login(receiver.client, VIEWER)
    page = receiver.client.get(f"/ui/incidents/{incident_id}")
    assert page.status_code == 200 and "kill_switch" in page.text
    forms = re.findall(r'<form method="post" action="([^"]+)"', page.text)
    assert forms == ["/ui/logout"]
    [pending] = receiver.state.pending()
    response = receiver.client.post(
        f"/ui/incidents/{incident_id}/approve", data={"csrf": csrf, "pending_id": str(pending.id)}
    )
    assert response.status_code == 403
    assert receiver.state.pending() == [pending]


def test_logout_ends_the_session_even_for_a_copied_cookie(receiver: Receiver) -> None:
    csrf = login(receiver.client, OPERATOR)
    copied = receiver.client.cookies[SESSION_COOKIE]
    assert receiver.client.post("/ui/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    receiver.client.cookies.clear()
    receiver.client.cookies.set(SESSION_COOKIE, copied)
    assert receiver.client.get("/ui/incidents", follow_redirects=False).status_code == 303


def test_a_viewer_cookie_edited_into_an_operator_one_is_no_session(receiver: Receiver) -> None:
    login(receiver.client, VIEWER)
    body, _, mac = receiver.client.cookies[SESSION_COOKIE].partition(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    edited = base64.urlsafe_b64encode(json.dumps({**payload, "r": "operator"}).encode()).decode().rstrip("=")
    receiver.client.cookies.clear()
    receiver.client.cookies.set(SESSION_COOKIE, f"{edited}.{mac}")
    assert receiver.client.get("/ui/incidents", follow_redirects=False).status_code == 303
    receiver.client.cookies.clear()
    receiver.client.cookies.set(SESSION_COOKIE, f"{body}.{mac}")  # the genuine one still works
    assert receiver.client.get("/ui/incidents", follow_redirects=False).status_code == 200


def test_recorded_text_is_escaped_everywhere(receiver: Receiver) -> None:
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    incident_id = pending_incident(receiver, summary=attack)
    csrf = login(receiver.client, OPERATOR, name="<b>Eve</b>")
    rca = {"csrf": csrf, "category": "prompt_failure", "description": attack, "factors": attack}
    assert receiver.client.post(f"/ui/incidents/{incident_id}/rca", data=rca, follow_redirects=False).status_code == 303
    for path in ("/ui/incidents", f"/ui/incidents/{incident_id}"):
        html = receiver.client.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html and "<b>Eve" not in html
        assert "&lt;script&gt;" in html
    page = receiver.client.get(f"/ui/incidents/{incident_id}")
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_close_needs_a_root_cause_then_closes(receiver: Receiver) -> None:
    incident_id = pending_incident(receiver)
    csrf = login(receiver.client, OPERATOR)
    refused = receiver.client.post(f"/ui/incidents/{incident_id}/status", data={"csrf": csrf, "to": "closed"})
    assert refused.status_code == 409 and "no root cause" in refused.text
    rca = {"csrf": csrf, "category": "data_failure", "description": "a tool returned a customer record"}
    receiver.client.post(f"/ui/incidents/{incident_id}/rca", data=rca)
    closed = receiver.client.post(f"/ui/incidents/{incident_id}/status", data={"csrf": csrf, "to": "closed"})
    assert closed.status_code == 200 and "Closed." in closed.text
    assert receiver.incidents.get(incident_id).status is IncidentStatus.CLOSED


def test_turn_text_shows_only_when_an_operator_opens_it_and_that_is_audited(receiver: Receiver) -> None:
    incident_id = pending_incident(receiver)
    entry = PromptLogEntry(
        log_id="turn-1",
        timestamp=time.time(),
        user_pseudonym="u_3f9a",
        pseudonym_key_id="k1",
        session_id="s-1",
        model="gpt-test",
        system_prompt_hash=None,
        user_message=SECRET_TEXT,
        assistant_response="I cannot help with that.",
    )
    receiver.log.write([entry])
    receiver.log.flag_incident(incident_id, log_ids=["turn-1"])
    csrf = login(receiver.client, VIEWER)
    page = receiver.client.get(f"/ui/incidents/{incident_id}").text
    assert "turn-1" in page and "u_3f9a" in page and SECRET_TEXT not in page
    assert receiver.client.post(f"/ui/incidents/{incident_id}/turns/turn-1", data={"csrf": csrf}).status_code == 403
    receiver.client.cookies.clear()
    csrf = login(receiver.client, OPERATOR, name="Ann")
    assert SECRET_TEXT not in receiver.client.get(f"/ui/incidents/{incident_id}").text
    assert receiver.client.post(f"/ui/incidents/{incident_id}/turns/other", data={"csrf": csrf}).status_code == 404
    opened = receiver.client.post(f"/ui/incidents/{incident_id}/turns/turn-1", data={"csrf": csrf})
    assert opened.status_code == 200 and SECRET_TEXT in opened.text
    audit = [e.detail for e in receiver.incidents.get(incident_id).timeline if e.kind is EventKind.TURN_OPENED]
    assert audit == [{"log_id": "turn-1", "by": "Ann"}]


def test_the_postmortem_downloads_as_markdown(receiver: Receiver) -> None:
    incident_id = pending_incident(receiver)
    login(receiver.client, VIEWER)
    response = receiver.client.get(f"/ui/incidents/{incident_id}/postmortem.md")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/markdown")
    assert "attachment" in response.headers["content-disposition"]
    assert response.text.startswith("# Post-mortem: PII in output")
    assert "## Timeline" in response.text
    assert "<h2>Timeline</h2>" in receiver.client.get(f"/ui/incidents/{incident_id}").text  # rendered on the page


def test_lifting_needs_a_reason_and_is_on_the_timeline(receiver: Receiver) -> None:
    incident_id = pending_incident(receiver)
    csrf = login(receiver.client, OPERATOR, name="Ann")
    [pending] = receiver.state.pending()
    receiver.client.post(f"/ui/incidents/{incident_id}/approve", data={"csrf": csrf, "pending_id": str(pending.id)})
    lift = {"csrf": csrf, "action": "kill_switch", "target": ""}
    assert receiver.client.post(f"/ui/incidents/{incident_id}/lift", data=lift).status_code == 422
    assert [e.action.value for e in receiver.state.read().entries] == ["kill_switch"]
    lifted = receiver.client.post(f"/ui/incidents/{incident_id}/lift", data={**lift, "reason": "tool disabled"})
    assert lifted.status_code == 200 and "Lifted" in lifted.text
    assert receiver.state.read().entries == ()
    [event] = [e for e in receiver.incidents.get(incident_id).timeline if e.kind is EventKind.CONTAINMENT_LIFTED]
    assert event.detail == {"action": "kill_switch", "target": None, "by": "Ann (console)", "reason": "tool disabled"}
    [audit] = [a for a in receiver.state.audit() if a.change.value == "lifted"]
    assert audit.actor == "Ann (console)"


def test_a_session_ends_with_its_expiry_or_when_the_role_secret_changes() -> None:
    sessions = Sessions(b"s" * 32)
    cookie, issued = sessions.issue(Role.OPERATOR, "Ann", OPERATOR, now=1000.0)
    assert sessions.read(cookie, {Role.OPERATOR: OPERATOR}, now=1001.0) == issued
    assert sessions.read(cookie, {Role.OPERATOR: "rotated-token-0123456789"}, now=1001.0) is None
    assert sessions.read(cookie, {Role.OPERATOR: OPERATOR}, now=1000.0 + SESSION_TTL_S) is None
    assert Sessions(b"t" * 32).read(cookie, {Role.OPERATOR: OPERATOR}, now=1001.0) is None  # another secret


def test_without_auth_the_console_still_needs_a_session_and_csrf(tmp_path: Path) -> None:
    """`serve --insecure-no-auth` (loopback only): anyone may log in, as operator, but forms keep their CSRF check."""
    app = create_app(
        state=SqliteContainmentState(tmp_path / "c.db"),
        incidents=open_incident_store(f"sqlite:///{tmp_path / 'i.db'}"),
        inbox=open_inbox(f"sqlite:///{tmp_path / 'i.db'}"),
        credentials=None,
    )
    with TestClient(app) as client:
        assert client.get("/ui/incidents", follow_redirects=False).status_code == 303
        csrf = login(client, "anything")
        assert csrf and "operator" in client.get("/ui/incidents").text
        assert client.post("/ui/logout", data={"csrf": "wrong"}).status_code == 403
        assert client.post("/ui/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
