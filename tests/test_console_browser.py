"""The incident console in a real browser: Debian's Chromium driven by Playwright against a real `serve`.

The flow an on-call person takes: an alert comes in, the incident appears, they open it, approve the pending
kill switch (an app's gate, reading the receiver with the reader token, then refuses turns), read one held
turn (which the timeline records), lift the kill switch, record the root cause and close. Every page is
checked with axe-core (no serious or critical violation), must fit the screen's width, and is photographed on
a laptop and a phone screen into $AII_TEST_ARTIFACTS (default test-artifacts/ in the repository). The
refusals are checked from the browser's own session: a page without a session goes to the login, a form
posted without (or with a wrong) CSRF token changes nothing, a viewer sees no action and cannot post, and the
apps' and Alertmanager's tokens do not log in.

Skipped with the reason when Chromium, Playwright or axe-core is missing; failed instead under AII_REQUIRE_E2E=1.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from conftest import missing
from npm_packages import npm_package
from otel_ai_incident import names
from otel_ai_incident.containment.gate import open_gate
from otel_ai_incident.demo.services import Receiver
from otel_ai_incident.incidents.model import EventKind
from otel_ai_incident.incidents.sql_store import open_incident_store
from otel_ai_incident.promptlog.sqlite import SqliteStore
from processes import wait_until
from test_incidents_investigation import MIX
from test_server import notification

ALERTS, READER = "alerts-token-0123456789", "reader-token-0123456789"
OPERATOR, VIEWER = "operator-token-0123456789", "viewer-token-0123456789"
REPO = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LAPTOP, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}
TIMEOUT_MS = 20_000


@dataclass
class Console:
    url: str
    root: Path
    artifacts: Path
    axe: Path

    def containment(self) -> list[dict[str, Any]]:
        """What an app's gate reads, with the app's (reader) token."""
        response = httpx.get(f"{self.url}/v1/containment", headers={"Authorization": f"Bearer {READER}"})
        response.raise_for_status()
        return response.json()["entries"]


def _chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        missing("Debian's chromium is needed for the console's browser tests (apt-get install chromium)")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Playwright for Python is needed for the console's browser tests (pip install playwright)")
        raise
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    axe = npm_package("axe-core", "the console's accessibility checks") / "axe.min.js"
    root = tmp_path_factory.mktemp("console")
    for role, token in (("alerts", ALERTS), ("reader", READER), ("operator", OPERATOR), ("viewer", VIEWER)):
        (root / role).write_text(token + "\n")
    playbooks = {"playbooks": {"data_leakage": {"primary": "kill_switch", "secondary": [], "mode": "approve"}}}
    (root / "playbooks.yml").write_text(yaml.safe_dump(playbooks))
    log = SqliteStore(str(root / "log.db"))
    log.write(MIX)  # turns that leaked PII around the alert: the blast radius and the held turns
    log.close()
    receiver = Receiver(root).start(
        *("--token-file", str(root / "alerts"), "--reader-token-file", str(root / "reader")),
        *("--operator-token-file", str(root / "operator"), "--viewer-token-file", str(root / "viewer")),
        *("--playbooks", str(root / "playbooks.yml"), "--prompt-log", f"sqlite:///{root / 'log.db'}"),
        *("--incidents", f"sqlite:///{root / 'incidents.db'}", "--containment", f"sqlite:///{root / 'c.db'}"),
    )
    artifacts = Path(os.environ.get(names.ENV_TEST_ARTIFACTS) or REPO / "test-artifacts") / "console"
    artifacts.mkdir(parents=True, exist_ok=True)
    try:
        yield Console(receiver.url, root, artifacts, axe)
    finally:
        receiver.stop()


def _page(browser: Any, viewport: dict[str, int] = LAPTOP) -> Any:
    # bypass_csp lets the test inject axe-core; the console's own policy forbids inline scripts.
    context = browser.new_context(viewport=viewport, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return page


def _check(console: Console, page: Any, name: str) -> None:
    """axe-core on the page as shown (no serious or critical violation), and a screenshot of all of it."""
    page.add_script_tag(path=str(console.axe))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    serious = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == [], f"{name}: {serious}"
    page.screenshot(path=str(console.artifacts / f"{name}.png"), full_page=True)
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    wide = page.evaluate(_WIDER_THAN_SCREEN) if overflow > 0 else []
    assert overflow <= 0, f"{name}: the page is {overflow}px wider than the screen, by {wide}"


# Elements reaching past the screen's right edge, other than inside the scrolling boxes, for the failure message.
_WIDER_THAN_SCREEN = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
  .filter(e => !e.parentElement.closest('.table-wrap, .markdown'))
  .slice(-5).map(e => e.tagName + '.' + e.className + ': ' + e.textContent.slice(0, 40))"""


