"""`instrument()` with a prompt log it cannot use, in real processes: the app and its telemetry keep working,
the failure is logged once and counted; and pseudonym keys rotated across replicas of a shared log."""

from __future__ import annotations

import json

from prometheus_client.parser import text_string_to_metric_families

from otel_ai_incident.cli import main
from otel_ai_incident.demo.services import free_port
from otel_ai_incident.promptlog.pseudonym import Pseudonymizer
from processes import clean_env, run_script
from promptlog_support import NEW_KEY, OLD_KEY

# -- instrument() in real processes ---------------------------------------------------------------------

_APP = """
import json, logging, sys, urllib.request
import otel_ai_incident as aii

records = []
class Remember(logging.Handler):
    def emit(self, record):
        records.append([record.levelname, record.getMessage()])
logging.getLogger("otel_ai_incident").addHandler(Remember())
handle = aii.instrument(service_name="x", prometheus_host="127.0.0.1", prometheus_port=0)
for i in range(5):
    with aii.llm_turn(model="m", user_id=sys.argv[1], session_id="s", user_message=f"hi {i}") as turn:
        turn.complete("ok")
log = handle.runtime.prompt_log
if log is not None:
    log.close(float(sys.argv[2]))
host, port = handle.prometheus_address
metrics = urllib.request.urlopen(f"http://{host}:{port}/metrics").read().decode()
handle.shutdown()
print(json.dumps({"records": records, "prompt_log": log is not None, "metrics": metrics}))
"""


def run_app(user: str, close_timeout: float = 10.0, **env: str) -> dict:  # type: ignore[type-arg]
    code = f"import sys; sys.argv[1:] = [{user!r}, {str(close_timeout)!r}]\n" + _APP
    return run_script(code, clean_env(**env))


def metric(exposition: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    raise AssertionError(f"{name}{labels} not in /metrics")


def test_instrument_with_a_shared_log_and_no_key_keeps_the_app_running_without_the_log(postgres_url: str) -> None:
    result = run_app("alice", AII_PROMPT_LOG=postgres_url)
    assert result["prompt_log"] is False
    errors = [message for level, message in result["records"] if level == "ERROR"]
    assert len(errors) == 1 and "AII_PSEUDONYM_KEY or AII_PSEUDONYM_KEY_FILE" in errors[0]
    assert metric(result["metrics"], "ai_instrumentation_errors_total", component="prompt_log") == 1
    assert metric(result["metrics"], "ai_turns_total", outcome="ok") == 5


def test_instrument_with_an_unreachable_log_keeps_turns_running_and_counts_the_drops() -> None:
    url = f"postgresql://aii:pw@127.0.0.1:{free_port()}/log"
    result = run_app("alice", 1.0, AII_PROMPT_LOG=url, AII_PSEUDONYM_KEY=NEW_KEY.decode())
    assert result["prompt_log"] is True
    assert metric(result["metrics"], "ai_turns_total", outcome="ok") == 5
    assert metric(result["metrics"], "ai_prompt_log_dropped_total", reason="store_unavailable") == 5
    errors = [message for level, message in result["records"] if level == "ERROR"]
    assert len(errors) == 1 and errors[0].startswith("otel-ai-incident: prompt log at postgresql://aii:***@")


def test_instrument_with_a_malformed_log_url_keeps_the_app_running_without_the_log() -> None:
    result = run_app("alice", AII_PROMPT_LOG="postgresql://aii:pw@db:port/log", AII_PSEUDONYM_KEY=NEW_KEY.decode())
    assert result["prompt_log"] is False
    errors = [message for level, message in result["records"] if level == "ERROR"]
    assert len(errors) == 1 and "prompt log postgresql://aii:***@db:port/log unusable" in errors[0]
    assert "pw" not in json.dumps(result["records"])
    assert metric(result["metrics"], "ai_instrumentation_errors_total", component="prompt_log") == 1
    assert metric(result["metrics"], "ai_turns_total", outcome="ok") == 5


def test_key_rotation_across_replicas_keeps_every_entry_reachable(postgres_url: str, monkeypatch, capsys) -> None:
    """Replica 1 still runs with the old key, replica 2 already with the new one first; the shared log
    has alice under both pseudonyms, and one erasure with the rotated list reaches both."""
    old_only, rotated = OLD_KEY.decode(), f"{NEW_KEY.decode()},{OLD_KEY.decode()}"
    for keys in (old_only, rotated):
        run_app("alice", AII_PROMPT_LOG=postgres_url, AII_PSEUDONYM_KEY=keys)
    run_app("bob", AII_PROMPT_LOG=postgres_url, AII_PSEUDONYM_KEY=rotated)
    monkeypatch.setenv("AII_PSEUDONYM_KEY", rotated)
    assert main(["logs", "export", "--prompt-log", postgres_url, "--user", "alice"]) == 0
    exported = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(exported) == 10
    assert {e["pseudonym_key_id"] for e in exported} == {Pseudonymizer(OLD_KEY).key_id, Pseudonymizer(NEW_KEY).key_id}
    assert main(["logs", "erase", "--prompt-log", postgres_url, "--user", "alice"]) == 0
    assert capsys.readouterr().out.startswith("erased 10 ")
    assert main(["logs", "export", "--prompt-log", postgres_url]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 5  # bob's
