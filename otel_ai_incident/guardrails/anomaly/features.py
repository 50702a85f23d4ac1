"""Turn one tool call's arguments into the features the anomaly model learns: one `Leaf` per value.

Nested arguments are flattened to dotted paths (`filter.status`, `items[].sku`) two levels deep; deeper
containers and long lists are summarised by their size, so a hostile payload costs bounded time. String
values are reduced to a fingerprint (CRC-32), their length and a bit mask of character classes and attack
tokens (wildcards, SQL tautologies, path traversal, ...; see `chars`), so the model never stores argument
values: a saved state holds no user data.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any, NamedTuple

from otel_ai_incident.guardrails.anomaly.chars import Char, string_chars
from otel_ai_incident.guardrails.anomaly.urls import mail_domain, url_parts

MAX_DEPTH = 2
MAX_LIST_ITEMS = 8
MAX_LEAVES = 64
# Long values are fingerprinted and scanned on a prefix only: beyond it they are judged by their length.
FINGERPRINT_CHARS = 256
SCAN_CHARS = 2048
BARE_ARGUMENT = "$"


class Kind:
    """The JSON-level type of a value; a key that suddenly changes kind is a strong signal."""

    STR = "str"
    NUM = "num"
    BOOL = "bool"
    NULL = "null"
    LIST = "list"
    DICT = "dict"
    OTHER = "other"


class Leaf(NamedTuple):
    """One flattened value. `token` feeds the value vocabulary, `size` and `magnitude` the reservoirs."""

    key: int
    kind: str
    token: int | None
    chars: int
    size: float | None
    magnitude: float | None


class ArgumentProfile(NamedTuple):
    """A call's leaves, the fingerprints of the key paths it carries and of that set of paths as a whole."""

    leaves: list[Leaf]
    keys: frozenset[int]
    keyset: int


def fingerprint(text: str) -> int:
    """A stable 32-bit fingerprint (unlike `hash()`, the same in every process, so states can be saved)."""
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))


class _Memo(dict[Any, Any]):
    """A bounded memo for pure functions of values that repeat (key paths, key sets, short enum-like values).

    Emptied when full rather than kept in LRU order: cheaper per hit, and losing it only costs a recompute.
    Shared by all threads; under the GIL a lost race recomputes the same value.
    """

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: Any, value: Any) -> Any:
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value


_MEMO_LIMIT = 4096
MEMO_CHARS = 64
_paths = _Memo(_MEMO_LIMIT)
_keysets = _Memo(_MEMO_LIMIT)
_strings = _Memo(_MEMO_LIMIT)


def profile(arguments: Mapping[str, Any]) -> ArgumentProfile:
    """The leaves of `arguments`, their distinct key fingerprints and a fingerprint of the key set.

    Arguments that are not a mapping (a bare list or string from a loosely typed tool) are profiled as
    one argument named `$` rather than rejected: the scorer runs inside the app and must not raise.
    """
    leaves: list[Leaf] = []
    paths: dict[str, int] = {}
    if not isinstance(arguments, Mapping):
        arguments = {BARE_ARGUMENT: arguments}
    _walk_mapping(arguments, "", 1, leaves, paths)
    names = tuple(paths)
    keyset = _keysets.get(names)
    if keyset is None:
        keyset = _keysets.put(names, fingerprint("\x1f".join(sorted(names))))
    return ArgumentProfile(leaves, frozenset(paths.values()), keyset)


def _walk_mapping(
    mapping: Mapping[Any, Any], prefix: str, depth: int, leaves: list[Leaf], paths: dict[str, int]
) -> None:
    for name, value in mapping.items():
        if len(leaves) >= MAX_LEAVES:
            return
        _walk_value(f"{prefix}{name}", value, depth, leaves, paths)


