"""PHONE: whether a window of digit groups is written the way phone numbers are, and a numbering plan has it.

Shape comes first (digit counts, dates, times, amounts, "order no." context), because it costs string tests;
only a window shaped like a phone number is read as a number of a region and checked against its plan.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import phonenumbers

from otel_ai_incident.guardrails.pii.digit_runs import IPV4_SHAPE, SSN_SHAPE, Window
from otel_ai_incident.guardrails.pii.labels import label_of

# National numbers (no "+" or "00") are read as numbers of these regions, each written its own way (see
# `NationalPlan`), and always as NANP numbers (US, Canada, ...).
DEFAULT_PHONE_REGIONS: tuple[str, ...] = (
    "GB",
    "DE",
    "FR",
    "IT",
    "ES",
    "AU",
    "IN",
    "NL",
    "IE",
    "BE",
    "AT",
    "CH",
    "PL",
    "PT",
    "BR",
    "JP",
)

_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_MONTH = r"(?:0?[1-9]|1[0-2])"
_DATE = re.compile(
    rf"(?<![\d./\-])(?:(?:19|20)\d\d([./\-]){_MONTH}\1{_DAY}|{_DAY}([./\-]){_DAY}\2(?:19|20)?\d\d)(?![./\-]?\d)"
)
# A number right after one of these words (and "no.", "number", "id" or "code", then perhaps "is") is theirs.
# A bare "is" does not count: "the phone on the account is 303-..." names the account, not the number.
_NEGATIVE_CONTEXT = re.compile(
    r"(?:\b(?:order|invoice|tracking|track|ticket|ref|reference|account|acct|case|confirmation|booking|"
    r"reservation|sku|serial|part|po|transaction|txn|id|isbn|fedex|ups|usps|dhl|shipment|parcel|package|"
    r"room|ext|extension|pin|zip|postcode|ein|tin|tax|vat|commit|sha|hash|digest|checksum|revision|rev|build|"
    r"version|changeset|lat|latitude|lon|lng|longitude|coordinates|coords|gps)|#)[^a-z]{0,12}"
    r"(?:(?:no|nr|number|num|id|code)\b[^a-z]{0,6}(?:is\b[^a-z]{0,6})?){0,2}\Z"
)
_PHONE_CONTEXT = re.compile(
    r"\b(?:call|calling|phone|tel|telephone|mobile|cell|fax|text|sms|whatsapp|dial|reach|contact|ring|"
    r"hotline|helpline|landline)\b"
)
# Amounts written with space-separated thousands (912 345 678 EUR) have the shape of many national numbers.
_CURRENCY_BEFORE = re.compile(r"(?:[$€£¥₹]|\b(?:eur|usd|gbp|chf|inr|rs)\.?)\s?\Z")
_UNIT_AFTER = re.compile(
    r"\s?(?:[$€£¥₹%]|(?i:eur|euros?|usd|dollars?|gbp|pounds|chf|inr|rupees|people|inhabitants|residents|users|"
    r"visitors|customers|items|units|rows|records|bytes|km|kg|miles|tons|votes|views|downloads|points|pts)\b)"
)
_NOT_PHONE_LABELS = frozenset(
    [
        "commit",
        "sha",
        "hash",
        "digest",
        "checksum",
        "revision",
        "rev",
        "build",
        "version",
        "changeset",
        "lat",
        "latitude",
        "lon",
        "lng",
        "longitude",
        "coordinates",
        "coords",
        "gps",
    ]
)
# A decimal fraction as coordinates are written ("151.209290", "-0.1276474", "35.6895 139.6917"): a whole part
# of 0 or of one to three digits without a leading zero (trunk prefixes and area codes open with "0"), a dot
# and four or more decimals.
_DECIMAL = re.compile(r"(?<![\d.])(?:0|[1-9]\d{0,2})\.\d{4,}(?![\d.])")
_NANP_SHAPES = ((3, 3, 4), (1, 3, 3, 4))
_EIN_SHAPE = (2, 7)  # a US employer identification number, 12-3456789; no numbering plan groups a phone so
# 555-0100 to 555-0199 are reserved by the NANP for fiction and examples: never a real line.
_NANP_FICTIONAL = re.compile(r"(?:1?\d{3})?55501\d\d")
_ONE_DIGIT_LEADS = "01"  # a national number opens with one digit only for a trunk prefix: "1 415 ...", "0 98765 ..."


# First digits a national significant number may have: (after the trunk prefix, when written without it).
# Regions absent here need their trunk prefix, or, having none, allow any first digit. Writing numbers without
# the trunk prefix is a national habit: NANP numbers seldom show the "1", Indian mobiles drop the "0".
_LEADS: dict[str, tuple[str, str]] = {
    "US": ("23456789", "23456789"),  # area codes never start with 0 or 1
    "IN": ("123456789", "6789"),
    "IT": ("", "03"),  # no trunk prefix: fixed lines keep their 0, mobiles start with 3
    "ES": ("", "6789"),
    "PT": ("", "29"),  # no trunk prefix: fixed lines start with 2, mobiles with 9
    "BR": ("123456789", "123456789"),  # written without the trunk "0", and only with the area in parentheses
}
# Regions whose numbers written without a trunk prefix count only with the area code in parentheses,
# "(11) 91234-5678": bare digits of that length are too often something else.
_BARE_NEEDS_PARENTHESES = frozenset({"BR"})


@dataclass(frozen=True, slots=True)
class NationalPlan:
    """How one region writes national numbers, so digits become its number without `phonenumbers.parse`.

    The trunk-prefix, first-digit and length checks are exact and cost a few string operations; only a
    reading that passes them reaches the numbering-plan check, which costs microseconds.
    """

    region: str
    country_code: int
    trunk: str
    trunk_leads: str
    bare_leads: str
    lengths: frozenset[int]
    bare_needs_parentheses: bool = False

    @classmethod
    def of(cls, region: str) -> NationalPlan:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        if metadata is None:
            raise ValueError(f"unknown phone region {region!r}")
        trunk = metadata.national_prefix or ""
        trunk_leads, bare_leads = _LEADS.get(region, ("123456789", "") if trunk else ("", string.digits))
        lengths = frozenset(metadata.general_desc.possible_length)
        return cls(
            region,
            metadata.country_code,
            trunk,
            trunk_leads,
            bare_leads,
            lengths,
            region in _BARE_NEEDS_PARENTHESES,
        )

    def may_read(self, lead: str) -> bool:
        """Whether a national number whose first digit is `lead` may be written this region's way."""
        return self.trunk[:1] == lead or lead in self.bare_leads

    def reading(self, digits: str, parenthesised: bool) -> phonenumbers.PhoneNumber | None:
        """The number `digits` denote in this region, if they are written the way this region writes numbers;
        `parenthesised` says whether the written number opens with an area code in parentheses."""
        national = digits[len(self.trunk) :] if self.trunk and digits.startswith(self.trunk) else ""
        if not (national and national[0] in self.trunk_leads):
            bare = digits[0] in self.bare_leads and (parenthesised or not self.bare_needs_parentheses)
            national = digits if bare else ""
        if len(national) not in self.lengths:
            return None
        leading_zero = True if national[0] == "0" else None  # kept in Italy, where it is part of the number
        return phonenumbers.PhoneNumber(
            country_code=self.country_code, national_number=int(national), italian_leading_zero=leading_zero
        )


