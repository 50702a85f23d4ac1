"""The built-in recognisers: a cheap gate, one regex pass, then an exact check per candidate.

Most replies contain no PII, so each recogniser first asks a question that costs a substring test (is there
an "@", are there enough digits, does a token prefix occur at all) and only then runs its regex. Regexes
start with a literal or a character class, so the regex engine skips ahead in C, and use possessive
quantifiers, so no input makes them backtrack catastrophically.

All digit-based entities (phone, card, SSN, IPv4) share one pass: a run of digit groups is found once and
each entity's classifier judges it, which also lets a run that holds two things (a card then its expiry
month) be split at a space.
"""

from __future__ import annotations

import bisect
import functools
import re
import string
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import phonenumbers

from otel_ai_incident.guardrails import validators
from otel_ai_incident.guardrails.findings import (
    CREDIT_CARD,
    EMAIL,
    IBAN,
    IP_ADDRESS,
    PHONE,
    SECRET,
    US_SSN,
    Finding,
)

# National numbers (no "+" or "00") are read as numbers of these regions, each written its own way (see
# `_NationalPlan`), and always as NANP numbers (US, Canada, ...).
DEFAULT_PHONE_REGIONS: tuple[str, ...] = ("GB", "DE", "FR", "IT", "ES", "AU", "IN", "NL", "IE", "BE", "AT", "CH")


@dataclass(slots=True)
class TextView:
    """Facts about the text every gate needs, computed once per scan."""

    text: str
    lowered: str
    digits: int
    _iban_shapes: list[tuple[int, int]] | None = None

    @classmethod
    def of(cls, text: str) -> TextView:
        return cls(text, text.lower(), sum(map(text.count, "0123456789")))

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


def any_of(*hints: str) -> Gate:
    """A gate passing when one of the lower-case `hints` occurs in the text."""
    return lambda view: any(hint in view.lowered for hint in hints)


def _alnum_at(text: str, index: int) -> bool:
    return 0 <= index < len(text) and text[index].isalnum()


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
            if start == end or (self.bounded and (_alnum_at(text, start - 1) or _alnum_at(text, end))):
                continue
            if self.check is not None and not self.check(text[start:end]):
                continue
            yield Finding(self.entity_type, start, end, self.subtype)


def _run_start(text: str, end: int, allowed: frozenset[str], limit: int) -> int:
    """Where the run of `allowed` characters ending at `end` starts, looking back at most `limit` characters."""
    start = end
    floor = max(0, end - limit)
    while start > floor and text[start - 1] in allowed:
        start -= 1
    return start


class AnchoredRecognizer:
    """Matches of `pattern` around each hit of a rare `anchor` ("@" for e-mail, ":x:" for IPv6).

    Starting the regex at every letter of a long text is what makes these patterns slow; the anchor is
    found in C, the start of the match is found by walking back over `run_chars` (at most `reach`), and
    the pattern is then tried once, bounded to `span_limit` characters. After a miss the search resumes
    past the `skip` run at the hit, which no match can start inside.
    """

    __slots__ = (
        "_anchor", "_check", "_pattern", "_reach", "_run_chars", "_skip", "_span_limit", "entity_type", "subtype",
    )  # fmt: skip

    def __init__(
        self, entity_type: str, subtype: str | None, anchor: str, run_chars: str, reach: int, pattern: str,
        span_limit: int, check: Callable[[str], bool], skip: str,
    ) -> None:  # fmt: skip
        self.entity_type = entity_type
        self.subtype = subtype
        self._anchor = re.compile(anchor)
        self._run_chars = frozenset(run_chars)
        self._reach = reach
        self._pattern = re.compile(pattern)
        self._span_limit = span_limit
        self._check = check
        self._skip = re.compile(skip)

    def find(self, view: TextView) -> Iterator[Finding]:
        text = view.text
        position = 0
        while (hit := self._anchor.search(text, position)) is not None:
            start = _run_start(text, hit.start(), self._run_chars, self._reach)
            match = self._pattern.match(text, start, min(len(text), start + self._span_limit))
            if match is None or match.end() <= hit.start() or not self._check(match.group()):
                skipped = self._skip.match(text, hit.start())
                position = max(hit.start() + 1, skipped.end() if skipped else 0)
                continue
            position = match.end()
            yield Finding(self.entity_type, match.start(), match.end(), self.subtype)


