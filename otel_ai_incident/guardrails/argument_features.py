"""Turn one tool call's arguments into the features the anomaly model learns: one `Leaf` per value.

Nested arguments are flattened to dotted paths (`filter.status`, `items[].sku`) two levels deep; deeper
containers and long lists are summarised by their size, so a hostile payload costs bounded time. String
values are reduced to a fingerprint (CRC-32), their length and a bit mask of character classes and attack
tokens (wildcards, SQL tautologies, path traversal, ...), so the model never stores argument values:
a saved state holds no user data.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any, NamedTuple

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


class Char:
    """Bits for character classes and attack tokens found in a value; learned per argument as frequencies.

    Plain ints rather than an IntFlag: these are or-ed on every call and enum arithmetic is ten times slower.
    """

    DIGIT = 1 << 0
    ALPHA = 1 << 1
    SPACE = 1 << 2
    PUNCT = 1 << 3
    WILDCARD = 1 << 4
    QUOTE = 1 << 5
    SEPARATOR = 1 << 6
    SLASH = 1 << 7
    BRACKET = 1 << 8
    CONTROL = 1 << 9
    NON_ASCII = 1 << 10
    ONLY_WILDCARD = 1 << 11
    SQL_TAUTOLOGY = 1 << 12
    SQL_COMMENT = 1 << 13
    SQL_STACKED = 1 << 14
    SQL_UNION = 1 << 15
    PATH_TRAVERSAL = 1 << 16
    ABSOLUTE_PATH = 1 << 17
    SHELL = 1 << 18
    NEGATIVE = 1 << 19
    FRACTION = 1 << 20
    NON_FINITE = 1 << 21


CHAR_BITS = Char.NON_FINITE.bit_length()
# Plain character classes are weak evidence on their own (a first apostrophe in a free-text query is
# ordinary); attack tokens, wildcards (they widen what an operation touches) and number oddities are strong.
WEAK_CHARS = (Char.DIGIT | Char.ALPHA | Char.SPACE | Char.PUNCT | Char.QUOTE | Char.SEPARATOR
              | Char.SLASH | Char.BRACKET | Char.CONTROL | Char.NON_ASCII | Char.FRACTION)
_ALPHANUMERIC = Char.DIGIT | Char.ALPHA


def _ascii_class(code: int) -> int:
    ch = chr(code)
    if ch.isdigit():
        return Char.DIGIT
    if ch.isalpha():
        return Char.ALPHA
    if ch == " ":
        return Char.SPACE
    if code < 32 or code == 127:
        return Char.CONTROL
    for chars, char_class in (("*%", Char.WILDCARD), ("'\"`", Char.QUOTE), (";|&", Char.SEPARATOR),
                              ("/\\", Char.SLASH), ("<>{}()[]", Char.BRACKET)):
        if ch in chars:
            return char_class
    return Char.PUNCT


# str.translate folds every ASCII character onto one symbol per class (in C), so the Python loop in
# string_chars runs over a handful of symbols instead of every distinct character.
_CLASS_SYMBOLS = {code: chr(0xE000 + _ascii_class(code).bit_length()) for code in range(128)}
_CHAR_CLASS = {chr(0xE000 + bit.bit_length()): bit for bit in {_ascii_class(code) for code in range(128)}}
_WILDCARD_ONLY = frozenset("*%?._ ")
# The patterns run on lower-cased text and start with a literal, which lets `re` skip ahead to candidate
# positions instead of trying every one: over 10x faster on a long SQL string than re.IGNORECASE with a
# leading word boundary. _tautology checks that boundary itself.
_SQL_TAUTOLOGY = re.compile(r"""or\s+(?:true\b|(['"]?)(\w*)\1\s*(?:=|like)\s*['"]?\2(?!\w))""")
_SQL_STACKED = re.compile(r";\s*(?:drop|delete|insert|update|alter|truncate|create|grant|exec|shutdown)\b")
_SQL_UNION = re.compile(r"union\s+(?:all\s+)?select\b")


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


def _walk_mapping(mapping: Mapping[Any, Any], prefix: str, depth: int, leaves: list[Leaf],
                  paths: dict[str, int]) -> None:
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


def string_chars(text: str) -> int:
    """The `Char` bits of a string: its character classes plus any attack tokens it contains."""
    mask = 0 if text.isascii() else Char.NON_ASCII
    classes = _CHAR_CLASS
    for symbol in set(text.translate(_CLASS_SYMBOLS)):
        mask |= classes.get(symbol, 0)
    if mask & ~_ALPHANUMERIC:
        mask |= _tokens(text, mask)
    return mask


def _tokens(text: str, mask: int) -> int:
    """Attack tokens, each searched only when the characters it needs are present (most values lack them)."""
    found = 0
    lowered = text.lower()
    if mask & Char.WILDCARD:
        if set(text.strip()) <= _WILDCARD_ONLY:
            found |= Char.ONLY_WILDCARD
        if "%2e%2e" in lowered:
            found |= Char.PATH_TRAVERSAL
    if mask & Char.SLASH:
        if ".." in text:
            found |= Char.PATH_TRAVERSAL
        if text[0] in "/\\" or text[1:3] in (":\\", ":/"):
            found |= Char.ABSOLUTE_PATH
        if "/*" in text:
            found |= Char.SQL_COMMENT
    if mask & Char.PUNCT:
        if text[0] == "~":
            found |= Char.ABSOLUTE_PATH
        if "--" in text:
            found |= Char.SQL_COMMENT
    if mask & (Char.QUOTE | Char.PUNCT) and _tautology(lowered):
        found |= Char.SQL_TAUTOLOGY
    if mask & Char.SEPARATOR:
        if _SQL_STACKED.search(lowered):
            found |= Char.SQL_STACKED
        if "&&" in text or "||" in text:
            found |= Char.SHELL
    if ("$(" in text and mask & Char.BRACKET) or "`" in text:
        found |= Char.SHELL
    if mask & Char.SPACE and _SQL_UNION.search(lowered):
        found |= Char.SQL_UNION
    return found


def _tautology(lowered: str) -> bool:
    """`or 1=1`, `' or 'a'='a`, `or true`: an OR (as a whole word) whose condition is always true."""
    for match in _SQL_TAUTOLOGY.finditer(lowered):
        start = match.start()
        if start == 0 or not (lowered[start - 1].isalnum() or lowered[start - 1] == "_"):
            return True
    return False
