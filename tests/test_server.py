"""The webhook receiver over real HTTP: acting once, refusing bad input without side effects, the API."""

from __future__ import annotations

import base64
import copy
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import free_port
from otel_ai_incident.containment.gate import ContainmentGate
from otel_ai_incident.containment.registry import Registry
from otel_ai_incident.containment.remote import HttpStateReader
from otel_ai_incident.containment.state import Change, SqliteContainmentState
from otel_ai_incident.incidents.model import EventKind, IncidentStatus
from otel_ai_incident.incidents.sql_store import open_incident_store
from otel_ai_incident.incidents.store import IncidentStore
from otel_ai_incident.server.app import MAX_BODY_BYTES, create_app
from otel_ai_incident.server.auth import Credentials
from otel_ai_incident.server.inbox.sql_store import open_inbox
from otel_ai_incident.server.inbox.store import InboxStore

TOKEN = "s3cret-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Receiver:
    url: str
    state: SqliteContainmentState
    incidents: IncidentStore
    inbox: InboxStore

    def post(self, payload: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.post(self.url + "/alertmanager", json=payload, headers=AUTH if headers is None else headers)

    def settled(self) -> None:
        """Wait until the worker processed everything stored."""
        wait_for(lambda: self.inbox.count(pending=True) == 0)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    root: Path = tmp_path_factory.mktemp("receiver")
    state = SqliteContainmentState(root / "containment.db")
    incidents = open_incident_store(f"sqlite:///{root / 'incidents.db'}")
    inbox = open_inbox(f"sqlite:///{root / 'incidents.db'}")
    app = create_app(state=state, incidents=incidents, inbox=inbox, credentials=Credentials(TOKEN))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started)
    yield Receiver(f"http://127.0.0.1:{port}", state, incidents, inbox)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def lift_all(receiver: Receiver) -> Iterator[None]:
    yield
    for entry in receiver.state.read().entries:
        receiver.state.lift(entry.action, entry.target, actor="test", reason="cleanup")


_counter = iter(range(10**9))


def notification(
    incident_type: str = "data_leakage", severity: str = "p1", status: str = "firing", **labels: str
) -> dict[str, Any]:
    """A payload as Alertmanager 0.25 sends it, with a fingerprint and groupKey unique to the call."""
    n = next(_counter)
    alert_labels = {
        "alertname": "PiiDetectionInOutput",
        "signal": "pii_detection_in_output",
        "severity": severity,
        "incident_type": incident_type,
        **labels,
    }
    return {
        "receiver": "otel-ai-incident",
        "status": status,
        "version": "4",
        "groupKey": f'{{}}:{{n="{n}"}}',
        "truncatedAlerts": 0,
        "groupLabels": {"alertname": "PiiDetectionInOutput"},
        "commonLabels": alert_labels,
        "commonAnnotations": {"summary": "PII in output"},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": status,
                "labels": alert_labels,
                "annotations": {"summary": "PII in output"},
                "startsAt": "2025-01-01T10:00:00Z",
                "endsAt": "2025-01-01T10:05:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": f"fp{n:012x}",
            }
        ],
    }


def _incident_for(receiver: Receiver, payload: dict[str, Any]):
    [incident] = [i for i in receiver.incidents.list(limit=1000) if i.group_key == payload["groupKey"]]
    return receiver.incidents.get(incident.id)


def test_p1_notification_is_acknowledged_then_contained(receiver: Receiver, lift_all: None) -> None:
    payload = notification()
    response = receiver.post(payload)
    assert response.status_code == 200 and response.json()["status"] == "accepted"
    receiver.settled()
    [entry] = receiver.state.read().entries
    assert entry.action.value == "kill_switch"
    assert entry.applied_by == "alert:" + payload["alerts"][0]["fingerprint"]
    incident = _incident_for(receiver, payload)
    assert entry.incident_id == incident.id
    assert incident.status is IncidentStatus.CONTAINED
    assert (incident.incident_type, incident.severity, incident.signals) == (
        "data_leakage",
        "p1",
        ("pii_detection_in_output",),
    )
    kinds = [e.kind for e in incident.timeline]
    assert kinds[0] is EventKind.MONITORING_FIRED  # at startsAt, before it was notified
    assert {EventKind.NOTIFIED, EventKind.CONTAINMENT_APPLIED, EventKind.CONTAINMENT_NO_TARGET} <= set(kinds)


def test_same_notification_ten_times_concurrently_acts_once(receiver: Receiver, lift_all: None) -> None:
    payload = notification()
    audit_before = len(receiver.state.audit(limit=10_000))
    with ThreadPoolExecutor(10) as pool:
        codes = list(pool.map(lambda _: receiver.post(payload).status_code, range(10)))
    assert codes == [200] * 10
    receiver.settled()
    new_records = receiver.state.audit(limit=10_000)[: len(receiver.state.audit(limit=10_000)) - audit_before]
    assert sorted(r.change.value for r in new_records) == ["applied", "no_target"]
    kinds = [e.kind for e in _incident_for(receiver, payload).timeline]
    assert kinds.count(EventKind.MONITORING_FIRED) == 1 and kinds.count(EventKind.CONTAINMENT_APPLIED) == 1


