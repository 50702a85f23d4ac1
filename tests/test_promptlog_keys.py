"""Pseudonym keys: rotation, the key file an app makes for itself on one host, and the fleet's key that a
shared prompt log requires (refused without it: by `load_keys`, and by `instrument()` without raising)."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import multiprocessing.synchronize
import os
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from otel_ai_incident.cli import main
from otel_ai_incident.demo.services import free_port
from otel_ai_incident.promptlog.pseudonym import (
    Pseudonymizer,
    PseudonymKeyError,
    load_key,
    load_keys,
    load_pseudonymizers,
)
from processes import clean_env, run_script
from promptlog_support import NEW_KEY, OLD_KEY


def test_pseudonym_is_not_a_plain_hash_of_the_id() -> None:
    user_id = "Alice@Example.com"
    pseudonym = Pseudonymizer(NEW_KEY).pseudonymize(user_id)
    encodings = [
        user_id.encode("utf-8"),
        user_id.encode("utf-16"),
        user_id.encode("utf-16-le"),
        user_id.lower().encode("utf-8"),
        user_id.lower().encode("utf-16"),
    ]
    for data in encodings:
        for algorithm in ("sha256", "sha1", "md5"):
            digest = hashlib.new(algorithm, data).hexdigest()
            assert pseudonym not in digest and digest[:16] not in pseudonym
    assert user_id.lower() not in pseudonym.lower()


def test_keys_rotate_through_the_environment_and_a_key_file(tmp_path: Path) -> None:
    env = {"AII_PSEUDONYM_KEY": f"{NEW_KEY.decode()}, {OLD_KEY.decode()}"}
    assert load_keys(env) == [NEW_KEY, OLD_KEY]
    assert load_key(env) == NEW_KEY
    key_file = tmp_path / "keys"
    key_file.write_text(f"# current first\n{NEW_KEY.decode()}\n\n{OLD_KEY.decode()}\n")
    file_env = {"AII_PSEUDONYM_KEY_FILE": str(key_file)}
    assert [p.key_id for p in load_pseudonymizers(file_env)] == [
        Pseudonymizer(NEW_KEY).key_id,
        Pseudonymizer(OLD_KEY).key_id,
    ]
    assert load_keys(env, shared=True) == load_keys(file_env, shared=True) == [NEW_KEY, OLD_KEY]


def test_a_missing_key_is_created_only_when_asked(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no default key file here
    key_file = tmp_path / "created"
    env = {"AII_PSEUDONYM_KEY_FILE": str(key_file)}
    assert load_keys(env, create=False) == []
    assert load_keys({}, create=False) == []
    key = load_key(env)
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert load_keys(env, create=False) == [key]
    assert os.listdir(tmp_path) == ["created"]  # no draft left behind


def test_without_settings_the_app_creates_one_key_file_and_reuses_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_keys({}, create=False) == []
    key = load_key({})
    default = tmp_path / "ai_pseudonym.key"
    assert default.stat().st_mode & 0o777 == 0o600
    assert load_key({}) == key and load_keys({}, create=False) == [key]


def _load_keys_in(
    directories: list[str], start: multiprocessing.synchronize.Barrier, keys: multiprocessing.Queue
) -> None:  # type: ignore[type-arg]
    for directory in directories:
        start.wait()  # every worker asks for the key of this directory at the same moment
        try:
            keys.put((directory, load_keys({"AII_PSEUDONYM_KEY_FILE": f"{directory}/ai_pseudonym.key"})))
        except ValueError as error:
            keys.put((directory, repr(error)))


def test_workers_starting_together_all_get_the_key_one_of_them_made(tmp_path: Path) -> None:
    """gunicorn-style workers of one app share the working directory and start at the same moment: none may
    read the key file while another is still writing it (and so fail, or make a second key)."""
    context = multiprocessing.get_context("fork")
    directories = [str(tmp_path / str(n)) for n in range(40)]
    for directory in directories:
        os.mkdir(directory)
    start, keys = context.Barrier(4), context.Queue()
    workers = [context.Process(target=_load_keys_in, args=(directories, start, keys)) for _ in range(4)]
    for worker in workers:
        worker.start()
    results = [keys.get(timeout=60) for _ in range(4 * len(directories))]
    for worker in workers:
        worker.join(10)
    for directory in directories:
        made = (Path(directory) / "ai_pseudonym.key").read_text().strip().encode()
        assert [key for where, key in results if where == directory] == [[made]] * 4


def test_a_shared_log_refuses_to_make_a_key_of_its_own(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PseudonymKeyError, match="AII_PSEUDONYM_KEY or AII_PSEUDONYM_KEY_FILE"):
        load_keys({}, shared=True)
    missing = tmp_path / "fleet.key"
    with pytest.raises(PseudonymKeyError, match=f"AII_PSEUDONYM_KEY_FILE={missing} does not exist"):
        load_keys({"AII_PSEUDONYM_KEY_FILE": str(missing)}, shared=True)
    (tmp_path / "ai_pseudonym.key").write_text(NEW_KEY.decode())  # this host's file is not the fleet's key
    with pytest.raises(PseudonymKeyError):
        load_key({}, shared=True)
    assert sorted(os.listdir(tmp_path)) == ["ai_pseudonym.key"]


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


def test_key_rotation_across_replicas_keeps_every_entry_reachable(postgres_url: str, monkeypatch, capsys) -> None:
    """Replica 1 still runs with the old key, replica 2 already with the new one first; the shared log
    has alice under both pseudonyms, and one erasure with the rotated list reaches both."""
    old_only, rotated = OLD_KEY.decode(), f"{NEW_KEY.decode()},{OLD_KEY.decode()}"
    for keys in (old_only, rotated):
        run_app("alice", AII_PROMPT_LOG=postgres_url, AII_PSEUDONYM_KEY=keys)
    run_app("bob", AII_PROMPT_LOG=postgres_url, AII_PSEUDONYM_KEY=rotated)
    monkeypatch.setenv("AII_PSEUDONYM_KEY", rotated)
    assert main(["logs", "export", "--db", postgres_url, "--user", "alice"]) == 0
    exported = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(exported) == 10
    assert {e["pseudonym_key_id"] for e in exported} == {Pseudonymizer(OLD_KEY).key_id, Pseudonymizer(NEW_KEY).key_id}
    assert main(["logs", "erase", "--db", postgres_url, "--user", "alice"]) == 0
    assert capsys.readouterr().out.strip() == "erased 10 entries"
    assert main(["logs", "export", "--db", postgres_url]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 5  # bob's