_EMAIL_LOCAL_CHARS = string.ascii_letters + string.digits + "._%+-"
_EMAIL = (
    r"(?<![\w.%+\-])[\w%+\-][\w.%+\-]{0,63}+"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9\-]|\.[A-Za-z0-9])"
)


def _email_local_ok(value: str) -> bool:
    local = value.partition("@")[0]
    return not (local.endswith(".") or ".." in local)


def email_recognizer() -> AnchoredRecognizer:
    return AnchoredRecognizer(EMAIL, None, "@", _EMAIL_LOCAL_CHARS, 64, _EMAIL, 64 + 1 + 253, _email_local_ok, "@")


# Country code and check digits, then groups of four; either case, as people type them ("de89 3704 ...").
# The match starts at the check digits, the two letters are a lookbehind: the regex engine then tries only
# positions holding a digit, where starting at letters would try nearly every position of prose.
IBAN_SHAPE = re.compile(r"\d\d(?<=[A-Za-z]{2}\d\d)(?: ?[A-Za-z0-9]{4}){2,7}+(?: ?[A-Za-z0-9]{1,4})?")


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
            if _alnum_at(text, start - 1):
                continue
            end = _cut_after_alnum(text, start, stop, validators.IBAN_LENGTHS[country])
            if end is not None and not _alnum_at(text, end) and validators.iban_valid(text[start:end]):
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
_IPV6 = (
    r"[0-9A-Fa-f:](?<![\w:.][0-9A-Fa-f:])[0-9A-Fa-f:]{1,38}+(?:(?<=:)(?:\d{1,3}\.){3}\d{1,3})?(?:%[\w.]{1,15}+)?"
    r"(?![\w:])"
)


def _is_ipv6(value: str) -> bool:
    return any(ch.isdigit() for ch in value) and validators.ip_version(value) == 6


def ipv6_recognizer() -> AnchoredRecognizer:
    """IPv6 addresses (IPv4 is classified with the other digit groups), validated by `ipaddress`.

    Every IPv6 address has two colons at most four hex digits apart, which prose rarely does.
    """
    return AnchoredRecognizer(
        IP_ADDRESS, "v6", r":[0-9A-Fa-f]{0,4}:", _HEX, 4, _IPV6, 64, _is_ipv6, skip=r"[0-9A-Fa-f:]++"
    )


