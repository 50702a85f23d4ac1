"""`instrument()` never raises for configuration it can survive: each case is a clear log line and a fallback."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from otel_ai_incident import names
from processes import clean_env, run_script
from test_promptlog_instrument import metric
from unprivileged import run_as_nobody

_APP = """
import json, logging, urllib.request
import otel_ai_incident as aii

records = []
class Remember(logging.Handler):
    def emit(self, record):
        records.append([record.levelname, record.getMessage()])
logging.getLogger("otel_ai_incident").addHandler(Remember())
handle = aii.instrument(service_name="x", prometheus_host="127.0.0.1", PORT)
for i in range(3):
    with aii.llm_turn(model="m", user_id="u", session_id="s", user_message="hi") as turn:
        turn.complete("ok")
address = handle.prometheus_address
metrics = urllib.request.urlopen(f"http://{address[0]}:{address[1]}/metrics").read().decode() if address else ""
prompt_log = handle.runtime.prompt_log is not None
handle.shutdown()
print(json.dumps({"records": records, "metrics": metrics, "prompt_log": prompt_log}))
"""


def _app(port_argument: str = "prometheus_port=0") -> str:
    return _APP.replace("PORT", port_argument)


def _errors(result: dict) -> list[str]:  # type: ignore[type-arg]
    return [message for level, message in result["records"] if level == "ERROR"]


@pytest.mark.parametrize("content", ["", "\n", "short\n"], ids=["empty", "blank line", "too short"])
def test_an_unusable_key_file_turns_the_prompt_log_off_not_the_app(tmp_path: Path, content: str) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(content)
    result = run_script(_app(), clean_env(AII_PSEUDONYM_KEY_FILE=str(key_file)))
    assert result["prompt_log"] is False
    [error] = [m for m in _errors(result) if "pseudonym key" in m]
    assert "the prompt log is off" in error and "AII_PSEUDONYM_KEY_FILE" in error
    assert metric(result["metrics"], "ai_turns_total", outcome="ok") == 3
    assert metric(result["metrics"], "ai_instrumentation_errors_total", component="prompt_log") == 1


def test_a_new_key_file_is_private() -> None:
    result_dir = Path(tempfile.mkdtemp(prefix="aii-key-"))
    try:
        run_script(_app(), clean_env(AII_PSEUDONYM_KEY_FILE=str(result_dir / "new.key"), AII_PROMPT_LOG="off"))
        assert (result_dir / "new.key").stat().st_mode & 0o777 == 0o600
        assert len((result_dir / "new.key").read_text().strip()) == 64
    finally:
        shutil.rmtree(result_dir)


def test_a_port_variable_that_is_not_a_number_falls_back_to_the_default() -> None:
    result = run_script(
        _app("prometheus=True"), clean_env(OTEL_EXPORTER_PROMETHEUS_PORT="metrics", AII_PROMPT_LOG="off")
    )
    warnings = [message for level, message in result["records"] if level == "WARNING"]
    assert any("OTEL_EXPORTER_PROMETHEUS_PORT='metrics' is not a port number; using 9464" in m for m in warnings)


def test_a_flush_interval_that_is_not_a_duration_falls_back_to_the_default(tmp_path: Path) -> None:
    env = clean_env(AII_PROMPT_LOG_FLUSH_S="-1", AII_PROMPT_LOG=f"sqlite:///{tmp_path / 'log.db'}")
    env[names.ENV_PSEUDONYM_KEY_FILE] = str(tmp_path / "key")
    result = run_script(_app(), env)
    warnings = [message for level, message in result["records"] if level == "WARNING"]
    assert any("AII_PROMPT_LOG_FLUSH_S='-1' is not a number of seconds; using 0.1" in m for m in warnings)
    assert result["prompt_log"] is True
    assert metric(result["metrics"], "ai_turns_total", outcome="ok") == 3


def test_a_read_only_working_directory_keeps_the_app_running() -> None:
    directory = Path(tempfile.mkdtemp(prefix="aii-readonly-cwd-"))
    directory.chmod(0o755)  # nobody may enter, not create files
    try:
        done = run_as_nobody(_app(), cwd=directory, HOME=str(directory))
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert metric(result["metrics"], "ai_turns_total", outcome="ok") == 3
        errors = _errors(result)
        assert any("the prompt log is off" in m for m in errors)
        assert any("containment state" in m for m in errors)
        assert list(directory.iterdir()) == []
    finally:
        shutil.rmtree(directory)
