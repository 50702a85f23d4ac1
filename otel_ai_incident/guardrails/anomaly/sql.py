"""The shape of a SQL statement passed as a tool argument: what it does and to which tables.

A query's text is new on every call (ids, dates, limits), but its shape repeats: a reporting tool runs
`select` with a `where` on three tables. A `drop`, a `delete` without `where`, a `truncate`, or a table the
tool never touched is what destructive and exfiltrating SQL looks like, whether or not it comes stacked
behind a `;` (that and comments are character-level tokens, see `chars`).
"""

from __future__ import annotations

import re

# The first keyword of a statement, and the word that must follow somewhere for it to be SQL rather than
# prose starting with the same verb ("update my address", "create a ticket").
_STATEMENTS = {
    "select": " from ",
    "with": " as ",
    "insert": " into ",
    "update": " set ",
    "delete": " from ",
    "drop": " ",
    "truncate": " ",
    "alter": " ",
    "create": " ",
    "grant": " on ",
    "revoke": " on ",
    "replace": " into ",
    "merge": " into ",
}
# What a string must start with to be looked at at all: a cheap first-character test, then one match.
SQL_INITIALS = frozenset("".join(verb[0] + verb[0].upper() for verb in _STATEMENTS) + " (\n\t")
SQL_START = re.compile(rf"[\s(]*(?:{'|'.join(_STATEMENTS)})\s", re.IGNORECASE)
_FIRST_WORD = re.compile(r"\s*\(?\s*([a-z]+)\s")
# Without a leading word boundary `re` can skip ahead to each keyword's first letter: several times faster
# on a long statement, at the cost of also reading "xfrom y" as a table, which statements do not contain.
_TABLES = re.compile(r"(?:from|join|into|update|table|truncate)\s+(?:table\s+)?([a-z_][\w.$]*)")
_SPACES = str.maketrans("\n\t\r", "   ")
_STRUCTURE = frozenset(("table", "database", "schema", "index", "view", "user", "role", "function"))


def statement(lowered: str) -> tuple[str, str] | None:
    """(kind, tables) of a lower-cased SQL statement, or None for text that is not one. The kind is the
    first keyword, with `:where` when a `where` clause is present for `select`, `update` and `delete`, or
    the object after `drop`/`truncate`/`alter`/`create`; tables are the sorted names read or written."""
    match = _FIRST_WORD.match(lowered)
    if match is None or match.group(1) not in _STATEMENTS:
        return None
    verb = match.group(1)
    rest = lowered[match.end() - 1 :]
    if "\n" in rest or "\t" in rest or "\r" in rest:
        rest = rest.translate(_SPACES)
    if _STATEMENTS[verb] not in rest + " ":
        return None
    kind = verb
    if verb in ("select", "update", "delete", "with"):
        kind += ":where" if " where " in rest + " " else ":all"
    elif verb in ("drop", "truncate", "alter", "create"):
        word = rest.split(None, 1)[0] if rest.strip() else ""
        kind += ":" + (word if word in _STRUCTURE else "table" if verb == "truncate" else "other")
    tables = sorted(set(_TABLES.findall(lowered)) - _STRUCTURE)
    return kind, ",".join(tables)
