"""The character classes and attack tokens found in a string argument, as one bit mask per value.

The model learns, per argument, how often each bit occurs: a first wildcard in an id, or a SQL tautology
in a query, is then rare evidence of misuse, while ordinary punctuation in free text is not.
"""

from __future__ import annotations

import re

from otel_ai_incident.guardrails.anomaly.paths import secret_path


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
    ENCODED = 1 << 22
    SECRET_PATH = 1 << 23


CHAR_BITS = Char.SECRET_PATH.bit_length()
# Plain character classes are weak evidence on their own (a first apostrophe in a free-text query is
# ordinary); attack tokens, wildcards (they widen what an operation touches) and number oddities are strong.
WEAK_CHARS = (
    Char.DIGIT
    | Char.ALPHA
    | Char.SPACE
    | Char.PUNCT
    | Char.QUOTE
    | Char.SEPARATOR
    | Char.SLASH
    | Char.BRACKET
    | Char.CONTROL
    | Char.NON_ASCII
    | Char.FRACTION
)
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
    for chars, char_class in (
        ("*%", Char.WILDCARD),
        ("'\"`", Char.QUOTE),
        (";|&", Char.SEPARATOR),
        ("/\\", Char.SLASH),
        ("<>{}()[]", Char.BRACKET),
    ):
        if ch in chars:
            return char_class
    return Char.PUNCT


# bytes.translate folds every byte of a value's UTF-8 text onto the bit number of its class (in C, with no
# per-character lookups), so the loop in string_chars runs over a handful of values; the bytes of non-ASCII
# characters fold onto NON_ASCII. The folded text is also what a value's shape is made of (see features).
CLASS_TABLE = bytes(
    _ascii_class(code).bit_length() if code < 128 else Char.NON_ASCII.bit_length() for code in range(256)
)
_CLASS_BIT = tuple(1 << number >> 1 for number in range(Char.NON_ASCII.bit_length() + 1))
_WILDCARD_ONLY = frozenset("*%?._ ")
# The patterns run on lower-cased text and start with a literal, which lets `re` skip ahead to candidate
# positions instead of trying every one: over 10x faster on a long SQL string than re.IGNORECASE with a
# leading word boundary. _tautology checks that boundary itself.
_SQL_TAUTOLOGY = re.compile(r"""or\s+(?:true\b|(['"]?)(\w*)\1\s*(?:=|like)\s*['"]?\2(?!\w))""")
_SQL_STACKED = re.compile(r";\s*(?:drop|delete|insert|update|alter|truncate|create|grant|exec|shutdown)\b")
_SQL_UNION = re.compile(r"union\s+(?:all\s+)?select\b")
# An opaque encoded run (base64, base64url, hex) long enough to carry data rather than name something: a
# query parameter or a field that suddenly carries one is how data is smuggled out in an allowed call.
ENCODED_RUN = 32
_ENCODED = re.compile(rf"[A-Za-z0-9+_=-]{{{ENCODED_RUN},}}")


def classes_of(text: str) -> bytes:
    """`text` with every character replaced by its class (see CLASS_TABLE)."""
    return text.encode("utf-8", "surrogatepass").translate(CLASS_TABLE)


def string_chars(text: str, classes: bytes | None = None) -> int:
    """The `Char` bits of a string: its character classes plus any attack tokens it contains. `classes`
    is `classes_of(text)` when the caller has it already."""
    mask = 0
    bits = _CLASS_BIT
    for number in set(classes_of(text) if classes is None else classes):
        mask |= bits[number]
    if mask & ~_ALPHANUMERIC:
        mask |= _tokens(text, mask)
    if len(text) >= ENCODED_RUN and any(map(_encoded, _ENCODED.findall(text))):
        mask |= Char.ENCODED
    return mask


def _encoded(run: str) -> bool:
    """Whether a run of base64/hex alphabet looks like encoded data: hex, or upper case, lower case and
    digits mixed with few separators (hyphenated words and slugs have many, encoded data about 3%)."""
    if all(c in "0123456789abcdef" for c in run.lower()) and not run.isalpha():
        return not run.isdigit()
    digits = sum(c.isdigit() for c in run)
    separators = sum(c in "+_=-" for c in run)
    return digits >= 2 and not run.islower() and not run.isupper() and separators * 10 <= len(run)


def _tokens(text: str, mask: int) -> int:
    """Attack tokens, each searched only when the characters it needs are present (most values lack them)."""
    found = 0
    lowered = text.lower()
    if mask & Char.WILDCARD:
        if set(text.strip()) <= _WILDCARD_ONLY:
            found |= Char.ONLY_WILDCARD
        if "%2e%2e" in lowered:
            found |= Char.PATH_TRAVERSAL
    # Every secret file name has a dot, a slash or an underscore (`.env`, `id_rsa`): dates and ids do not.
    if not mask & Char.SPACE and (mask & Char.SLASH or "." in text or "_" in text) and secret_path(text):
        found |= Char.SECRET_PATH
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
