"""Turn one tool call's arguments into the features the anomaly model learns: one `Leaf` per value.

Nested arguments are flattened to dotted paths (`filter.status`, `items[].sku`) two levels deep; deeper
containers and long lists are summarised by their size, so a hostile payload costs bounded time. String
values are reduced to a fingerprint (CRC-32), their length and a bit mask of character classes and attack
tokens (wildcards, SQL tautologies, path traversal, ...; see `chars`) and, for short single-word values,
the fingerprint of their shape (the sequence of character classes: `ACC-10023` and `ACC-10417` share one,
an IBAN has another), so the model never stores argument values, and a saved state holds only these
fingerprints, sealed with a key (see `sealing`).

Some values also yield derived leaves, keyed `path#part`: where a URL or e-mail address points (see
`urls`), what a SQL statement does to which tables (see `sql`), and what kind of thing a shell command
does with which programs (see `shell`). A number or string carries the fingerprints of its short string
siblings (`currency` next to `amount`, `field` next to `value`), so a number's scale and how often a value is
new can be learned per such context.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from itertools import islice, pairwise
from typing import Any, NamedTuple

from otel_ai_incident.guardrails.anomaly.chars import CLASS_TABLE, Char, string_chars
from otel_ai_incident.guardrails.anomaly.shell import COMMAND_INITIALS, COMMAND_STARTS, PROGRAM_NAMES, command
from otel_ai_incident.guardrails.anomaly.sql import SQL_INITIALS, SQL_START, statement
from otel_ai_incident.guardrails.anomaly.urls import (
    INTERNAL_NAMES,
    bare_host,
    host_class,
    mail_host,
    name_marks,
    reach,
    url_parts,
)

MAX_DEPTH = 2
MAX_LIST_ITEMS = 8
MAX_LEAVES = 64
# Long values are fingerprinted and scanned on a prefix only: beyond it they are judged by their length.
FINGERPRINT_CHARS = 256
SCAN_CHARS = 2048
BARE_ARGUMENT = "$"
# The bit that marks the fingerprint of a key whose absence says nothing: a command's derived leaves
# (`command#command`) are there only when `shell` knows its program, so a command run by another program
# is neither missing a key nor a new key set. Every other key has the bit cleared. (A URL's or a SQL
# statement's derived keys are found by syntax: their absence in an argument that always had them is news.)
OPTIONAL = 1
# Strings up to this long without a space get a shape; a number takes up to this many siblings as context.
SHAPE_CHARS = 40
CONTEXT_CHARS = 32
MAX_CONTEXTS = 4
# A command given as a list of words is judged on this many.
MAX_ARGV = 64
# Words of key names that switch off a safeguard or widen what a call may touch (whole words of a
# snake_case or camelCase name, or their stems): a new key named so and set like a switch (see _switch)
# is not an optional field the app started sending, it is an attempt to change what the tool may do.
_RISKY_STEMS = (
    "admin", "overrid", "bypass", "skip", "forc", "sudo", "superuser", "privileg", "elevat",
    "impersonat", "unsafe", "insecure", "disabl", "noverify", "unverif", "cascad", "approv", "audit",
    "ignor", "unlock", "recursive", "purg", "permission",
)  # fmt: skip
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


class Kind:
    """The JSON-level type of a value; a key that suddenly changes kind is a strong signal."""

    STR = "str"
    NUM = "num"
    BOOL = "bool"
    NULL = "null"
    LIST = "list"
    DICT = "dict"
    OTHER = "other"


# (sibling key, sibling value) fingerprints a number's scale and a value's novelty are learned per: one list
# shared by the numbers and strings of a mapping, filled once the mapping has been walked.
Context = Sequence[tuple[int, int]]
# A host's look-alike fingerprints: what it leaves when known, what it is probed with for the same name and
# for a name one edit away (see urls.name_marks).
Marks = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]


class Leaf(NamedTuple):
    """One flattened value. `token` feeds the value vocabulary, `size` and `magnitude` the reservoirs.

    `shape` is the fingerprint of a short value's character-class sequence; `strict` marks a derived leaf
    whose values are a few categories of risk (an address range, a statement kind), judged by frequency
    rather than by whether they were seen once; `marks` are a host's look-alike fingerprints (see Marks);
    `context` pairs (sibling key, sibling value) for a number or a string."""

    key: int
    kind: str
    token: int | None
    chars: int
    size: float | None
    magnitude: float | None
    shape: int | None = None
    strict: bool = False
    marks: Marks | None = None
    context: Context = ()


class ArgumentProfile(NamedTuple):
    """A call's leaves, the fingerprints of the key paths it carries and of that set of paths as a whole,
    and which of its keys are named like a safeguard switch and set like one."""

    leaves: list[Leaf]
    keys: frozenset[int]
    keyset: int
    risky: frozenset[int]


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
_risky = _Memo(_MEMO_LIMIT)
_marks = _Memo(_MEMO_LIMIT)


def profile(arguments: Mapping[str, Any]) -> ArgumentProfile:
    """The leaves of `arguments`, their distinct key fingerprints and a fingerprint of the key set.

    Arguments that are not a mapping (a bare list or string from a loosely typed tool) are profiled as
    one argument named `$` rather than rejected: the scorer runs inside the app and must not raise.
    """
    leaves: list[Leaf] = []
    paths: dict[str, int] = {}
    if type(arguments) is not dict and not isinstance(arguments, Mapping):
        arguments = {BARE_ARGUMENT: arguments}
    _walk_mapping(arguments, "", 1, leaves, paths)
    names = tuple(paths)
    cached = _keysets.get(names)
    if cached is None:
        risky = frozenset(paths[name] for name in names if _risky_name(name))
        keyset = fingerprint("\x1f".join(sorted(name for name in names if not paths[name] & OPTIONAL)))
        cached = _keysets.put(names, (keyset, risky))
    risky = cached[1]
    if risky:
        risky = frozenset(leaf.key for leaf in leaves if leaf.key in risky and _switch(leaf))
    return ArgumentProfile(leaves, frozenset(paths.values()), cached[0], risky)


# What a switch is set to: a boolean, 0 or 1 (log10(1 + 1)), or one of these words (their fingerprints).
_FLAG_WORDS = frozenset(map(fingerprint, ("true", "false", "yes", "no", "on", "off", "1", "0", "True", "False")))
_ONE = math.log10(2)


def _switch(leaf: Leaf) -> bool:
    """Whether a value is what a switch is set to. `approval_status="pending"` in a record's fields is data
    the app started sending; `skip_approval=True` changes what the call is allowed to do."""
    kind = leaf.kind
    if kind == Kind.BOOL or kind == Kind.NULL:
        return True
    if kind == Kind.NUM:
        return leaf.magnitude in (0.0, _ONE)
    return kind == Kind.STR and leaf.token in _FLAG_WORDS


def _risky_name(path: str) -> bool:
    risky = _risky.get(path)
    if risky is None:
        words = [word.lower() for word in _WORD.findall(path.rpartition(".")[2])]
        pairs = [first + second for first, second in pairwise(words)]  # no_verify
        risky = _risky.put(path, "#" not in path and any(word.startswith(_RISKY_STEMS) for word in words + pairs))
    return risky


def _walk_mapping(
    mapping: Mapping[Any, Any], prefix: str, depth: int, leaves: list[Leaf], paths: dict[str, int]
) -> None:
    codes: list[int] = []
    context: list[tuple[int, int]] = []
    # A lone value has no siblings: its leaf gets no context to look through.
    shared: Context = context if len(mapping) > 1 else ()
    for name, value in mapping.items():
        if len(leaves) >= MAX_LEAVES:
            break
        if type(value) is str and len(value) <= CONTEXT_CHARS:
            codes.append(len(leaves))
        _walk_value(f"{prefix}{name}", value, depth, leaves, paths, shared)
    if codes and shared is context:
        _fill_context(leaves, codes, context)


def _fill_context(leaves: list[Leaf], codes: list[int], context: list[tuple[int, int]]) -> None:
    """Fill the mapping's shared context with the (key, value) of its codes: short single-word strings (a
    currency, a status, a record's field name), the categories a number's scale and a value's novelty may
    be learned per. A string finds its own pair there too (the model skips its own key). With more than
    MAX_CONTEXTS, the shortest: a category is a short code, and the ids and references next to it
    (`cus_4471...`, `idem_...`) must not crowd the currency out."""
    picked = [leaves[i] for i in codes if leaves[i].shape is not None]
    if len(picked) > MAX_CONTEXTS:
        picked = sorted(picked, key=lambda leaf: leaf.size or 0.0)[:MAX_CONTEXTS]
    context += [(leaf.key, leaf.token) for leaf in picked]  # type: ignore[misc]  # a string has a token


def _walk_value(
    path: str, value: Any, depth: int, leaves: list[Leaf], paths: dict[str, int], context: Context = ()
) -> None:
    key = paths.get(path)
    if key is None:
        key = _paths.get(path)
        if key is None:
            key = _paths.put(path, fingerprint(path) & ~OPTIONAL)
        paths[path] = key
    kind = type(value)
    if kind is str:
        index = len(leaves)
        leaves.append(_string(key, value, context))
        if ("://" in value[:16] or "@" in value) and _destination(path, value, leaves, paths):
            # Where an address points is judged by its own leaves; its shape would only say how long the
            # domain's name is, and make every new domain a new shape for each length of local part.
            if leaves[index].shape is not None:
                leaves[index] = leaves[index]._replace(shape=None)
            return
        if " " in value:
            if value[:1] in SQL_INITIALS and SQL_START.match(value):
                _statement(path, value, leaves, paths)
            elif value[:1] in COMMAND_INITIALS:
                first = value.partition(" ")[0]
                if first in COMMAND_STARTS or "/" in first or "." in first:
                    _command(path, value, leaves, paths)
        elif "." in value or ":" in value or value in INTERNAL_NAMES:
            _bare_host(path, value, leaves, paths)
    elif kind is int or kind is float:
        leaves.append(_number(key, value, context))
    elif kind is dict or isinstance(value, Mapping):
        leaves.append(_container(key, Kind.DICT, len(value)))
        if depth < MAX_DEPTH:
            _walk_mapping(value, path + ".", depth + 1, leaves, paths)
    elif isinstance(value, (list, tuple, set, frozenset)):
        leaves.append(_container(key, Kind.LIST, len(value)))
        if depth < MAX_DEPTH:
            _walk_items(islice(value, MAX_LIST_ITEMS), path + "[]", depth + 1, leaves, paths)
        if kind is list or kind is tuple:
            _argv(path, value, leaves, paths)
    else:
        leaves.append(_scalar(key, value))


def _derived_key(path: str, paths: dict[str, int], optional: bool = False) -> int:
    key = paths.get(path)
    if key is None:
        key = _paths.get(path)
        if key is None:
            key = _paths.put(path, fingerprint(path) | OPTIONAL if optional else fingerprint(path) & ~OPTIONAL)
        paths[path] = key
    return key


def _destination(path: str, text: str, leaves: list[Leaf], paths: dict[str, int]) -> bool:
    """Extra leaves for where a URL or an e-mail address points (see `urls`): `path#scheme`, `path#host`
    (with its look-alike marks), `path#reach` (the kind of address) and `path#query` (its length and
    characters), or `path#domain` for a recipient."""
    url = url_parts(text)
    if url is not None:
        scheme, domain, query, host = url
        leaves.append(Leaf(_derived_key(path + "#scheme", paths), Kind.STR, fingerprint(scheme), 0, None, None))
        host_key = _derived_key(path + "#host", paths)
        leaves.append(Leaf(host_key, Kind.STR, fingerprint(domain), 0, None, None, marks=_host_marks(host)))
        reach_key = _derived_key(path + "#reach", paths)
        leaves.append(Leaf(reach_key, Kind.STR, fingerprint(reach(domain)), 0, None, None, strict=True))
        chars = string_chars(query[:SCAN_CHARS]) if query else 0
        size = math.log10(1 + len(query))
        leaves.append(Leaf(_derived_key(path + "#query", paths), Kind.STR, None, chars, size, None))
        return True
    host = mail_host(text)
    if host is None:
        return False
    domain_key = _derived_key(path + "#domain", paths)
    leaves.append(Leaf(domain_key, Kind.STR, fingerprint(host_class(host)), 0, None, None, marks=_host_marks(host)))
    return True


def _bare_host(path: str, text: str, leaves: list[Leaf], paths: dict[str, int]) -> None:
    """A `path#reach` leaf for a host given without a scheme (`host="10.0.0.5:5432"`): SSRF by a host
    argument is as telling as by a URL."""
    host = bare_host(text)
    if host is not None:
        where = fingerprint(reach(host_class(host)))
        leaves.append(Leaf(_derived_key(path + "#reach", paths), Kind.STR, where, 0, None, None, None, True))


def _host_marks(host: str) -> Marks:
    marks = _marks.get(host)
    if marks is None:
        marks = _marks.put(host, tuple(tuple(map(fingerprint, kind)) for kind in name_marks(host.lower())))
    return marks


def _statement(path: str, text: str, leaves: list[Leaf], paths: dict[str, int]) -> None:
    """Extra leaves for a SQL statement (see `sql`): `path#statement` (its kind) and `path#tables`."""
    shape = statement(text[:SCAN_CHARS].lower())
    if shape is not None:
        kind, tables = shape
        key = _derived_key(path + "#statement", paths)
        leaves.append(Leaf(key, Kind.STR, fingerprint(kind), 0, None, None, strict=True))
        leaves.append(Leaf(_derived_key(path + "#tables", paths), Kind.STR, fingerprint(tables), 0, None, None))


def _command(path: str, text: str, leaves: list[Leaf], paths: dict[str, int]) -> None:
    """Extra leaves for a shell command (see `shell`): `path#command` (its kind) and `path#programs`."""
    shape = command(text[:SCAN_CHARS])
    if shape is not None:
        kind, programs = shape
        key = _derived_key(path + "#command", paths, optional=True)
        leaves.append(Leaf(key, Kind.STR, fingerprint(kind), 0, None, None, strict=True))
        key = _derived_key(path + "#programs", paths, optional=True)
        leaves.append(Leaf(key, Kind.STR, fingerprint(programs), 0, None, None))


def _argv(path: str, items: list[Any] | tuple[Any, ...], leaves: list[Leaf], paths: dict[str, int]) -> None:
    """A command given as a list of words (`["rm", "-rf", "/"]`) is judged as its line would be."""
    if items and type(items[0]) is str and items[0] in PROGRAM_NAMES:
        words = list(islice(items, MAX_ARGV))
        if all(type(word) is str for word in words):
            _command(path, " ".join(words), leaves, paths)


def _walk_items(items: Iterable[Any], path: str, depth: int, leaves: list[Leaf], paths: dict[str, int]) -> None:
    for item in items:
        if len(leaves) >= MAX_LEAVES:
            return
        _walk_value(path, item, depth, leaves, paths)


def _container(key: int, kind: str, size: int) -> Leaf:
    return Leaf(key, kind, None, 0, math.log10(1 + size), None)


def _string(key: int, text: str, context: Context = ()) -> Leaf:
    features = _strings.get(text) if len(text) <= MEMO_CHARS else None
    if features is None:
        head = text[:SCAN_CHARS]
        raw = head.encode("utf-8", "surrogatepass")
        classes = raw.translate(CLASS_TABLE)
        features = (
            zlib.crc32(raw) if len(text) <= FINGERPRINT_CHARS else fingerprint(text[:FINGERPRINT_CHARS]),
            string_chars(head, classes),
            math.log10(1 + len(text)),
            zlib.crc32(classes) if len(text) <= SHAPE_CHARS and " " not in text else None,
        )
        if len(text) <= MEMO_CHARS:
            _strings.put(text, features)
    return Leaf(key, Kind.STR, features[0], features[1], features[2], None, features[3], False, None, context)


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


def _number(key: int, value: float, context: Context = ()) -> Leaf:
    chars = Char.NEGATIVE if value < 0 else 0
    if isinstance(value, float):
        if not math.isfinite(value):
            return Leaf(key, Kind.NUM, None, Char.NON_FINITE, None, None)
        if not value.is_integer():
            chars |= Char.FRACTION
    # math.log10 takes arbitrarily large ints without overflowing to float first.
    return Leaf(key, Kind.NUM, None, chars, None, math.log10(1 + abs(value)), None, False, None, context)