def _log_in(page: Any, console: Console, token: str, name: str) -> None:
    page.goto(f"{console.url}/ui/login")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Log in").click()


def _csrf(page: Any) -> str:
    return page.locator("input[name=csrf]").first.get_attribute("value")


def test_alert_to_close_in_the_browser(browser: Any, console: Console) -> None:
    from playwright.sync_api import expect

    page = _page(browser)
    page.goto(f"{console.url}/ui/incidents")
    expect(page).to_have_url(f"{console.url}/ui/login")
    _check(console, page, "01-login")
    _log_in(page, console, OPERATOR, "Ann On-call")
    expect(page).to_have_url(f"{console.url}/ui/incidents")

    payload = notification("data_leakage", "p2")
    auth = {"Authorization": f"Bearer {ALERTS}"}
    assert httpx.post(f"{console.url}/alertmanager", json=payload, headers=auth).status_code == 200
    link = page.get_by_role("link", name="PII in output")
    for _ in range(100):  # the worker acts after the acknowledgement: reload until the incident is listed
        if link.count():
            break
        page.wait_for_timeout(200)
        page.reload()
    expect(link).to_be_visible()
    expect(page.get_by_text("1 waiting for approval")).to_be_visible()
    expect(page.locator("td[data-label='GDPR deadline'] .left")).to_contain_text("left")  # the Art. 33 clock
    _check(console, page, "02-incidents")

    link.click()
    incident_url = page.url
    incident_id = incident_url.rsplit("/", 1)[1]
    expect(page.get_by_role("heading", name="Blast radius")).to_be_visible()
    expect(page.locator(".numbers")).to_contain_text("3 users")
    expect(page.locator(".milestones li.reached")).to_have_count(3)  # first occurrence, fired, notified
    _check(console, page, "03-incident-pending")

    gate = open_gate(console.url, token=READER, load_timeout_s=5)  # as the app reads its containment
    assert gate.turn_blocked(None) is None
    page.get_by_role("button", name="Approve kill_switch").click()
    expect(page.get_by_role("status")).to_contain_text("Approved")
    assert [e["action"] for e in console.containment()] == ["kill_switch"]
    assert wait_until(lambda: gate.turn_blocked(None), timeout=10) == ("kill_switch", None)
    expect(page.locator(".milestones li.reached")).to_have_count(4)  # containment in force
    _check(console, page, "04-incident-contained")

    page.get_by_role("button", name="Open turn T01").click()
    expect(page.get_by_role("heading", name="User message")).to_be_visible()
    expect(page.locator("pre.text").first).to_have_text(MIX[1].user_message)
    _check(console, page, "05-turn")
    page.goto(incident_url)

    page.get_by_label("Reason").fill("the leaking tool is disabled")
    page.get_by_role("button", name="Lift kill_switch").click()
    expect(page.get_by_role("status")).to_contain_text("Lifted")
    assert console.containment() == []
    assert wait_until(lambda: gate.turn_blocked(None) is None, timeout=10)
    gate.close()

    page.get_by_label("Category").select_option("data_failure")
    page.get_by_label("What caused it").fill("The CRM tool returned whole customer records.")
    page.get_by_label("Contributing factors").fill("no field filter\nno output check on tool data")
    page.get_by_role("button", name="Record root cause").click()
    expect(page.get_by_role("status")).to_contain_text("Root cause recorded")
    page.get_by_role("button", name="Close incident").click()
    expect(page.get_by_role("status")).to_contain_text("Closed")
    expect(page.locator(".facts .status")).to_have_text("closed")
    expect(page.locator(".milestones li.reached")).to_have_count(5)  # closed (the alert has not resolved)
    expect(page.locator(".markdown")).to_contain_text("The CRM tool returned whole customer records.")
    _check(console, page, "06-incident-closed")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download Markdown").click()
    assert download.value.suggested_filename == f"postmortem-{incident_id}.md"
    assert Path(download.value.path()).read_text().startswith("# Post-mortem: PII in output")

    phone = _page(browser, PHONE)
    _log_in(phone, console, OPERATOR, "Ann On-call")
    _check(console, phone, "07-phone-incidents")
    phone.goto(incident_url)
    _check(console, phone, "08-phone-incident")

    incidents = open_incident_store(f"sqlite:///{console.root / 'incidents.db'}")
    timeline = incidents.get(incident_id).timeline
    incidents.close()
    assert [e.detail for e in timeline if e.kind is EventKind.TURN_OPENED] == [{"log_id": "T01", "by": "Ann On-call"}]
    assert [e.detail["approved_by"] for e in timeline if e.kind is EventKind.CONTAINMENT_APPLIED] == [
        "Ann On-call (console)"
    ]


