"""Recognisers of entities written as text patterns: e-mail, IPv6 and IBAN, and the regex type that user
patterns and the secret patterns share.

Regexes start with a literal or a character class, so the regex engine skips ahead in C, and use possessive
quantifiers, so no input makes them backtrack catastrophically. Patterns that could start at any letter
(e-mail, IPv6) are tried only around a rare anchor character instead (`AnchoredRecognizer`).
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from otel_ai_incident.guardrails.pii import validators
from otel_ai_incident.guardrails.pii.findings import EMAIL, IBAN, IP_ADDRESS, Finding
from otel_ai_incident.guardrails.pii.text import UNSPACED, Gate, TextView, alnum_at, unspaced


@dataclass(frozen=True, slots=True)
class RegexRecognizer:
    """Findings of one regex, optionally confirmed by a check on the value.

    The span is the named group "value" when the regex has one (so `key=` context stays readable after
    redaction), else the whole match. `bounded` rejects matches glued to letters or digits on either side.
    """

    entity_type: str
    subtype: str | None
    pattern: re.Pattern[str]
    gate: Gate | None = None
    check: Callable[[str], bool] | None = None
    bounded: bool = False

    def find(self, view: TextView) -> Iterator[Finding]:
        if self.gate is not None and not self.gate(view):
            return
        text = view.text
        has_value = "value" in self.pattern.groupindex
        for match in self.pattern.finditer(text):
            start, end = match.span("value") if has_value else match.span()
            if start == end or (self.bounded and (alnum_at(text, start - 1) or alnum_at(text, end))):
                continue
            if self.check is not None and not self.check(text[start:end]):
                continue
            yield Finding(self.entity_type, start, end, self.subtype)


def _run_start(text: str, end: int, allowed: frozenset[str], limit: int, letters: bool) -> int:
    """Where the run of `allowed` characters (and of any letter or digit when `letters`) ending at `end`
    starts, looking back at most `limit` characters."""
    start = end
    floor = max(0, end - limit)
    while start > floor and (text[start - 1] in allowed or (letters and _letter_or_mark(text[start - 1]))):
        start -= 1
    return start


def _after_unspaced_words(text: str, start: int, end: int) -> int:
    """Where a run opening with words of a script written without spaces turns to Latin letters
    ("メールはtaro"): the words are the sentence around the value, the value starts there. Digits, dots and
    underscores continue a local part in that script ("山田.太郎", "さくら_2024")."""
    for index in range(end - 1, start, -1):
        if text[index] in _ASCII_LETTERS and unspaced(text[index - 1]):
            return index
    return start


_ASCII_LETTERS = frozenset(string.ascii_letters)


def _letter_or_mark(char: str) -> bool:
    return char.isalnum() or (not char.isascii() and unicodedata.category(char)[0] == "M")


class AnchoredRecognizer:
    """Matches of `pattern` around each hit of a rare `anchor` ("@" for e-mail, ":x:" for IPv6).

    Starting the regex at every letter of a long text is what makes these patterns slow; the anchor is
    found in C, the start of the match is found by walking back over `run_chars` (and any letter or digit of
    any script when `letters`, for internationalised e-mail addresses) at most `reach` characters, and
    the pattern is then tried once, bounded to `span_limit` characters. After a miss the search resumes
    past the `skip` run at the hit, which no match can start inside.
    """

    __slots__ = (
        "_anchor",
        "_check",
        "_group",
        "_letters",
        "_pattern",
        "_reach",
        "_run_chars",
        "_skip",
        "_span_limit",
        "entity_type",
        "subtype",
    )

    def __init__(
        self,
        entity_type: str,
        subtype: str | None,
        anchor: str,
        run_chars: str,
        reach: int,
        pattern: str,
        span_limit: int,
        check: Callable[[str], bool],
        skip: str,
        letters: bool = False,
    ) -> None:
        self.entity_type = entity_type
        self.subtype = subtype
        self._anchor = re.compile(anchor)
        self._run_chars = frozenset(run_chars)
        self._reach = reach
        self._pattern = re.compile(pattern)
        self._span_limit = span_limit
        self._check = check
        self._skip = re.compile(skip)
        self._letters = letters
        self._group = "value" if "value" in self._pattern.groupindex else 0  # the value, without context

    def find(self, view: TextView) -> Iterator[Finding]:
        text = view.text
        position = 0
        while (hit := self._anchor.search(text, position)) is not None:
            start = _run_start(text, hit.start(), self._run_chars, self._reach, self._letters)
            if self._letters and not text[start].isascii():
                start = _after_unspaced_words(text, start, hit.start())
            match = self._pattern.match(text, start, min(len(text), start + self._span_limit))
            if match is None or match.end() <= hit.start() or not self._check(match.group(self._group)):
                skipped = self._skip.match(text, hit.start())
                position = max(hit.start() + 1, skipped.end() if skipped else 0)
                continue
            position = match.end()
            yield Finding(self.entity_type, match.start(self._group), match.end(), self.subtype)


_EMAIL_LOCAL_CHARS = string.ascii_letters + string.digits + "._%+-"
# Local part and domain labels in any script (RFC 6531 and IDNA: "jürgen@bücher.de", "山田@例え.jp"), the
# top-level domain in ASCII letters, in letters of another script or as punycode ("xn--p1ai"): no top-level
# domain mixes scripts, so "taro@example.jpです" ends at "jp". Combining marks (the vowel signs of Indic
# scripts, "डाकघर.भारत") are no word characters to `re`, so they are named. A letter of a script written
# without spaces does not continue the address (`_WORD`).
_MARKS = "\u0300-\u036f\u0900-\u0dff"
_WORD = f"[^\\W{UNSPACED}]"
_EMAIL = (
    rf"(?<!{_WORD}|[{_MARKS}.%+\-])[\w%+\-][\w{_MARKS}.%+\-]{{0,63}}+"
    rf"@(?:[^\W_](?:[\w{_MARKS}\-]{{0,61}}[^\W_])?\.)+"
    rf"(?:[A-Za-z]{{2,24}}+|(?:[^\W\d_A-Za-z]|[{_MARKS}]){{2,24}}|xn--[a-z0-9\-]{{2,59}})"
    rf"(?!{_WORD}|[{_MARKS}\-]|\.[^\W_])"
)
# Names of files written as retina assets ("icon@2x.png") end like an address; no such top-level domain exists.
_FILE_SUFFIXES = frozenset(("png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "pdf", "tif", "tiff", "heic"))


def _email_ok(value: str) -> bool:
    local, _, domain = value.partition("@")
    return not (local.endswith(".") or ".." in local) and domain.rpartition(".")[2].lower() not in _FILE_SUFFIXES


def email_recognizer() -> AnchoredRecognizer:
    return AnchoredRecognizer(
        EMAIL, None, "@", _EMAIL_LOCAL_CHARS, 64, _EMAIL, 64 + 1 + 253, _email_ok, "@", letters=True
    )


class IbanRecognizer:
    """IBANs, compact or in groups of four; a candidate is cut to its country's length before mod-97.

    The cut lets "DE89 3704 0044 0532 0130 00 ABCD" still yield the IBAN when other codes follow it.
    """

    entity_type = IBAN

    def find(self, view: TextView) -> Iterator[Finding]:
        if view.digits < 2:  # the check digits; a BBAN may be all letters
            return
        text = view.text
        for start, stop in view.iban_shapes():
            country = text[start : start + 2].upper()
            if alnum_at(text, start - 1):
                continue
            end = _cut_after_alnum(text, start, stop, validators.IBAN_LENGTHS[country])
            if end is not None and not alnum_at(text, end) and validators.iban_valid(text[start:end]):
                yield Finding(IBAN, start, end, country)


def _cut_after_alnum(text: str, start: int, stop: int, count: int) -> int | None:
    """The index just past the `count`-th non-space character of text[start:stop], if there are enough."""
    seen = 0
    for index in range(start, stop):
        if text[index] != " ":
            seen += 1
            if seen == count:
                return index + 1
    return None


_HEX = "0123456789abcdefABCDEF"
# The address must not continue a word or a longer run of hex and colons, except the colon of a label glued
# to it ("IP:2001:db8::1"), which stays outside the value.
_IPV6 = (
    r"(?:(?<=[A-Za-z])(:)(?=[0-9A-Fa-f]{1,4}:))?"
    rf"(?P<value>[0-9A-Fa-f:](?(1)|(?<!{_WORD}[0-9A-Fa-f:]|[:.][0-9A-Fa-f:]))[0-9A-Fa-f:]{{1,38}}+"
    rf"(?:(?<=:)(?:\d{{1,3}}\.){{3}}\d{{1,3}})?(?:%[\w.]{{1,15}}+)?)(?!{_WORD}|:)"
)


def _is_ipv6(value: str) -> bool:
    """Whether `value` is an IPv6 address (`ipaddress` decides). Without "::" an address has eight groups, so
    seven colons, or six before an embedded IPv4 address; `ipaddress` rejects any other count by raising, which
    costs more than counting: MAC addresses ("00:1a:2b:3c:4d:5e") and times are turned away first."""
    address = value.partition("%")[0]  # the zone index holds no colon
    if "::" not in address and address.count(":") not in (6, 7):
        return False
    return any(ch.isdigit() for ch in value) and validators.ip_version(value) == 6


def ipv6_recognizer() -> AnchoredRecognizer:
    """IPv6 addresses (IPv4 is classified with the other digit groups), validated by `ipaddress`.

    Every IPv6 address has two colons at most four hex digits apart, which prose rarely does.
    """
    return AnchoredRecognizer(
        IP_ADDRESS, "v6", r":[0-9A-Fa-f]{0,4}:", _HEX, 4, _IPV6, 64, _is_ipv6, skip=r"[0-9A-Fa-f:]++"
    )
