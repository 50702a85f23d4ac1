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
VERBS = tuple(_STATEMENTS)
_FIRST_WORD = re.compile(r"\s*\(?\s*([a-z]+)\s")
_TABLES = re.compile(r"\b(?:from|join|into|update|table|truncate)\s+(?:table\s+)?([a-z_][\w.$]*)")
_STRUCTURE = frozenset(("table", "database", "schema", "index", "view", "user", "role", "function"))


def statement(lowered: str) -> tuple[str, str] | None:
    """(kind, tables) of a lower-cased SQL statement, or None for text that is not one. The kind is the
    first keyword, with `:where` when a `where` clause is present for `select`, `update` and `delete`, or
    the object after `drop`/`truncate`/`alter`/`create`; tables are the sorted names read or written."""
    match = _FIRST_WORD.match(lowered)
    if match is None or match.group(1) not in _STATEMENTS:
        return None
    verb = match.group(1)
    rest = " ".join(lowered[match.end() :].split())
    if _STATEMENTS[verb] not in f" {rest} ":
        return None
    kind = verb
    if verb in ("select", "update", "delete", "with"):
        kind += ":where" if " where " in f" {rest} " else ":all"
    elif verb in ("drop", "truncate", "alter", "create"):
        word = rest.partition(" ")[0]
        kind += ":" + (word if word in _STRUCTURE else "table" if verb == "truncate" else "other")
    tables = sorted(set(_TABLES.findall(f"{verb} {rest}")) - _STRUCTURE)
    return kind, ",".join(tables)
