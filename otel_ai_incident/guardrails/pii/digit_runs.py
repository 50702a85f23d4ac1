"""Runs of digit groups in a text, and the windows of consecutive groups that may each be one number.

All digit-based entities (phone, card, SSN, IPv4) share one pass: a run of digit groups is found once and
each entity's classifier judges windows cut from it, which also lets a run that holds two things (a card
then its expiry month) be split at a space.
"""

from __future__ import annotations

import re
from itertools import accumulate

from otel_ai_incident.guardrails.pii.text import UNSPACED, TextView

# One run of digit groups: "+44 (0)20 7946 0958", "4111-1111-1111-1111", "10.0.0.1", "123 45 6789".
_GROUP = r"(?:\(\d{1,5}\)|\d++)"
# A run opens with "+", "(" or a digit; the regex says so first, so the engine skips other characters in C
# without entering the pattern, then reads the first group on from what that character was. The lookahead
# skips, in C, runs too short to hold any entity (most numbers in prose: "3 steps", "2024").
# A slash parts an area code that opens with the trunk "0" from the subscriber number ("030/1234567").
_AREA_SLASH = r"(?:(?<=\b0\d)|(?<=\b0\d\d)|(?<=\b0\d{3})|(?<=\b0\d{4})|(?<=\b0\d{5}))/"
_FIRST_GROUP = rf"[\d+(](?=[\d+() .\-/]{{6}})(?:(?<=\+){_GROUP}|(?<=\()\d{{1,5}}\)|(?<=\d)\d*+)"
NUMBER_RUN = re.compile(rf"{_FIRST_GROUP}(?:(?:[ .\-]|(?<=\))|{_AREA_SLASH}){_GROUP})*+")
_GROUP_SPANS = re.compile(r"\+?\(?(?P<digits>\d+)\)?")
_DIGITS = re.compile(r"(\d+)")
# A run glued to a word, path or another number is part of an identifier, not an entity of its own. Letters of
# scripts written without spaces between words (Japanese, Chinese, Korean, full-width forms) do not glue:
# "電話は03-1234-5678です". Nor does the dot ending an abbreviated label ("Card no.5444 ...", "Ph.+39 ...").
_WORD = rf"(?![{UNSPACED}])[\w@]"
_LEFT_GLUE = re.compile(rf"(?:{_WORD}|(?<!/)/|[\d_][.\-]|[^\W\d_]-)\Z")  # "//" starts a URL's host: no glue
# Characters before a run that none of the glue patterns ends with: what most runs follow.
_NEVER_GLUE = frozenset(" \n\t\r\"'`:;,=([{<>|*#")
_RIGHT_GLUE = re.compile(rf"(?!x\d)(?:{_WORD}|[.\-/]\w)")  # "x12" is an extension, not part of the number
# A comma then more is a decimal or thousands separator ("12 345 678,90"), except after a value that opens a
# field of comma-separated text, where it separates fields ("Jane,0301234567,42"). Where semicolons, tabs or
# pipes separate fields, a comma stays a decimal comma ("Betrag;612 345 678,00").
_COMMA_GLUE = re.compile(r",\w")
_COMMA_FIELD_OPENERS = "\n,"
_CIDR_PREFIX = re.compile(r"/(?:3[0-2]|[12]?\d)(?![\w.])")  # the "/24" of 10.0.0.0/24 ends the address
_TIME_AFTER = re.compile(r":\d")
# Characters after a run that none of the glue, comma, CIDR and time patterns above can start with.
_ENDS_CLEAN = frozenset(["", " ", "\n", "\t", "\r", '"', "'", ";", "|", ")", "]", "}", "<", ">", "*", "`"])
MAX_RUN = 64
MIN_WINDOW_DIGITS, MAX_WINDOW_DIGITS = 4, 19  # the shortest entity is an IPv4 address, the longest a card
# No entity is written in more groups: "+33 (0)6 12 34 56 78" has seven. Bounding
# windows keeps a run of many small numbers ("1 2 3 4 5 ...") from costing a classification per window.
_MAX_WINDOW_GROUPS = 7
IPV4_SHAPE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
SSN_SHAPE = (3, 2, 4)  # no numbering plan groups a phone number so; a failed SSN check does not make one
_CONTEXT_CHARS = 40


def glued_left(text: str, start: int) -> bool:
    """Whether the run starting at `start` continues a word, a path or another number."""
    if start == 0 or text[start - 1] in _NEVER_GLUE:
        return False
    return _LEFT_GLUE.search(text, max(0, start - 2), start) is not None