def test_resolved_is_recorded_but_lifts_no_kill_switch(receiver: Receiver, lift_all: None) -> None:
    firing = notification()
    receiver.post(firing)
    resolved = copy.deepcopy(firing)
    resolved["status"] = resolved["alerts"][0]["status"] = "resolved"
    resolved["alerts"][0]["endsAt"] = "2025-01-01T10:05:00Z"
    assert receiver.post(resolved).status_code == 200
    receiver.settled()
    assert [e.action.value for e in receiver.state.read().entries] == ["kill_switch"]
    incident = _incident_for(receiver, firing)
    assert incident.status is IncidentStatus.RESOLVED
    assert EventKind.RESOLVED in [e.kind for e in incident.timeline]


def test_p2_waits_for_approval_and_unknown_types_only_open_an_incident(receiver: Receiver) -> None:
    p2 = notification("agentic_harm", "p2", gen_ai_tool_name="delete_record")
    unknown = notification("alien_invasion")
    revision = receiver.state.revision()
    receiver.post(p2)
    receiver.post(unknown)
    receiver.settled()
    pending = [p for p in receiver.state.pending() if p.incident_id == _incident_for(receiver, p2).id]
    assert [(p.planned.action.value, p.planned.target) for p in pending] == [
        ("restrict_to_read_only", None),
        ("disable_tool", "delete_record"),
    ]
    assert receiver.state.read().entries == ()
    incident = _incident_for(receiver, unknown)
    assert incident.status is IncidentStatus.OPEN
    assert EventKind.NO_PLAYBOOK in [e.kind for e in incident.timeline]
    assert receiver.state.revision() == revision + 2  # the two pending records only
    metrics = httpx.get(receiver.url + "/metrics").text
    assert "aii_alerts_without_playbook_total 1.0" in metrics


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_basic_auth_carries_the_same_secret(receiver: Receiver, lift_all: None) -> None:
    assert receiver.post(notification("alien"), _basic("alertmanager", TOKEN)).status_code == 200


_VALID = notification()


def _without(field: str) -> dict[str, Any]:
    payload = copy.deepcopy(_VALID)
    del payload[field]
    return payload


def _alert_without(field: str) -> dict[str, Any]:
    payload = copy.deepcopy(_VALID)
    del payload["alerts"][0][field]
    return payload


