"""Keyed pseudonyms for user ids.

A user id is low-entropy (an e-mail, an account number), so a plain hash is reversed by hashing a
dictionary of candidates. An HMAC with a secret key is not, and the key id stored beside each pseudonym
lets keys rotate: an erasure request is matched under every key still in use.

Key rotation: AII_PSEUDONYM_KEY holds one key, or several separated by commas; AII_PSEUDONYM_KEY_FILE holds
one key per line (blank lines and lines starting with "#" are skipped). The first key is the current one,
used for new entries; the others are retired keys kept so that queries and erasure still find the entries
written under them. A key's id is derived from the key itself (`key_id_of`), so keys need no names and two
keys can never share an id. To rotate: put a new key first, keep the old one after it until its last entry
has aged out of retention, then remove it. Keys are at least 16 bytes and cannot contain a comma (env) or a
line break (file); `secrets.token_hex(32)` is a good key.

A fleet shares one key. Pseudonyms written by several processes into one prompt log (a postgresql:// URL)
only match each other, a containment target or an erasure request if every process uses the same keys, so
with a shared log the keys must be given (`shared=True`): a process never generates a key file of its own
then, and refuses with `PseudonymKeyError` instead. Rotation works across replicas as on one host: give
every replica the new list (the new key first); until all of them run with it, entries are written under
both keys, and queries and erasure match either.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from otel_ai_incident import names
from otel_ai_incident.storage.urls import is_postgres_url

logger = logging.getLogger("otel_ai_incident")

_CACHE_LIMIT = 4096


def key_id_of(key: bytes) -> str:
    """A short public name for a key (a hash of a high-entropy key reveals nothing about it)."""
    return hashlib.sha256(b"aii-key-id:" + key).hexdigest()[:8]


class Pseudonymizer:
    """HMAC-SHA256 pseudonyms under one key. Thread-safe: the cache is a dict only ever grown or cleared."""

    __slots__ = ("_cache", "_key", "key_id")

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a pseudonym key needs at least 16 bytes")
        self._key = key
        self.key_id = key_id_of(key)
        self._cache: dict[str, str] = {}

    def pseudonymize(self, user_id: str) -> str:
        cached = self._cache.get(user_id)
        if cached is not None:
            return cached
        digest = hmac.new(self._key, user_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[user_id] = digest
        return digest


class PseudonymKeyError(ValueError):
    """No pseudonym key given where a key of this process's own would split the fleet's pseudonyms."""


def load_keys(environ: Mapping[str, str] | None = None, *, create: bool = True, shared: bool = False) -> list[bytes]:
    """Every live pseudonym key, the current one first: AII_PSEUDONYM_KEY, else the key file
    AII_PSEUDONYM_KEY_FILE, else ./ai_pseudonym.key.

    `create` makes a missing key file (mode 0600) with a new random key: the app does so on its first start,
    so pseudonyms correlate across restarts and an erasure by user id can find them later. Without `create`
    a missing file gives no key, which tells an erasure tool that nothing can be matched.

    `shared` (the prompt log is shared by several processes) requires AII_PSEUDONYM_KEY or an existing
    AII_PSEUDONYM_KEY_FILE and raises PseudonymKeyError otherwise, whatever `create` says.
    """
    env = os.environ if environ is None else environ
    raw = env.get(names.ENV_PSEUDONYM_KEY)
    if raw:
        return _parse_keys(raw.split(","))
    named = env.get(names.ENV_PSEUDONYM_KEY_FILE)
    if shared:
        return _fleet_key_file(named)
    path = Path(named or names.DEFAULT_PSEUDONYM_KEY_FILE)
    keys = _read_key_file(path, create)
    if create and not named and keys and not _warned_default:
        _warn_default_key(path)
    return keys


def _fleet_key_file(named: str | None) -> list[bytes]:
    if named and Path(named).exists():
        return _parse_key_lines(Path(named))
    where = f"{names.ENV_PSEUDONYM_KEY_FILE}={named} does not exist" if named else "no key is configured"
    raise PseudonymKeyError(
        f"the prompt log is shared by several processes but {where}: set {names.ENV_PSEUDONYM_KEY} or "
        f"{names.ENV_PSEUDONYM_KEY_FILE} to the same key(s) in every process (a key generated here would give "
        "this process pseudonyms that match no other, and erasure requests could not reach its entries)"
    )


_warned_default = False


def _warn_default_key(path: Path) -> None:
    global _warned_default
    _warned_default = True
    logger.warning(
        "otel-ai-incident: pseudonym key in %s; set %s to keep it somewhere safer (and back it up: "
        "without it no pseudonym can be matched to a user id again)",
        path.resolve(),
        names.ENV_PSEUDONYM_KEY_FILE,
    )


def load_key(environ: Mapping[str, str] | None = None, *, shared: bool = False) -> bytes:
    """The current pseudonym key (the first of `load_keys`)."""
    return load_keys(environ, shared=shared)[0]


def load_pseudonymizers(
    environ: Mapping[str, str] | None = None, *, create: bool = True, shared: bool = False
) -> list[Pseudonymizer]:
    """A pseudonymizer per live key, the current one first."""
    return [Pseudonymizer(key) for key in load_keys(environ, create=create, shared=shared)]


def is_shared_log(url: str) -> bool:
    """Whether a prompt log URL names a log several processes write (a server database): then the
    pseudonym key must be the fleet's (`load_keys(shared=True)`)."""
    return is_postgres_url(url)


def pseudonyms_of(user_id: str, pseudonymizers: Iterable[Pseudonymizer]) -> dict[str, str]:
    """The user's pseudonym under each key, by key id: what a query or an erasure has to match."""
    return {p.key_id: p.pseudonymize(user_id) for p in pseudonymizers}


def _parse_keys(parts: Iterable[str]) -> list[bytes]:
    keys = [part.strip().encode("utf-8") for part in parts if part.strip()]
    if not keys:
        raise ValueError("no pseudonym key given")
    return keys


def _parse_key_lines(path: Path) -> list[bytes]:
    return _parse_keys(line for line in path.read_text("utf-8").splitlines() if not line.lstrip().startswith("#"))


def _read_key_file(path: Path, create: bool) -> list[bytes]:
    """The file's keys; with `create`, a missing file is made with a new key first. The key is written to a
    file of its own and linked into place, so a process starting at the same moment (another worker of the
    same app) either makes the file or reads the complete one, never an empty file still being written."""
    if not create or path.exists():
        return _parse_key_lines(path) if path.exists() else []
    key = secrets.token_hex(32)
    fd, draft = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(key + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            return _parse_key_lines(path)
    finally:
        os.unlink(draft)
    return [key.encode("ascii")]
