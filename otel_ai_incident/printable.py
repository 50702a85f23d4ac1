"""Text from alerts and records made safe to show: label values and notes are written by whoever can post an
alert or record a note, so they must not drive a terminal (escape sequences that rewrite the screen, a
carriage return that hides a line, bidirectional overrides that reorder it) nor inject HTML into a
post-mortem rendered as Markdown.
"""

from __future__ import annotations

import html
import unicodedata

# Format characters that reorder or hide what follows (bidirectional embeddings, overrides and isolates).
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def for_terminal(text: object) -> str:
    """`text` with every control character (newlines too) and bidi control shown as an escape, e.g. `\\x1b`."""
    value = str(text)
    if value.isprintable():
        return value
    return "".join(_escape(c) if _unsafe(c) else c for c in value)


def for_markdown(text: object) -> str:
    """`text` for Markdown: control characters escaped as for a terminal, and HTML shown, never rendered."""
    return html.escape(for_terminal(text), quote=False)


def _unsafe(char: str) -> bool:
    return unicodedata.category(char) == "Cc" or char in _BIDI_CONTROLS


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