def test_forged_forms_change_nothing(browser: Any, console: Console) -> None:
    payload = notification("data_leakage", "p2")
    page = _page(browser)
    _log_in(page, console, OPERATOR, "Ann On-call")
    assert httpx.post(
        f"{console.url}/alertmanager", json=payload, headers={"Authorization": f"Bearer {ALERTS}"}
    ).is_success
    for _ in range(100):
        if page.locator("text=1 waiting for approval").count():
            break
        page.wait_for_timeout(200)
        page.reload()
    page.locator("tr", has_text="waiting for approval").get_by_role("link").click()
    incident_url = page.url
    pending_id = page.locator("input[name=pending_id]").get_attribute("value")
    request = page.context.request  # the browser's own cookies: only the CSRF token is missing or wrong
    for forged in ({}, {"csrf": "not-the-token"}):
        refused = request.post(f"{incident_url}/approve", form={"pending_id": pending_id, **forged})
        assert refused.status == 403
    assert console.containment() == []
    page.reload()
    assert page.get_by_role("button", name="Approve kill_switch").count() == 1  # still waiting

    viewer = _page(browser)
    _log_in(viewer, console, VIEWER, "Vic Viewer")
    viewer.goto(incident_url)
    assert viewer.get_by_role("heading", name="Containment").count() == 1
    assert viewer.locator("form[method=post]").count() == 1  # logging out is all a viewer can post
    for name in ("Approve kill_switch", "Record root cause", "Close incident", "Mark resolved"):
        assert viewer.get_by_role("button", name=name).count() == 0
    assert viewer.get_by_role("button", name="Open turn T01").count() == 0
    refused = viewer.context.request.post(
        f"{incident_url}/approve", form={"pending_id": pending_id, "csrf": _csrf(viewer)}
    )
    assert refused.status == 403
    assert console.containment() == []
    _check(console, viewer, "09-viewer-incident")

    for token in (ALERTS, READER):
        other = _page(browser)
        _log_in(other, console, token, "Mallory")
        assert other.get_by_role("alert").inner_text() == "That token does not open the console."
        other.goto(f"{console.url}/ui/incidents")
        assert other.url == f"{console.url}/ui/login"