def _walk_value(path: str, value: Any, depth: int, leaves: list[Leaf], paths: dict[str, int]) -> None:
    key = paths.get(path)
    if key is None:
        key = _paths.get(path)
        if key is None:
            key = _paths.put(path, fingerprint(path))
        paths[path] = key
    kind = type(value)
    if kind is str:
        leaves.append(_string(key, value))
        if "://" in value[:16] or "@" in value:
            _destination(path, value, leaves, paths)
    elif kind is int or kind is float:
        leaves.append(_number(key, value))
    elif isinstance(value, Mapping):
        leaves.append(_container(key, Kind.DICT, len(value)))
        if depth < MAX_DEPTH:
            _walk_mapping(value, path + ".", depth + 1, leaves, paths)
    elif isinstance(value, (list, tuple, set, frozenset)):
        leaves.append(_container(key, Kind.LIST, len(value)))
        if depth < MAX_DEPTH:
            _walk_items(islice(value, MAX_LIST_ITEMS), path + "[]", depth + 1, leaves, paths)
    else:
        leaves.append(_scalar(key, value))


def _derived_key(path: str, paths: dict[str, int]) -> int:
    key = paths.get(path)
    if key is None:
        key = _paths.get(path)
        if key is None:
            key = _paths.put(path, fingerprint(path))
        paths[path] = key
    return key


def _destination(path: str, text: str, leaves: list[Leaf], paths: dict[str, int]) -> None:
    """Extra leaves for where a URL or an e-mail address points (see `urls`): `path#scheme`, `path#host` and
    `path#query` (its length and characters), or `path#domain` for a recipient."""
    parts = url_parts(text)
    if parts is not None:
        scheme, host, query = parts
        leaves.append(Leaf(_derived_key(path + "#scheme", paths), Kind.STR, fingerprint(scheme), 0, None, None))
        leaves.append(Leaf(_derived_key(path + "#host", paths), Kind.STR, fingerprint(host), 0, None, None))
        chars = string_chars(query[:SCAN_CHARS]) if query else 0
        size = math.log10(1 + len(query))
        leaves.append(Leaf(_derived_key(path + "#query", paths), Kind.STR, None, chars, size, None))
        return
    domain = mail_domain(text)
    if domain is not None:
        leaves.append(Leaf(_derived_key(path + "#domain", paths), Kind.STR, fingerprint(domain), 0, None, None))


def _walk_items(items: Iterable[Any], path: str, depth: int, leaves: list[Leaf], paths: dict[str, int]) -> None:
    for item in items:
        if len(leaves) >= MAX_LEAVES:
            return
        _walk_value(path, item, depth, leaves, paths)


def _container(key: int, kind: str, size: int) -> Leaf:
    return Leaf(key, kind, None, 0, math.log10(1 + size), None)


def _string(key: int, text: str) -> Leaf:
    features = _strings.get(text) if len(text) <= MEMO_CHARS else None
    if features is None:
        features = (fingerprint(text[:FINGERPRINT_CHARS]), string_chars(text[:SCAN_CHARS]), math.log10(1 + len(text)))
        if len(text) <= MEMO_CHARS:
            _strings.put(text, features)
    return Leaf(key, Kind.STR, features[0], features[1], features[2], None)


def _scalar(key: int, value: Any) -> Leaf:
    """Leaves for the less common scalars, including subclasses of str, int and float."""
    if isinstance(value, str):
        return _string(key, str(value))
    if isinstance(value, bool):
        return Leaf(key, Kind.BOOL, int(value), 0, None, None)
    if isinstance(value, (int, float)):
        return _number(key, value)
    if value is None:
        return Leaf(key, Kind.NULL, None, 0, None, None)
    return Leaf(key, Kind.OTHER, None, 0, None, None)


def _number(key: int, value: float) -> Leaf:
    chars = Char.NEGATIVE if value < 0 else 0
    if isinstance(value, float):
        if not math.isfinite(value):
            return Leaf(key, Kind.NUM, None, Char.NON_FINITE, None, None)
        if not value.is_integer():
            chars |= Char.FRACTION
    # math.log10 takes arbitrarily large ints without overflowing to float first.
    return Leaf(key, Kind.NUM, None, chars, None, math.log10(1 + abs(value)))
