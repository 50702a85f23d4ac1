"""Where URL and e-mail arguments point: the parts the tool-argument scorer learns, and what they catch."""

from __future__ import annotations

import json
import random

import pytest

from otel_ai_incident.guardrails.anomaly.scorer import ToolArgumentScorer
from otel_ai_incident.guardrails.anomaly.urls import host_class, mail_host, url_parts
from otel_ai_incident.testing.toolcall_heldout import generate_toolcalls, measure_toolcalls


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        ("https://api.github.com/repos?q=1#top", ("https", "github.com", "q=1")),
        ("http://169.254.169.254/latest/meta-data/", ("http", "ip:link-local", "")),
        ("http://10.0.3.7:8080/admin", ("http", "ip:private", "")),
        ("gopher://127.0.0.1:6379/_SET", ("gopher", "ip:loopback", "")),
        ("http://[::1]:80/", ("http", "ip:loopback", "")),
        ("http://metadata.google.internal/computeMetadata/v1/", ("http", "internal", "")),
        ("https://user:pw@api.github.com.evil.io:8443/a", ("https", "evil.io", "")),
        ("https://shop.example.co.uk/cart", ("https", "example.co.uk", "")),
        ("file:///etc/passwd", ("file", "", "")),
    ],
)
def test_url_parts(url: str, parts: tuple[str, str, str]) -> None:
    found = url_parts(url)
    assert found is not None and (found.scheme, found.domain, found.query) == parts


def test_non_urls_and_recipients() -> None:
    assert url_parts("see docs at the wiki") is None and url_parts("a 1://b") is None
    assert mail_host("jane@mail.example.com") == "mail.example.com"
    assert host_class("mail.example.com") == "example.com"
    assert mail_host("a@x.com,b@y.com") is None and mail_host("not an address") is None
    assert host_class("8.8.8.8") == "ip:global"


def _trained(tool: str, make: object, calls: int = 300) -> ToolArgumentScorer:
    scorer = ToolArgumentScorer(warmup=50)
    rng = random.Random(5)
    for _ in range(calls):
        scorer.observe(tool, make(rng))  # type: ignore[operator]
    return scorer


def test_a_new_destination_stands_out_and_an_ordinary_one_does_not() -> None:
    def fetch(rng: random.Random) -> dict[str, str]:
        return {"url": f"https://api.github.com/repos/acme/app/issues/{rng.randint(1, 10**6)}?page={rng.randint(1, 9)}"}

    scorer = _trained("http_fetch", fetch)
    assert scorer.score("http_fetch", {"url": "https://api.github.com/repos/acme/app/issues/77?page=3"}) < 0.3
    for url in ("http://169.254.169.254/latest/meta-data/", "https://api-github.com/repos/acme/app/issues/7?page=2"):
        assert scorer.score("http_fetch", {"url": url}) >= 0.8, url

    def mail(rng: random.Random) -> dict[str, str]:
        return {"to": f"user{rng.randint(1, 10**6)}@{rng.choice(('gmail.com', 'acme-corp.com'))}", "subject": "Hi"}

    scorer = _trained("send_email", mail)
    assert scorer.score("send_email", {"to": "user12345@gmail.com", "subject": "Hi"}) < 0.3
    assert scorer.score("send_email", {"to": "drop@mail-collector.ru", "subject": "Hi"}) >= 0.8


def test_state_holds_no_destination_text() -> None:
    scorer = _trained("http_fetch", lambda rng: {"url": f"https://api.github.com/x/{rng.randint(1, 99)}"}, 60)
    assert "github" not in json.dumps(scorer.state())


def test_heldout_stream_ssrf_and_exfiltration_rank_above_ordinary_calls() -> None:
    stream = generate_toolcalls(seed=7, calls=4000, clean_calls=1500)
    report = measure_toolcalls(ToolArgumentScorer().observe, stream, 1500)
    assert report.auc_ssrf_exfil >= 0.99
    assert report.auc >= 0.95 and report.auc_subtle >= 0.9
    assert report.drift_flagged_after_20 <= 0.01