class PhoneClassifier:
    """Judges windows as phone numbers of the given regions; builds their plans once, metadata loaded."""

    __slots__ = ("_plans_by_lead",)

    def __init__(self, phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS) -> None:
        plans = [NationalPlan.of(region) for region in dict.fromkeys([*phone_regions, "US"])]
        self._plans_by_lead = {lead: tuple(p for p in plans if p.may_read(lead)) for lead in string.digits}
        for plan in plans:  # load metadata now, not on a request path
            phonenumbers.example_number(plan.region)

    def classify(self, window: Window) -> str | None:
        """The subtype ("international" or "national") when the window is a phone number, else None."""
        international = window.value.startswith("+")
        if not _phone_shaped(window, international):
            return None
        # A number written as NANP numbers are, (415) 555-2671, is a phone even in an unassigned area
        # such as the 555 of fiction and examples; other numbers must be valid unless the text says phone.
        lenient = international or window.lengths in _NANP_SHAPES or window.run.before_has(_PHONE_CONTEXT)
        if _nanp_fictional(window.digits, international):
            return None
        for number, region in self._readings(window.value, window.digits):
            if _possible(number) and (lenient or _valid(number, region)):
                return None if _named_otherwise(window) else "international" if international else "national"
        return None

    def _readings(self, value: str, digits: str) -> Iterator[tuple[phonenumbers.PhoneNumber, str | None]]:
        """The numbers `value` may denote, each with its region: itself when international ("+" or "00", region
        unknown), else the national number of each region whose way of writing numbers it fits. Numbers are
        built directly: `phonenumbers.parse` costs more than all the checks that follow."""
        if value.startswith("+") or digits.startswith("00"):
            for number in _international_readings(digits.removeprefix("00")):
                yield number, None
            return
        parenthesised = value.startswith("(")
        for plan in self._plans_by_lead[digits[0]]:
            number = plan.reading(digits, parenthesised)
            if number is not None:
                yield number, plan.region


