"""Pseudonym keys: rotation, the key file an app makes for itself on one host, and the fleet's key that a
shared prompt log requires (`instrument()` with a shared log and no key: test_promptlog_instrument.py)."""

from __future__ import annotations

import hashlib
import multiprocessing
import multiprocessing.synchronize
import os
from pathlib import Path

import pytest

from otel_ai_incident.promptlog.pseudonym import (
    Pseudonymizer,
    PseudonymKeyError,
    load_key,
    load_keys,
    load_pseudonymizers,
)
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
