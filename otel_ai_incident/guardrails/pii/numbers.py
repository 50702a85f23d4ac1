"""The number recogniser: PHONE, CREDIT_CARD, US_SSN and IPv4 from one pass over runs of digit groups.

A run is cut into windows (see `digit_runs`), each judged by the classifiers in turn; values are taken left
to right, so a run holding two values ("4111 1111 1111 1111 12/25", two phone numbers) yields each.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence

from otel_ai_incident.guardrails.pii import validators
from otel_ai_incident.guardrails.pii.digit_runs import (
    MAX_RUN,
    MAX_WINDOW_DIGITS,
    MIN_WINDOW_DIGITS,
    NUMBER_RUN,
    SSN_SHAPE,
    DigitRun,
    Window,
    glued_left,
)
from otel_ai_incident.guardrails.pii.findings import CREDIT_CARD, IP_ADDRESS, PHONE, US_SSN, Finding
from otel_ai_incident.guardrails.pii.labels import label_of
from otel_ai_incident.guardrails.pii.phones import DEFAULT_PHONE_REGIONS, PhoneClassifier
from otel_ai_incident.guardrails.pii.text import UNSPACED, TextView

# A window a classifier accepted: entity type, subtype, first and last group.
_Hit = tuple[str, str, int, int]
_MAX_LEAD_DIGITS = 3  # a short number before a value in the same run: an age, a count, a list index
_SSN_CONTEXT = re.compile(r"(?<![a-z])(?:ssn|social security)(?![a-z])")
# Words that number versions or parts of a document, in the languages the scanner reads: a dotted quad they
# name is no IPv4 address ("version 1.2.3.4", "Abschnitt 3.7.5.9", "§ 4.1.2.3", "v1.2.3.4", "バージョン").
_VERSION_WORDS = (
    r"versions?|ver|release|build|firmware|revision|rev|v|sections?|sec|clauses?|chapters?|ch|articles?|art|"
    r"paragraphs?|para|step|items?|rules?|figures?|fig|tables?|appendix|annex|requirements?|req|oid|"
    r"versión|versione|versie|wersja|wersji|versão|abschnitt|kapitel|artikel|absatz|ziffer|klausel|paragraphe|"
    r"chapitre|point|sección|apartado|capítulo|artículo|cláusula|punto|sezione|capitolo|articolo|paragrafo|"
    r"clausola|sectie|hoofdstuk|paragraaf|punt|clausule|sekcja|rozdział|punkt|artykuł|ustęp|klauzula|seção|"
    r"secção|artigo|avsnitt|klausul|バージョン|セクション|第|節|章|条|項"
)
# The word right before the quad, or before a list or range of such numbers ("sections 5.1.2.3 and 5.1.2.4").
_VERSION_CONTEXT = re.compile(
    rf"(?:(?<!(?![{UNSPACED}])[^\W\d_])(?:{_VERSION_WORDS})|§)\.?\s*"
    r"(?:\d+(?:\.\d+)*\s*(?:,|-|\u2013|and|or|to|through|und|oder|bis|et|ou|à|y|o|a|e|en|of|tot|i|och|lub|do)\s*)*\Z"
)
# Words after the name in a label that say nothing more: "Version number", "Section no.".
_NUMBER_WORDS = frozenset(
    ["number", "no", "nr", "num", "nummer", "numéro", "número", "numero", "numer", "番号", "string"]
)
_VERSION_LABEL = re.compile(_VERSION_WORDS)


class NumberRecognizer:
    """PHONE, CREDIT_CARD, US_SSN and IPv4 from one pass over runs of digit groups."""

    def __init__(self, entities: frozenset[str], phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS) -> None:
        phones = PhoneClassifier(phone_regions)  # built (and its metadata loaded) now, not on a request path
        classifiers: list[tuple[str, Callable[[Window], str | None]]] = [
            (IP_ADDRESS, _classify_ipv4),
            (CREDIT_CARD, _classify_card),
            (US_SSN, _classify_ssn),
            (PHONE, phones.classify),
        ]
        self._classifiers = tuple((kind, fn) for kind, fn in classifiers if kind in entities)
        self._min_digits = 4 if IP_ADDRESS in entities else 7

    def find(self, view: TextView) -> Iterator[Finding]:
        if view.digits < self._min_digits or not self._classifiers:
            return
        text = view.text
        iban_shaped = bool(view.iban_shapes())
        for match in NUMBER_RUN.finditer(text):
            start, end = match.span()
            if end - start > MAX_RUN or end - start < 7 or glued_left(text, start):
                continue
            if iban_shaped and view.inside_iban_shape(start):
                continue  # the digits of an IBAN-shaped code whose checksum failed
            values = self._values(DigitRun(view, start, end))
            if values:
                yield from values

    def _values(self, run: DigitRun) -> list[Finding]:
        """Values left to right. A value starts the run, follows a value, or follows one short number.

        A run grouped exactly as a card is printed ("3605 658999 9065") is a card or nothing: when the card
        checks fail, its first groups are no phone number."""
        if " " not in run.separators:  # no value starts after the first group: one window at most, the run
            lasts = run.lasts(0)
            hit = self._judge(run, 0, lasts[0]) if lasts else None
            if hit is None or (hit[0] == PHONE and _card_grouped(run)):
                return []
            return [Finding(hit[0], run.start, run.ends[hit[3]], hit[1])]
        hit = self._value_at(run, 0)
        if hit is not None and hit[0] == PHONE and _card_grouped(run):
            return []
        if _is_short_lead(run) and (hit is None or _lead_may_stand_apart(run, hit[3])):
            after_lead = self._value_at(run, 1)
            if after_lead is not None and (hit is None or self._lead_apart(run, after_lead[3], hit[3])):
                hit = after_lead
        values = []
        while hit is not None:
            kind, subtype, first, last = hit
            values.append(Finding(kind, run.starts[first], run.ends[last], subtype))
            following = run.space_after(last)
            hit = None if following is None else self._value_at(run, following)
        return values

    def _lead_apart(self, run: DigitRun, value_last: int, with_lead_last: int) -> bool:
        """Whether the value after a short lead is the better reading: the lead is set apart by a separator
        the value does not use ("33 305-370-2101"), or the value reaches further than the run read with its
        lead, whose remaining groups make no value ("85 022 2547 7511" read as "85 022 2547" and "7511")."""
        if run.separators[0] not in run.separators[1:value_last]:
            return True
        return value_last > with_lead_last and self._leaves_remainder(run, with_lead_last)

    def _value_at(self, run: DigitRun, first: int) -> _Hit | None:
        """The value starting at group `first`: the longest window accepted, unless it swallows the first
        group of a next value ("07557 371355 913 828 166"); then the shorter window that leaves it whole."""
        hit = self._longest_at(run, first)
        if hit is None or not self._leaves_remainder(run, hit[3]):
            return hit
        for last in run.lasts(first):
            shorter = None if last >= hit[3] else self._judge(run, first, last)
            if shorter is None:
                continue
            after = run.space_after(last)
            follow = None if after is None else self._longest_at(run, after)
            if follow is not None and follow[3] > hit[3]:
                return shorter
        return hit

    def _leaves_remainder(self, run: DigitRun, last: int) -> bool:
        """Whether groups follow group `last` in the run without a value of their own."""
        following = run.space_after(last)
        return following is not None and self._longest_at(run, following) is None

    def _longest_at(self, run: DigitRun, first: int) -> _Hit | None:
        """The longest window from group `first` that some classifier accepts."""
        for last in run.lasts(first):
            hit = self._judge(run, first, last)
            if hit is not None:
                return hit
        return None

    def _judge(self, run: DigitRun, first: int, last: int) -> _Hit | None:
        """What the first classifier to accept groups `first`..`last` takes them for, if any does."""
        window = Window(run, first, last)
        if window.end - window.start < 7 or not MIN_WINDOW_DIGITS <= len(window.digits) <= MAX_WINDOW_DIGITS:
            return None
        for kind, classify in self._classifiers:
            subtype = classify(window)
            if subtype is not None:
                return kind, subtype, first, last
        return None


def _is_short_lead(run: DigitRun) -> bool:
    """A run opening with a bare number of at most three digits that is neither the NANP trunk "1" nor
    opens with a trunk "0" (an area code): an age, a count."""
    lead = run.digits[0]
    if not run.plain[0] or len(lead) > _MAX_LEAD_DIGITS or lead == "1" or lead[0] == "0":
        return False
    return run.space_after(0) is not None


def _lead_may_stand_apart(run: DigitRun, with_lead_last: int) -> bool:
    """A cheap pre-check before reading the run without its lead: a run read whole with its lead, in one
    separator style ("415 555 2671"), needs no second reading."""
    return with_lead_last < len(run.digits) - 1 or run.separators[0] not in run.separators[1:with_lead_last]


def _card_grouped(run: DigitRun) -> bool:
    """Whether the whole run is 13-19 digits in the groups cards are printed in, one separator throughout."""
    lengths = tuple(map(len, run.digits))
    if not 13 <= sum(lengths) <= 19 or len(set(run.separators)) != 1 or run.separators[0] not in (" ", "-"):
        return False
    return lengths in _CARD_GROUPINGS or (all(n == 4 for n in lengths[:-1]) and len(lengths) >= 4)


def _classify_ipv4(window: Window) -> str | None:
    """A dotted quad `ipaddress` accepts, unless a version or section word names it.

    "version 1.2.3.4", "Build: 10.0.0.1", `"version": "1.2.3.4"` and a quad in a table column headed
    "Version" are release or document numbers far more often than hosts.
    """
    if len(window.lengths) != 4 or window.separators != "...":
        return None
    if not validators.ipv4_valid(window.value) or window.run.before_has(_VERSION_CONTEXT):
        return None
    label = label_of(window.run.text, window.start, window.run.view.table_tops)
    while label and label[-1] in _NUMBER_WORDS:
        label.pop()
    return None if label and _VERSION_LABEL.fullmatch(label[-1]) else "v4"


_CARD_GROUPINGS = ((4, 6, 5), (4, 6, 4))


def _classify_card(window: Window) -> str | None:
    """The issuer of a 13-19 digit number grouped as cards are printed, with Luhn and issuer range checks."""
    lengths = window.lengths
    if not 13 <= len(window.digits) <= 19 or window.continues:  # "4554 4745 1890 7893 511" is one number
        return None
    seps = set(window.separators)
    if len(seps) > 1 or seps - {" ", "-"} or not window.is_plain:
        return None
    if (
        len(lengths) > 1
        and lengths not in _CARD_GROUPINGS
        and (any(n != 4 for n in lengths[:-1]) or not 1 <= lengths[-1] <= 4)
    ):
        return None
    return validators.card_issuer(window.digits)


def _classify_ssn(window: Window) -> str | None:
    """AAA-GG-SSSS or AAA GG SSSS; nine bare digits only right after "SSN" or "social security"."""
    lengths = window.lengths
    if len(window.digits) != 9 or not window.is_plain:
        return None
    if lengths == SSN_SHAPE and window.separators in ("--", "  "):
        subtype = "dashed" if window.separators == "--" else "spaced"
    elif lengths == (9,) and window.run.before_has(_SSN_CONTEXT):
        subtype = "unformatted"
    else:
        return None
    return subtype if validators.ssn_valid(window.digits) else None