BAD_INPUTS = {
    "no credentials": (401, {}, _VALID),
    "wrong token": (401, {"Authorization": "Bearer nope"}, _VALID),
    "wrong basic password": (401, _basic("alertmanager", "nope"), _VALID),
    "unknown scheme": (401, {"Authorization": f"Token {TOKEN}"}, _VALID),
    "malformed json": (400, AUTH, b"{not json"),
    "not utf-8": (400, AUTH, b"\xff\xfe"),
    "wrong version": (422, AUTH, {**_VALID, "version": "3"}),
    "missing groupKey": (422, AUTH, _without("groupKey")),
    "missing truncatedAlerts": (422, AUTH, _without("truncatedAlerts")),
    "missing alert fingerprint": (422, AUTH, _alert_without("fingerprint")),
    "missing alert startsAt": (422, AUTH, _alert_without("startsAt")),
    "bad status": (422, AUTH, {**_VALID, "status": "burning"}),
    "no alerts": (422, AUTH, {**_VALID, "alerts": []}),
    "a list": (422, AUTH, [1, 2]),
    "over 1 MiB": (413, AUTH, {**_VALID, "commonAnnotations": {"x": "a" * MAX_BODY_BYTES}}),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_without_a_state_change(receiver: Receiver, case: str) -> None:
    status, headers, body = BAD_INPUTS[case]
    receiver.settled()
    before = (receiver.state.revision(), receiver.inbox.count(pending=False), len(receiver.incidents.list()))
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = httpx.post(
        receiver.url + "/alertmanager", content=content, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == status
    assert response.json()["detail"]
    receiver.settled()
    assert before == (receiver.state.revision(), receiver.inbox.count(pending=False), len(receiver.incidents.list()))


def test_unknown_fields_are_tolerated(receiver: Receiver) -> None:
    payload = notification("alien")
    payload["notification_reason"] = "new_alerts"
    payload["alerts"][0]["silencedBy"] = []
    assert receiver.post(payload).status_code == 200


def test_containment_endpoint_uses_the_store_and_revision_as_etag(receiver: Receiver, lift_all: None) -> None:
    receiver.post(notification())
    receiver.settled()
    first = httpx.get(receiver.url + "/v1/containment", headers=AUTH)
    assert first.status_code == 200
    assert first.headers["ETag"] == f'"{receiver.state.identity()}-{first.json()["revision"]}"'
    assert [e["action"] for e in first.json()["entries"]] == ["kill_switch"]
    again = httpx.get(receiver.url + "/v1/containment", headers={**AUTH, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert httpx.get(receiver.url + "/v1/containment").status_code == 401


def test_a_remote_gate_enforces_what_the_receiver_applied(receiver: Receiver, lift_all: None) -> None:
    gate = ContainmentGate(HttpStateReader(receiver.url, TOKEN), refresh_interval_s=0.1, registry=Registry())
    try:
        wait_for(lambda: gate.snapshot.revision == receiver.state.revision())
        assert gate.turn_blocked(None) is None
        receiver.post(notification())
        wait_for(lambda: gate.turn_blocked(None) == ("kill_switch", None))
    finally:
        gate.close()


def test_lift_over_http_is_audited(receiver: Receiver) -> None:
    receiver.post(notification())
    receiver.settled()
    body = {"action": "kill_switch", "reason": "root cause fixed", "by": "alice"}
    assert httpx.post(receiver.url + "/v1/containment/lift", json=body).status_code == 401
    response = httpx.post(receiver.url + "/v1/containment/lift", json=body, headers=AUTH)
    assert response.status_code == 200 and response.json()["lifted"]
    latest = receiver.state.audit(limit=1)[0]
    assert (latest.change, latest.actor, latest.detail) == (Change.LIFTED, "alice", {"reason": "root cause fixed"})
    assert httpx.post(receiver.url + "/v1/containment/lift", json=body, headers=AUTH).status_code == 404
    bad = httpx.post(receiver.url + "/v1/containment/lift", json={**body, "action": "nuke"}, headers=AUTH)
    assert bad.status_code == 422


def test_incidents_api(receiver: Receiver, lift_all: None) -> None:
    payload = notification()
    receiver.post(payload)
    receiver.settled()
    listed = httpx.get(receiver.url + "/v1/incidents", headers=AUTH, params={"status": "contained"}).json()
    incident_id = next(i["id"] for i in listed["incidents"] if i["group_key"] == payload["groupKey"])
    one = httpx.get(f"{receiver.url}/v1/incidents/{incident_id}", headers=AUTH).json()
    assert one["status"] == "contained"
    assert "containment_applied" in [e["kind"] for e in one["timeline"]]
    assert httpx.get(receiver.url + "/v1/incidents/INC-nope", headers=AUTH).status_code == 404
    assert httpx.get(receiver.url + "/v1/incidents", headers=AUTH, params={"status": "x"}).status_code == 422


def test_metrics_and_health(receiver: Receiver, lift_all: None) -> None:
    receiver.post(notification())
    receiver.settled()
    metrics = httpx.get(receiver.url + "/metrics").text
    assert 'ai_containment_active{action="kill_switch"} 1.0' in metrics
    assert 'ai_containment_active{action="rate_limit_user"} 0.0' in metrics
    assert 'aii_webhook_notifications_total{status="firing"}' in metrics
    assert 'aii_containment_actions_total{action="kill_switch",outcome="applied"}' in metrics
    assert "aii_webhook_ack_seconds_bucket" in metrics
    assert httpx.get(receiver.url + "/healthz").json()["status"] == "ok"


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
_paths = st.sampled_from(
    [
        "/alertmanager",
        "/v1/containment",
        "/v1/containment/lift",
        "/v1/incidents",
        "/v1/incidents/x",
        "/healthz",
        "/nope",
    ]
)
_auth = st.sampled_from(
    [
        None,
        "Bearer",
        "Bearer wrong",
        "Basic",
        "Basic !!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Bearer \u00e9t\u00e9".encode("latin-1"),
    ]
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]), path=_paths, body=_json, auth=_auth)
def test_fuzz_without_credentials_never_500_nor_changes_state(
    receiver: Receiver, method: str, path: str, body: Any, auth: str | bytes | None
) -> None:
    before = (receiver.state.revision(), receiver.inbox.count(pending=False) + receiver.inbox.count(pending=True))
    headers = {"Authorization": auth} if auth else {}
    response = httpx.request(method, receiver.url + path, json=body, headers=headers)
    assert response.status_code < 500
    if path not in ("/healthz",):
        assert response.status_code >= 400
    after = (receiver.state.revision(), receiver.inbox.count(pending=False) + receiver.inbox.count(pending=True))
    assert before == after


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_json | st.fixed_dictionaries({k: _json for k in _VALID}))
def test_fuzz_authenticated_payloads_never_500(receiver: Receiver, body: Any) -> None:
    response = httpx.post(receiver.url + "/alertmanager", json=body, headers=AUTH)
    assert response.status_code in (200, 400, 422)


def test_current_labels_p1_critical_are_contained_at_once(receiver: Receiver, lift_all: None) -> None:
    payload = notification(severity="critical", priority="p1")
    assert receiver.post(payload).status_code == 200
    receiver.settled()
    assert [e.action.value for e in receiver.state.read().entries] == ["kill_switch"]
    assert _incident_for(receiver, payload).severity == "p1"
