"""The words that name a value in a text: the header of its table column, else its key or label.

A value's format alone cannot tell an API key from a digest, or a version number from an IPv4 address; what
the text calls the value can. Labels take the forms replies write them in: `key: value`, `key=value`,
`"key": "value"`, prose ("the Datadog API key is ..."), and a CSV, TSV, semicolon or markdown table whose
header names the column. Only candidates a recogniser already holds are looked up, so this runs rarely.
"""

from __future__ import annotations

import re

from otel_ai_incident.guardrails.pii.text import UNSPACED

_REACH = 80  # characters before a value searched for its label
_MAX_WORDS = 5
_MAX_ROW = 4096  # a longer line is read as no table row, so no text costs a walk over one huge line per value
# Between a label and its value: spaces, separators, quotes and the copulas of prose in the languages the
# scanner reads ("the key is", "der Schlüssel lautet", "la clé est", "キーは").
_BETWEEN_CHARS = " \t\"'`:=\uff1a>-\u2013\u2014\u2192"  # with the full-width colon, dashes and an arrow
_COPULAS = frozenset(("is", "was", "are", "now", "lautet", "ist", "est", "es", "è", "é", "är", "jest", "to", "wynosi"))
_PARTICLES = "はが"
# What ends a label, searched in the reversed text: brackets, quotes, field separators, the "=" of the pair
# before, "&" and "?" of a query, sentence ends ("." and a space, reversed).
_LABEL_START = re.compile(r"""[\"'{}\[\]()<>,;|\t=&?。、\uff01\uff1f]|\s[.!?]""")
_CELL_SEPARATORS = "\t|;,"
_LINE_OPENERS = " \t\"'`*->\u2022"  # indentation, quotes and bullets before a value alone on its line
# Headers of the value column of a key/value table, where the cell before names each value.
_GENERIC_HEADERS = frozenset(
    ["value", "values", "wert", "valeur", "valor", "valore", "waarde", "wartość", "värde", "値"]
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SCRIPT_CHANGE = re.compile(f"(?<=[A-Za-z0-9])(?=[{UNSPACED}])|(?<=[{UNSPACED}])(?=[A-Za-z0-9])")
_WORD_CHARS = re.compile(r"[^\W_]+")  # letters and digits: "_" and "-" part the words of keys


# Where the table holding a line starts, per (line start, separator, field count); one per scanned text, so
# the rows of a long table are walked once, not once per value.
TableTops = dict[tuple[int, str, int], int]


def label_of(text: str, start: int, tops: TableTops | None = None) -> list[str]:
    """The words naming the value at `text[start]`, lower case, at most five, the nearest last; [] if none.
    A value opening a cell of a table row is named by its column's header, else by the words before it.

    Camel case and the `_`, `-` and `.` of keys part words: "DD_API_KEY" and "ddApiKey" both give
    ["dd", "api", "key"]. `tops` remembers tables across calls on the same text. A value alone on its line
    is named by the line above when that ends with a colon ("Datadog API key:\n<value>").
    """
    line_start = text.rfind("\n", max(0, start - _MAX_ROW), start) + 1
    before = text[max(line_start, start - _REACH) : start]
    opened = before.rstrip(" \"'`")
    if (not opened or opened[-1] in _CELL_SEPARATORS) and (line_start or start <= _MAX_ROW):
        header = _column_header(text, line_start, start, {} if tops is None else tops)
        if header:
            return words(header)[-_MAX_WORDS:]
    if line_start and not before.strip(_LINE_OPENERS):
        above = text[text.rfind("\n", max(0, line_start - 1 - _REACH), line_start - 1) + 1 : line_start - 1]
        before = above if above.rstrip().endswith((":", "\uff1a")) else before
    before = _strip_between(before)
    cut = _LABEL_START.search(before[::-1])
    return words(before[len(before) - cut.start() if cut else 0 :])[-_MAX_WORDS:]


def _strip_between(before: str) -> str:
    """`before` without what stands between a label and its value, a remark in parentheses included
    ("Datadog API key (production): ...")."""
    while True:
        before = before.rstrip(_BETWEEN_CHARS)
        if before[-1:] in _PARTICLES and before:
            before = before[:-1]
            continue
        if before.endswith(")") and "(" in before:
            before = before[: before.rindex("(")]
            continue
        head, _, last = before.rpartition(" ")
        if last.lower() not in _COPULAS:
            return before
        before = head


def words(label: str) -> list[str]:
    """`label` split into lower-case words at case changes, script changes and non-letters."""
    if not label.islower():
        label = _CAMEL.sub(" ", label)
    if not label.isascii():
        label = _SCRIPT_CHANGE.sub(" ", label)
    return _WORD_CHARS.findall(label.lower())


def _column_header(text: str, line_start: int, start: int, tops: TableTops) -> str:
    """The header cell above the cell holding `start`, when its line is a row of a table: the top line of the
    block of lines around it with as many fields, split by the same separator."""
    line_end = text.find("\n", start, line_start + _MAX_ROW)
    if line_end < 0 and len(text) > line_start + _MAX_ROW:
        return ""
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    for separator in _CELL_SEPARATORS:
        if separator not in line:
            continue
        top = _table_top(text, line_start, separator, _field_count(line, separator), tops)
        if top == line_start:
            continue
        header = _fields(text[top : text.find("\n", top)], separator)
        column = _field_count(line[: start - line_start], separator) - 1
        if column and _GENERIC_HEADERS.issuperset(words(header[column]) or ["-"]):
            return _fields(line, separator)[column - 1]  # a key/value table: the key names the value
        return header[column]
    return ""


def _table_top(text: str, line_start: int, separator: str, field_count: int, tops: TableTops) -> int:
    """Where the first line of the block of lines ending at the one at `line_start` starts, every line of it
    having `field_count` fields split by `separator`; `line_start` itself when the line above differs."""
    walked = []
    top = line_start
    while (top, separator, field_count) not in tops and top > 0:
        begin = text.rfind("\n", 0, top - 1) + 1
        line = text[begin : top - 1]
        if separator not in line or _field_count(line, separator) != field_count:
            break
        walked.append(top)
        top = begin
    resolved = tops.get((top, separator, field_count), top)
    for line in (*walked, top):
        tops[line, separator, field_count] = resolved
    return resolved


def _field_count(line: str, separator: str) -> int:
    return line.count(separator) + 1 if '"' not in line else len(_fields(line, separator))


def _fields(line: str, separator: str) -> list[str]:
    """The fields of `line`; a separator inside double quotes (CSV quoting) splits nothing."""
    if '"' not in line:
        return line.split(separator)
    fields = []
    field_start = 0
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            fields.append(line[field_start:index])
            field_start = index + 1
    fields.append(line[field_start:])
    return fields