def _international_readings(digits: str) -> Iterator[phonenumbers.PhoneNumber]:
    """The number after "+" or "00". Country codes are prefix-free, so the first prefix that is one is the
    code; a trunk prefix written after it, as in "+44 (0)20 ...", is read both dropped and kept."""
    size = next((size for size in (1, 2, 3) if int(digits[:size]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE), 0)
    national = digits[size:]
    if not size or not national:
        return
    code = int(digits[:size])
    trunk = _trunk_prefix(code)
    if trunk and national.startswith(trunk) and len(national) > len(trunk):
        yield phonenumbers.PhoneNumber(country_code=code, national_number=int(national[len(trunk) :]))
    leading_zero = True if national[0] == "0" else None
    yield phonenumbers.PhoneNumber(country_code=code, national_number=int(national), italian_leading_zero=leading_zero)


@functools.cache
def _trunk_prefix(country_code: int) -> str:
    """The national (trunk) prefix of the main region of a country code, "" if it has none."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(phonenumbers.region_code_for_country_code(country_code))
    return (metadata.national_prefix or "") if metadata is not None else ""


def _possible(number: phonenumbers.PhoneNumber) -> bool:
    """`phonenumbers.is_possible_number(number)`, which looks at the country code and the length of the national
    significant number only ("it only checks the length of phone numbers"): asked once per pair."""
    return _possible_length(number.country_code, len(phonenumbers.national_significant_number(number)))


@functools.cache
def _possible_length(country_code: int, length: int) -> bool:
    """Whether the plan of `country_code` has national significant numbers of `length` digits. The pairs are
    bounded: a few hundred country codes, and a window holds at most 19 digits."""
    return phonenumbers.is_possible_number(
        phonenumbers.PhoneNumber(country_code=country_code, national_number=int("1" * length))
    )


def _valid(number: phonenumbers.PhoneNumber, region: str | None) -> bool:
    """Whether the numbering plan assigns `number`. NANP numbers belong to ~25 regions and international
    ones to any, so only the full lookup knows; for other national readings the known region halves the cost."""
    if region is None or number.country_code == 1:
        return phonenumbers.is_valid_number(number)
    return phonenumbers.is_valid_number_for_region(number, region)


def _named_otherwise(window: Window) -> bool:
    """Whether a number in one group or with dots, the shapes digests and coordinates share with phone
    numbers, sits under a key or table column naming a digest or a coordinate ("commit,lat\n8412097,...")."""
    if len(window.lengths) > 1 and "." not in window.separators:
        return False
    return not _NOT_PHONE_LABELS.isdisjoint(label_of(window.run.text, window.start, window.run.view.table_tops))


def _nanp_fictional(digits: str, international: bool) -> bool:
    """A NANP number (no trunk "0"; "+1" when international) on a line reserved for fiction."""
    nanp = digits.startswith("1") if international else digits[0] != "0"
    return nanp and _NANP_FICTIONAL.fullmatch(digits) is not None


def _phone_shaped(window: Window, international: bool) -> bool:
    """Whether the window may be written as a phone number is, before any numbering plan is asked.

    Rejects, cheapest first: wrong digit counts, times, dates, dotted quads, decimal fractions
    ("151.209290"), the SSN grouping, single groups nobody calls a phone (unless the text says phone),
    national numbers that open with a lone digit other than a trunk prefix ("7 14 21 33 42") or are
    written in pairs without the trunk "0" that pairs follow ("20 27 35 47 49"), then, as the patterns
    on the context cost most, numbers after "order"-like, digest or coordinate words and national numbers
    that are amounts ("EUR 912 345 678", "67 750 000 people").
    """
    digits, lengths, run = window.digits, window.lengths, window.run
    if not 7 <= len(digits) <= 15 or window.time_follows or lengths in (SSN_SHAPE, _EIN_SHAPE):
        return False
    if _dotted_or_dashed(window.separators) and (
        _DATE.search(window.value) or IPV4_SHAPE.fullmatch(window.value) or _DECIMAL.search(window.value)
    ):
        return False
    if len(lengths) == 1 and not (international or run.before_has(_PHONE_CONTEXT)):
        return False
    if not international and (
        (lengths[0] == 1 and digits[0] not in _ONE_DIGIT_LEADS) or (max(lengths) <= 2 and digits[0] != "0")
    ):
        return False
    if run.before_has(_NEGATIVE_CONTEXT):
        return False
    return international or (not run.before_has(_CURRENCY_BEFORE) and _UNIT_AFTER.match(run.text, window.end) is None)


def _dotted_or_dashed(separators: str) -> bool:
    """Whether a date, a dotted quad or a decimal fraction may hide in a window with these separators: each
    needs a ".", "-" or "/" between its digits. Most phone-shaped windows use spaces, and skip three regexes."""
    return "." in separators or "-" in separators or "/" in separators
