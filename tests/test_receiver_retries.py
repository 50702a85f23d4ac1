"""Work accepted is finished, not dropped: a notification whose playbook cannot complete (an unreadable prompt
log, here) is retried by the worker with backoff; the incident shows the failure, the actions that could run
ran at once and exactly once, and the failed one is applied when the lookup works again."""

from __future__ import annotations

import json
import time
from pathlib import Path

from otel_ai_incident.containment.actions import Executor
from otel_ai_incident.containment.playbooks import DEFAULT_PLAYBOOKS, playbooks_by_incident_type
from otel_ai_incident.containment.state import open_containment_state
from otel_ai_incident.incidents.model import EventKind
from otel_ai_incident.incidents.sql_store import open_incident_store
from otel_ai_incident.names import ContainmentActionName as Action
from otel_ai_incident.server.inbox.sql_store import open_inbox
from otel_ai_incident.server.metrics import ReceiverMetrics
from otel_ai_incident.server.processor import NotificationProcessor
from otel_ai_incident.server.worker import Worker
from test_containment_actions import BrokenFinder
from test_server import notification


def test_a_playbook_that_cannot_complete_is_retried_until_it_does(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'receiver.db'}"
    state, incidents, inbox = open_containment_state(url), open_incident_store(url), open_inbox(url)
    finder = BrokenFinder()
    metrics = ReceiverMetrics(state, inbox, incidents)
    processor = NotificationProcessor(
        executor=Executor(state, finder),
        incidents=incidents,
        inbox=inbox,
        playbooks=playbooks_by_incident_type(DEFAULT_PLAYBOOKS),
        metrics=metrics,
    )
    worker = Worker(inbox, processor, metrics)
    inbox.add([(json.dumps(notification("jailbreak_wave")), time.time())])

    assert worker.drain() == 0  # tried once, failed, given back with a delay
    assert inbox.count(pending=True) == 1 and inbox.pending_errors()[0][1] == 1
    [incident] = incidents.list()
    kinds = [e.kind for e in incidents.get(incident.id).timeline]
    assert EventKind.CONTAINMENT_FAILED in kinds and EventKind.CONTAINMENT_PENDING in kinds  # the others ran
    assert state.read().entries == ()

    finder.fixed = True
    deadline = time.monotonic() + 5  # the first retry comes 0.5 s later
    while inbox.count(pending=True) and time.monotonic() < deadline:
        worker.drain()
        time.sleep(0.1)
    assert inbox.count(pending=True) == 0
    assert [e.action for e in state.read().entries] == [Action.RATE_LIMIT_USER]
    timeline = incidents.get(incident.id).timeline
    assert [e.kind for e in timeline].count(EventKind.CONTAINMENT_PENDING) == 2  # two secondaries, once each
    assert timeline[-1].kind in (EventKind.CONTAINMENT_APPLIED, EventKind.STATUS_CHANGED)
    for store in (state, incidents, inbox):
        store.close()
