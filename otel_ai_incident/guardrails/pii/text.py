"""What every recogniser reads from a text: the facts computed once per scan, and the cheap gates built on them.

Most replies contain no PII, so each recogniser first asks a question that costs a substring test (is there
an "@", are there enough digits, does a token prefix occur at all) and only then runs its regex.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from otel_ai_incident.guardrails.pii import validators

# Country code and check digits, then groups of four; either case, as people type them ("de89 3704 ...").
# The match starts at the check digits, the two letters are a lookbehind: the regex engine then tries only
# positions holding a digit, where starting at letters would try nearly every position of prose.
IBAN_SHAPE = re.compile(r"\d\d(?<=[A-Za-z]{2}\d\d)(?: ?[A-Za-z0-9]{4}){2,7}+(?: ?[A-Za-z0-9]{1,4})?")

_ASCII_DIGITS = b"0123456789"


def count_digits(text: str) -> int:
    """How many of the characters of `text` are ASCII digits. Deleting them from the UTF-8 bytes is one pass in
    C, where counting each digit is ten; no other character's encoding holds an ASCII byte, and lone surrogates
    pass through encoded instead of raising."""
    encoded = text.encode("utf-8", "surrogatepass")
    return len(encoded) - len(encoded.translate(None, _ASCII_DIGITS))


@dataclass(slots=True)
class TextView:
    """Facts about the text every gate needs, computed once per scan."""

    text: str
    lowered: str
    digits: int
    _iban_shapes: list[tuple[int, int]] | None = None
    table_tops: dict[tuple[int, str, int], int] = field(default_factory=dict)  # see `labels.label_of`

    @classmethod
    def of(cls, text: str) -> TextView:
        return cls(text, text.lower(), count_digits(text))

    def iban_shapes(self) -> list[tuple[int, int]]:
        """Spans of IBAN-shaped codes with a known country prefix, found once for both users of them."""
        if self._iban_shapes is None:
            text = self.text
            self._iban_shapes = [
                (m.start() - 2, m.end())
                for m in IBAN_SHAPE.finditer(text)
                if text[m.start() - 2 : m.start()].upper() in validators.IBAN_LENGTHS
            ]
        return self._iban_shapes

    def inside_iban_shape(self, index: int) -> bool:
        """Whether `index` falls inside an IBAN-shaped code, whose digits are no number of their own."""
        shapes = self.iban_shapes()
        at = bisect.bisect_left(shapes, (index,)) - 1
        return at >= 0 and shapes[at][1] > index


Gate = Callable[[TextView], bool]


def any_of(hint: str, *more: str) -> Gate:
    """A gate passing when one of the lower-case hints (`hint` or one of `more`) occurs in the text.

    Several hints are searched as one alternation, a single pass in C, rather than one substring test each
    from Python: the gates of the secret patterns run on every reply with a long token-like run.
    """
    if not more:
        return lambda view: hint in view.lowered
    search = re.compile("|".join(map(re.escape, (hint, *more)))).search
    return lambda view: search(view.lowered) is not None


# Scripts written without spaces between words (Japanese kana, CJK ideographs, Hangul, whose particles attach
# to the word before, Thai, Lao, Myanmar, Khmer, full-width forms): a letter of one next to a value does not
# make the value part of a word. "メールはtaro@example.jpです", "電話は03-1234-5678です".
UNSPACED = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff00-\uffef"
_UNSPACED_CHAR = re.compile(f"[{UNSPACED}]")


def unspaced(char: str) -> bool:
    """Whether `char` belongs to a script written without spaces between words."""
    return _UNSPACED_CHAR.match(char) is not None


def alnum_at(text: str, index: int) -> bool:
    """Whether `text[index]` exists and is a letter or digit of a spaced script: a match touching one is
    glued to a word."""
    return 0 <= index < len(text) and text[index].isalnum() and not unspaced(text[index])