class DigitRun:
    """A run of digit groups and what surrounds it, shared by every window cut from it.

    Group `i` is `digits[i]`, written at `text[starts[i]:ends[i]]` with its "+" and parentheses;
    `separators[i]` stands between groups `i` and `i + 1`.
    """

    __slots__ = (
        "_before",
        "_context_hits",
        "digits",
        "ends",
        "glued",
        "plain",
        "separators",
        "start",
        "starts",
        "text",
        "time_follows",
        "view",
    )

    def __init__(self, view: TextView, start: int, end: int) -> None:
        self.view = view
        self.text = text = view.text
        self.start = start
        self._context_hits: dict[re.Pattern[str], bool] | None = None
        written = text[start:end]
        if "(" in written or ")" in written:
            self._read_groups(start, end)
        else:  # split in C: the runs of digits, and between them the one-character separators
            pieces = _DIGITS.split(written)
            offsets = list(accumulate(map(len, pieces), initial=start))
            self.starts = offsets[1::2]
            self.starts[0] = start  # with the "+" that may open the run
            self.ends = offsets[2::2]
            self.digits = pieces[1::2]
            self.separators = pieces[2:-1:2]
            self.plain = [not pieces[0]] + [True] * (len(self.digits) - 1)
        if text[end : end + 1] in _ENDS_CLEAN:  # the end of the text, a line, a cell or a quote: the common case
            self.glued = self.time_follows = False
            return
        cidr = _CIDR_PREFIX.match(text, end) is not None and IPV4_SHAPE.fullmatch(text, start, end) is not None
        opens_field = start == 0 or text[start - 1] in _COMMA_FIELD_OPENERS
        comma_glued = not opens_field and _COMMA_GLUE.match(text, end) is not None
        self.glued = (comma_glued or _RIGHT_GLUE.match(text, end) is not None) and not cidr
        self.time_follows = _TIME_AFTER.match(text, end) is not None

    def _read_groups(self, start: int, end: int) -> None:
        """The groups of a run with an area code in parentheses, "(0)" or "(415)", each with its brackets."""
        text = self.text
        matches = list(_GROUP_SPANS.finditer(text, start, end))
        self.starts = [match.start() for match in matches]
        self.ends = [match.end() for match in matches]
        self.digits = [match["digits"] for match in matches]
        self.plain = [b - a == len(group) for a, b, group in zip(self.starts, self.ends, self.digits, strict=True)]
        self.separators = [text[a:b] for a, b in zip(self.ends, self.starts[1:], strict=False)]

    def before_has(self, pattern: re.Pattern[str]) -> bool:
        """Whether `pattern` occurs in the context before the run: the line or field it opens, at most 40
        characters, lower case. Read and remembered per run on the first question: every window cut from it
        may ask again, the context patterns (word lists ending at the value) cost microseconds each, and most
        runs are judged without any."""
        hits = self._context_hits
        if hits is None:
            before = self.text[max(0, self.start - _CONTEXT_CHARS) : self.start]
            # Context ends at a line or field break: a word on the line above or in the next cell names another value.
            self._before = before[max(before.rfind("\n"), before.rfind("\t")) + 1 :].lower()
            hits = self._context_hits = {}
        hit = hits.get(pattern)
        if hit is None:
            hit = hits[pattern] = pattern.search(self._before) is not None
        return hit

    def space_after(self, index: int) -> int | None:
        """The group after `index` when a single space separates them: only there may a new value start."""
        return index + 1 if index + 1 < len(self.digits) and self.separators[index] == " " else None

    def lasts(self, first: int) -> list[int]:
        """Indexes of the last group of windows starting at group `first`, longest first: the rest of the run
        (unless glued to what follows), then the run cut short at each space; at most `_MAX_WINDOW_GROUPS`.

        Cutting at a space drops what trails a value ("4111 1111 1111 1111 12/25", two phone numbers in a
        row); cutting at "-" or "." would invent a number from part of one.
        """
        last = len(self.digits) - 1
        limit = first + _MAX_WINDOW_GROUPS - 1
        lasts = [last] if not self.glued and last <= limit else []
        separators = self.separators
        for cut in range(min(last - 1, limit), first - 1, -1):
            if separators[cut] == " ":
                lasts.append(cut)
        return lasts


class Window:
    """A candidate: groups `first`..`last` of a run."""

    __slots__ = ("digits", "end", "first", "last", "lengths", "run", "separators", "start", "value")

    def __init__(self, run: DigitRun, first: int, last: int) -> None:
        self.run = run
        self.first = first
        self.last = last
        self.start = start = run.starts[first]
        self.end = end = run.ends[last]
        groups = run.digits[first : last + 1]
        self.digits = "".join(groups)
        self.lengths = tuple(map(len, groups))
        self.separators = "".join(run.separators[first:last])
        self.value = run.text[start:end]  # read by several checks of each classifier

    @property
    def is_plain(self) -> bool:
        """Every group is bare digits, without "+" or parentheses."""
        return all(self.run.plain[self.first : self.last + 1])

    @property
    def continues(self) -> bool:
        """More groups of the run follow after a space, and they are not glued to anything."""
        return self.last < len(self.run.digits) - 1 and not self.run.glued

    @property
    def time_follows(self) -> bool:
        return self.run.time_follows and self.last == len(self.run.digits) - 1