# Secrets. Each tuple: subtype, regex, gate hints (lower case), check, bounded.
_B64 = r"[A-Za-z0-9+/=]"
_PEM_SEP = r"(?:\\n|\s)++"
_PEM = (
    r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
    rf"(?:{_PEM_SEP}(?:{_B64}{{16,}}+|{_B64}++(?={_PEM_SEP}-----END)|(?:Proc-Type|DEK-Info):[^\r\n\\]*+))*+"
    rf"(?:{_PEM_SEP}-----END [A-Z0-9 ]{{0,40}}PRIVATE KEY(?: BLOCK)?-----)?"
)
_KV = r"""["']?\s*+[:=]\s*+["']?"""  # between a key name and its value: key=v, "key": "v", key: v
_SECRET_SPECS: tuple[tuple[str, str, tuple[str, ...], Callable[[str], bool] | None, bool], ...] = (
    ("pem_private_key", _PEM, ("private key-----", "private key block-----"), None, False),
    ("aws_access_key_id", r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}", ("akia", "asia", "abia", "acca"), None, True),
    ("aws_secret_access_key",
     rf"[AaSs](?i:ws_?secret_?(?:access_?)?key|ecret_?access_?key){_KV}(?P<value>[A-Za-z0-9/+]{{40}})",
     ("secret",), validators.looks_random, True),
    ("gcp_api_key", r"AIza[0-9A-Za-z_\-]{35}", ("aiza",), None, True),
    ("gcp_oauth_token", r"ya29\.[0-9A-Za-z_\-]{20,}+", ("ya29.",), None, True),
    ("azure_storage_key", r"AccountKey=(?P<value>[A-Za-z0-9+/]{86}==)", ("accountkey=",), None, False),
    ("azure_client_secret", r"[A-Za-z0-9_.\-]{3}\dQ~[A-Za-z0-9_~.\-]{31,34}", ("q~",), None, True),
    ("jwt", r"eyJ[A-Za-z0-9_\-]{2,}+\.[A-Za-z0-9_\-]{2,}+\.[A-Za-z0-9_\-]*+", ("eyj",), validators.jwt_valid,
     True),
    ("bearer_token", r"[Bb](?:earer|EARER)[ \t]++(?P<value>[A-Za-z0-9\-._~+/]{16,}+=*)", ("bearer",),
     validators.looks_random, False),
    ("github_token", r"gh[pousr]_[A-Za-z0-9]{36,255}+|github_pat_[A-Za-z0-9_]{22,255}+",
     ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"), None, True),
    ("slack_token", r"xox[abposr]-[A-Za-z0-9\-]{10,}+|xapp-\d-[A-Za-z0-9\-]{10,}+", ("xox", "xapp-"), None, True),
    ("slack_webhook", r"https://hooks\.slack\.com/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{16,}+",
     ("hooks.slack.com",), None, True),
    ("stripe_key", r"[sr]k_(?:live|test)_[A-Za-z0-9]{16,}+", ("k_live_", "k_test_"), None, True),
    ("llm_api_key", r"sk-(?:proj-|ant-|svcacct-)?[A-Za-z0-9_\-]{32,}+", ("sk-",), validators.looks_random,
     True),
    ("assigned_secret",
     rf"[AaCcSsRr](?i:pi[_\-]?key|lient[_\-]?secret|ecret[_\-]?key|ccess[_\-]?token|uth[_\-]?token"
     rf"|efresh[_\-]?token){_KV}(?P<value>[A-Za-z0-9_\-+/.~]{{16,}}+=*)",
     ("api_key", "apikey", "api-key", "client_secret", "client-secret", "secret_key", "secret-key",
      "access_token", "auth_token", "refresh_token"), validators.looks_random, False),
)  # fmt: skip


# Every secret value holds 15 token characters in a row (the shortest, a Slack token, is "xoxb-" and ten
# more); prose seldom does, as its words are shorter and end at spaces.
_TOKEN_RUN = re.compile(r"(?<![A-Za-z0-9_\-+/=.~])[A-Za-z0-9_\-+/=.~]{15}")


class SecretRecognizer:
    """Every secret pattern behind one shared gate, then each behind its own.

    Most replies hold no run of token characters long enough for any secret, and one regex search says so
    for less than the substring tests of every pattern's own gate.
    """

    entity_type = SECRET

    def __init__(self) -> None:
        self._members = tuple(
            RegexRecognizer(SECRET, subtype, re.compile(regex), any_of(*hints), check, bounded)
            for subtype, regex, hints, check, bounded in _SECRET_SPECS
        )

    def find(self, view: TextView) -> Iterator[Finding]:
        if _TOKEN_RUN.search(view.text) is None:
            return
        for member in self._members:
            yield from member.find(view)


# One run of digit groups: "+44 (0)20 7946 0958", "4111-1111-1111-1111", "10.0.0.1", "123 45 6789".
_GROUP = r"(?:\(\d{1,5}\)|\d++)"
# The lookahead skips, in C, runs too short to hold any entity (most numbers in prose: "3 steps", "2024").
_NUMBER_RUN = re.compile(rf"(?=[\d+() .\-]{{7}})(?:\+{_GROUP}|{_GROUP})(?:(?:[ .\-]|(?<=\))){_GROUP})*+")
_GROUP_SPANS = re.compile(r"\+?\(?(?P<digits>\d+)\)?")
# A run glued to a word, path or another number is part of an identifier, not an entity of its own.
_LEFT_GLUE = re.compile(r"(?:[\w@]|(?<!/)/|\w[.\-])\Z")  # "//" starts a URL's host, so it does not glue
_RIGHT_GLUE = re.compile(r"(?!x\d)(?:[\w@]|[.,\-/]\w)")  # "x12" is an extension, not part of the number
_CIDR_PREFIX = re.compile(r"/(?:3[0-2]|[12]?\d)(?![\w.])")  # the "/24" of 10.0.0.0/24 ends the address
_TIME_AFTER = re.compile(r":\d")
_MAX_RUN = 64
_MIN_WINDOW_DIGITS, _MAX_WINDOW_DIGITS = 4, 19  # the shortest entity is an IPv4 address, the longest a card
# No entity is written in more groups: "+33 6 12 34 56 78" and "4111 1111 1111 1111 111" have six. Bounding
# windows keeps a run of many small numbers ("1 2 3 4 5 ...") from costing a classification per window.
_MAX_WINDOW_GROUPS = 6
_MAX_LEAD_DIGITS = 3  # a short number before a value in the same run: an age, a count, a list index

_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_MONTH = r"(?:0?[1-9]|1[0-2])"
_DATE = re.compile(
    rf"(?<![\d./\-])(?:(?:19|20)\d\d([./\-]){_MONTH}\1{_DAY}|{_DAY}([./\-]){_DAY}\2(?:19|20)?\d\d)(?![./\-]?\d)"
)
_IPV4_SHAPE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_NEGATIVE_CONTEXT = re.compile(
    r"(?:\b(?:order|invoice|tracking|track|ticket|ref|reference|account|acct|case|confirmation|booking|"
    r"reservation|sku|serial|part|po|transaction|txn|id|isbn|fedex|ups|usps|dhl|shipment|parcel|package|"
    r"room|ext|extension|pin|zip|postcode)|#)[^a-z]{0,12}(?:(?:no|nr|number|num|id|code|is)\b[^a-z]{0,6}){0,2}\Z"
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
_NANP_SHAPES = ((3, 3, 4), (1, 3, 3, 4))
_ONE_DIGIT_LEADS = "01"  # a national number opens with one digit only for a trunk prefix: "1 415 ...", "0 98765 ..."
_SSN_SHAPE = (3, 2, 4)  # no numbering plan groups a phone number so; a failed SSN check does not make one
_SSN_CONTEXT = re.compile(r"\b(?:ssn|social security)\b")
_VERSION_CONTEXT = re.compile(r"\b(?:version|ver|release|build|firmware|v)\.?\s*\Z")
_CONTEXT_CHARS = 40


class _Run:
    """A run of digit groups and what surrounds it, shared by every window cut from it."""

    __slots__ = ("before", "digits", "glued", "plain", "separators", "spans", "text", "time_follows")

    def __init__(self, text: str, start: int, end: int) -> None:
        self.text = text
        matches = list(_GROUP_SPANS.finditer(text, start, end))
        self.spans = [m.span() for m in matches]
        self.digits = [m.group("digits") for m in matches]
        self.plain = [m.end() - m.start() == len(digits) for m, digits in zip(matches, self.digits, strict=True)]
        self.separators = [text[self.spans[i][1] : self.spans[i + 1][0]] for i in range(len(self.spans) - 1)]
        self.before = text[max(0, start - _CONTEXT_CHARS) : start].lower()
        cidr = _CIDR_PREFIX.match(text, end) is not None and _IPV4_SHAPE.fullmatch(text, start, end) is not None
        self.glued = _RIGHT_GLUE.match(text, end) is not None and not cidr
        self.time_follows = _TIME_AFTER.match(text, end) is not None

    def space_after(self, index: int) -> int | None:
        """The group after `index` when a single space separates them: only there may a new value start."""
        return index + 1 if index + 1 < len(self.spans) and self.separators[index] == " " else None

    def lasts(self, first: int) -> Iterator[int]:
        """Indexes of the last group of windows starting at group `first`, longest first: the rest of the run
        (unless glued to what follows), then the run cut short at each space; at most `_MAX_WINDOW_GROUPS`.

        Cutting at a space drops what trails a value ("4111 1111 1111 1111 12/25", two phone numbers in a
        row); cutting at "-" or "." would invent a number from part of one.
        """
        last = len(self.spans) - 1
        limit = first + _MAX_WINDOW_GROUPS - 1
        if not self.glued and last <= limit:
            yield last
        yield from (cut for cut in range(min(last - 1, limit), first - 1, -1) if self.separators[cut] == " ")


class _Window:
    """A candidate: groups `first`..`last` of a run."""

    __slots__ = ("digits", "end", "first", "last", "lengths", "run", "separators", "start")

    def __init__(self, run: _Run, first: int, last: int) -> None:
        self.run = run
        self.first = first
        self.last = last
        self.start = run.spans[first][0]
        self.end = run.spans[last][1]
        self.digits = "".join(run.digits[first : last + 1])
        self.lengths = tuple(map(len, run.digits[first : last + 1]))
        self.separators = "".join(run.separators[first:last])

    @property
    def value(self) -> str:
        return self.run.text[self.start : self.end]

    @property
    def is_plain(self) -> bool:
        """Every group is bare digits, without "+" or parentheses."""
        return all(self.run.plain[self.first : self.last + 1])

    @property
    def continues(self) -> bool:
        """More groups of the run follow after a space, and they are not glued to anything."""
        return self.last < len(self.run.spans) - 1 and not self.run.glued

    @property
    def time_follows(self) -> bool:
        return self.run.time_follows and self.last == len(self.run.spans) - 1


# First digits a national significant number may have: (after the trunk prefix, when written without it).
# Regions absent here need their trunk prefix, or, having none, allow any first digit. Writing numbers without
# the trunk prefix is a national habit: NANP numbers seldom show the "1", Indian mobiles drop the "0".
_LEADS: dict[str, tuple[str, str]] = {
    "US": ("23456789", "23456789"),  # area codes never start with 0 or 1
    "IN": ("123456789", "6789"),
    "IT": ("", "03"),  # no trunk prefix: fixed lines keep their 0, mobiles start with 3
    "ES": ("", "6789"),
}


@dataclass(frozen=True, slots=True)
class _NationalPlan:
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

    @classmethod
    def of(cls, region: str) -> _NationalPlan:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        if metadata is None:
            raise ValueError(f"unknown phone region {region!r}")
        trunk = metadata.national_prefix or ""
        trunk_leads, bare_leads = _LEADS.get(region, ("123456789", "") if trunk else ("", string.digits))
        lengths = frozenset(metadata.general_desc.possible_length)
        return cls(region, metadata.country_code, trunk, trunk_leads, bare_leads, lengths)

    def may_read(self, lead: str) -> bool:
        """Whether a national number whose first digit is `lead` may be written this region's way."""
        return self.trunk[:1] == lead or lead in self.bare_leads

    def reading(self, digits: str) -> phonenumbers.PhoneNumber | None:
        """The number `digits` denote in this region, if they are written the way this region writes numbers."""
        national = digits[len(self.trunk) :] if self.trunk and digits.startswith(self.trunk) else ""
        if not (national and national[0] in self.trunk_leads):
            national = digits if digits[0] in self.bare_leads else ""
        if len(national) not in self.lengths:
            return None
        leading_zero = True if national[0] == "0" else None  # kept in Italy, where it is part of the number
        return phonenumbers.PhoneNumber(
            country_code=self.country_code, national_number=int(national), italian_leading_zero=leading_zero
        )


class NumberRecognizer:
    """PHONE, CREDIT_CARD, US_SSN and IPv4 from one pass over runs of digit groups."""

    def __init__(self, entities: frozenset[str], phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS) -> None:
        plans = [_NationalPlan.of(region) for region in dict.fromkeys([*phone_regions, "US"])]
        self._plans_by_lead = {lead: tuple(p for p in plans if p.may_read(lead)) for lead in string.digits}
        classifiers: list[tuple[str, Callable[[_Window], str | None]]] = [
            (IP_ADDRESS, _classify_ipv4),
            (CREDIT_CARD, _classify_card),
            (US_SSN, _classify_ssn),
            (PHONE, self._classify_phone),
        ]
        self._classifiers = tuple((kind, fn) for kind, fn in classifiers if kind in entities)
        self._min_digits = 4 if IP_ADDRESS in entities else 7
        for plan in plans:  # load metadata now, not on a request path
            phonenumbers.example_number(plan.region)

    def find(self, view: TextView) -> Iterator[Finding]:
        if view.digits < self._min_digits or not self._classifiers:
            return
        text = view.text
        for match in _NUMBER_RUN.finditer(text):
            start, end = match.span()
            if end - start > _MAX_RUN or end - start < 7 or _LEFT_GLUE.search(text, max(0, start - 2), start):
                continue
            if view.inside_iban_shape(start):
                continue  # the digits of an IBAN-shaped code whose checksum failed
            yield from self._classify_run(_Run(text, start, end))

    def _classify_run(self, run: _Run) -> Iterator[Finding]:
        """Values left to right. A value starts the run, follows a value, or follows one short number."""
        hit = self._value_at(run, 0)
        if _is_short_lead(run) and (hit is None or _lead_may_stand_apart(run, hit[1])):
            after_lead = self._value_at(run, 1)
            if after_lead is not None and (hit is None or self._lead_apart(run, after_lead[1], hit[1])):
                hit = after_lead
        while hit is not None:
            yield hit[0]
            following = run.space_after(hit[1])
            hit = None if following is None else self._value_at(run, following)

    def _lead_apart(self, run: _Run, value_last: int, with_lead_last: int) -> bool:
        """Whether the value after a short lead is the better reading: the lead is set apart by a separator
        the value does not use ("33 305-370-2101"), or the value reaches further than the run read with its
        lead, whose remaining groups make no value ("85 022 2547 7511" read as "85 022 2547" and "7511")."""
        if run.separators[0] not in run.separators[1:value_last]:
            return True
        return value_last > with_lead_last and self._leaves_remainder(run, with_lead_last)

    def _value_at(self, run: _Run, first: int) -> tuple[Finding, int] | None:
        """The value starting at group `first`: the longest window accepted, unless it swallows the first
        group of a next value ("07557 371355 913 828 166"); then the shorter window that leaves it whole."""
        accepted = self._accepted(run, first)
        hit = next(accepted, None)
        if hit is None or not self._leaves_remainder(run, hit[1]):
            return hit
        for shorter in accepted:
            after = run.space_after(shorter[1])
            follow = None if after is None else next(self._accepted(run, after), None)
            if follow is not None and follow[1] > hit[1]:
                return shorter
        return hit

    def _leaves_remainder(self, run: _Run, last: int) -> bool:
        """Whether groups follow group `last` in the run without a value of their own."""
        following = run.space_after(last)
        return following is not None and next(self._accepted(run, following), None) is None

    def _accepted(self, run: _Run, first: int) -> Iterator[tuple[Finding, int]]:
        """Each window from group `first` that some classifier accepts, longest first, with its last group."""
        for last in run.lasts(first):
            window = _Window(run, first, last)
            if window.end - window.start < 7 or not _MIN_WINDOW_DIGITS <= len(window.digits) <= _MAX_WINDOW_DIGITS:
                continue
            for kind, classify in self._classifiers:
                subtype = classify(window)
                if subtype is not None:
                    yield Finding(kind, window.start, window.end, subtype), last
                    break

    def _classify_phone(self, window: _Window) -> str | None:
        international = window.value.startswith("+")
        context = _PHONE_CONTEXT.search(window.run.before) is not None
        if not _phone_shaped(window, international, context):
            return None
        # A number written as NANP numbers are, (415) 555-2671, is a phone even in an unassigned area
        # such as the 555 of fiction and examples; other numbers must be valid unless the text says phone.
        lenient = international or context or window.lengths in _NANP_SHAPES
        for number, region in self._readings(window.value, window.digits):
            if phonenumbers.is_possible_number(number) and (lenient or _valid(number, region)):
                return "international" if international else "national"
        return None

    def _readings(self, value: str, digits: str) -> Iterator[tuple[phonenumbers.PhoneNumber, str | None]]:
        """The numbers `value` may denote, each with its region: itself when international ("+" or "00", region
        unknown), else the national number of each region whose way of writing numbers it fits. Numbers are
        built directly: `phonenumbers.parse` costs more than all the checks that follow."""
        if value.startswith("+") or digits.startswith("00"):
            for number in _international_readings(digits.removeprefix("00")):
                yield number, None
            return
        for plan in self._plans_by_lead[digits[0]]:
            number = plan.reading(digits)
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


def _valid(number: phonenumbers.PhoneNumber, region: str | None) -> bool:
    """Whether the numbering plan assigns `number`. NANP numbers belong to ~25 regions and international
    ones to any, so only the full lookup knows; for other national readings the known region halves the cost."""
    if region is None or number.country_code == 1:
        return phonenumbers.is_valid_number(number)
    return phonenumbers.is_valid_number_for_region(number, region)


def _is_short_lead(run: _Run) -> bool:
    """A run opening with a bare number of at most three digits that is neither the NANP trunk "1" nor
    opens with a trunk "0" (an area code): an age, a count."""
    lead = run.digits[0]
    if not run.plain[0] or len(lead) > _MAX_LEAD_DIGITS or lead == "1" or lead[0] == "0":
        return False
    return run.space_after(0) is not None


def _lead_may_stand_apart(run: _Run, with_lead_last: int) -> bool:
    """A cheap pre-check before reading the run without its lead: a run read whole with its lead, in one
    separator style ("415 555 2671"), needs no second reading."""
    return with_lead_last < len(run.spans) - 1 or run.separators[0] not in run.separators[1:with_lead_last]


def _phone_shaped(window: _Window, international: bool, context: bool) -> bool:
    """Whether the window may be written as a phone number is, before any numbering plan is asked.

    Rejects, cheapest first: wrong digit counts, times, numbers after "order"-like words, dates, dotted
    quads, single groups nobody calls a phone, the SSN grouping, and national numbers that open with a lone
    digit other than a trunk prefix ("7 14 21 33 42"), that are written in pairs without the trunk "0" that
    pairs follow ("20 27 35 47 49"), or that are amounts ("EUR 912 345 678", "67 750 000 people").
    """
    digits, lengths, run = window.digits, window.lengths, window.run
    if not 7 <= len(digits) <= 15 or window.time_follows or _NEGATIVE_CONTEXT.search(run.before):
        return False
    if _DATE.search(window.value) or _IPV4_SHAPE.fullmatch(window.value):
        return False
    if (len(lengths) == 1 and not (international or context)) or lengths == _SSN_SHAPE:
        return False
    if international:
        return True
    if (lengths[0] == 1 and digits[0] not in _ONE_DIGIT_LEADS) or (max(lengths) <= 2 and digits[0] != "0"):
        return False
    return _CURRENCY_BEFORE.search(run.before) is None and _UNIT_AFTER.match(run.text, window.end) is None


def _classify_ipv4(window: _Window) -> str | None:
    """A dotted quad `ipaddress` accepts, unless it follows a version word.

    "version 1.2.3.4" and "build 10.0.0.1" are release numbers far more often than hosts, so a dotted
    quad right after version, ver, v, release, build or firmware is not reported.
    """
    if len(window.lengths) != 4 or window.separators != "...":
        return None
    if _VERSION_CONTEXT.search(window.run.before) or validators.ip_version(window.value) != 4:
        return None
    return "v4"


_CARD_GROUPINGS = ((4, 6, 5), (4, 6, 4))


def _classify_card(window: _Window) -> str | None:
    """The issuer of a 13-19 digit number grouped as cards are printed, with Luhn and issuer range checks."""
    lengths = window.lengths
    if not 13 <= len(window.digits) <= 19 or window.continues:  # "4554 4745 1890 7893 511" is one number
        return None
    seps = set(window.separators)
    if len(seps) > 1 or seps - {" ", "-"} or not window.is_plain:
        return None
    if len(lengths) > 1 and lengths not in _CARD_GROUPINGS and (
        any(n != 4 for n in lengths[:-1]) or not 1 <= lengths[-1] <= 4
    ):
        return None
    return validators.card_issuer(window.digits)


def _classify_ssn(window: _Window) -> str | None:
    """AAA-GG-SSSS or AAA GG SSSS; nine bare digits only right after "SSN" or "social security"."""
    lengths = window.lengths
    if len(window.digits) != 9 or not window.is_plain:
        return None
    if lengths == _SSN_SHAPE and window.separators in ("--", "  "):
        subtype = "dashed" if window.separators == "--" else "spaced"
    elif lengths == (9,) and _SSN_CONTEXT.search(window.run.before):
        subtype = "unformatted"
    else:
        return None
    return subtype if validators.ssn_valid(window.digits) else None
