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

# National numbers written with a trunk "0" are read as numbers of these regions (all use a trunk "0");
# other national numbers as NANP (US, Canada, ...), which is written without one.
DEFAULT_PHONE_REGIONS: tuple[str, ...] = ("GB", "DE", "FR", "AU", "IN", "NL", "IE", "BE", "AT", "CH")


@dataclass(slots=True)
class TextView:
    """Facts about the text every gate needs, computed once per scan."""

    text: str
    lowered: str
    digits: int

    @classmethod
    def of(cls, text: str) -> TextView:
        return cls(text, text.lower(), sum(map(text.count, "0123456789")))


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


IBAN_SHAPE = re.compile(r"[A-Z][A-Z]\d\d(?: ?[A-Z0-9]{4}){2,7}+(?: ?[A-Z0-9]{1,4})?")


class IbanRecognizer:
    """IBANs, compact or in groups of four; a candidate is cut to its country's length before mod-97.

    The cut lets "DE89 3704 0044 0532 0130 00 ABCD" still yield the IBAN when other codes follow it.
    """

    entity_type = IBAN

    def find(self, view: TextView) -> Iterator[Finding]:
        if view.digits < 8:
            return
        text = view.text
        for match in IBAN_SHAPE.finditer(text):
            start = match.start()
            expected = validators.IBAN_LENGTHS.get(match.group()[:2])
            if expected is None or _alnum_at(text, start - 1):
                continue
            end = _cut_after_alnum(text, start, match.end(), expected)
            if end is not None and not _alnum_at(text, end) and validators.iban_valid(text[start:end]):
                yield Finding(IBAN, start, end, match.group()[:2])


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


def secret_recognizers() -> list[RegexRecognizer]:
    return [
        RegexRecognizer(SECRET, subtype, re.compile(regex), any_of(*hints), check, bounded)
        for subtype, regex, hints, check, bounded in _SECRET_SPECS
    ]


# One run of digit groups: "+44 (0)20 7946 0958", "4111-1111-1111-1111", "10.0.0.1", "123 45 6789".
_GROUP = r"(?:\(\d{1,5}\)|\d++)"
# The lookahead skips, in C, runs too short to hold any entity (most numbers in prose: "3 steps", "2024").
_NUMBER_RUN = re.compile(rf"(?=[\d+() .\-]{{7}})(?:\+{_GROUP}|{_GROUP})(?:(?:[ .\-]|(?<=\))){_GROUP})*+")
_GROUP_SPANS = re.compile(r"\+?\(?\d+\)?")
# A run glued to a word, path or another number is part of an identifier, not an entity of its own.
_LEFT_GLUE = re.compile(r"(?:[\w@]|(?<!/)/|\w[.\-])\Z")  # "//" starts a URL's host, so it does not glue
_RIGHT_GLUE = re.compile(r"(?!x\d)(?:[\w@]|[.,\-/]\w)")  # "x12" is an extension, not part of the number
_TIME_AFTER = re.compile(r":\d")
_MAX_RUN = 64

_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_MONTH = r"(?:0?[1-9]|1[0-2])"
_DATE = re.compile(
    rf"(?<![\d./\-])(?:(?:19|20)\d\d([./\-]){_MONTH}\1{_DAY}|{_DAY}([./\-]){_DAY}\2(?:19|20)?\d\d)(?![./\-]?\d)"
)
_IPV4_SHAPE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_NEGATIVE_CONTEXT = re.compile(
    r"(?:\b(?:order|invoice|tracking|track|ticket|ref|reference|account|acct|case|confirmation|booking|"
    r"reservation|sku|serial|part|po|transaction|txn|id|isbn|fedex|ups|usps|dhl|shipment|parcel|package|"
    r"room|ext|extension|pin|zip|postcode)|#)[^a-z]{0,12}(?:(?:no|nr|number|num|id|code|is)\b[^a-z]{0,6})?\Z"
)
_PHONE_CONTEXT = re.compile(
    r"\b(?:call|calling|phone|tel|telephone|mobile|cell|fax|text|sms|whatsapp|dial|reach|contact|ring|"
    r"hotline|helpline|landline)\b"
)
_NANP_SHAPES = ((3, 3, 4), (1, 3, 3, 4))
_SSN_CONTEXT = re.compile(r"\b(?:ssn|social security)\b")
_VERSION_CONTEXT = re.compile(r"\b(?:version|ver|release|build|firmware|v)\.?\s*\Z")
_CONTEXT_CHARS = 40


@dataclass(frozen=True, slots=True)
class _Window:
    """A candidate: a contiguous slice of a run's digit groups, with what surrounds the run."""

    text: str
    start: int
    end: int
    groups: tuple[str, ...]
    separators: str
    before: str  # lower-cased text just before the run
    time_follows: bool
    continues: bool  # more groups of the run follow after a space, and they are not glued to anything

    @property
    def value(self) -> str:
        return self.text[self.start : self.end]


class NumberRecognizer:
    """PHONE, CREDIT_CARD, US_SSN and IPv4 from one pass over runs of digit groups."""

    def __init__(self, entities: frozenset[str], phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS) -> None:
        self._trunk_codes = tuple(dict.fromkeys(phonenumbers.country_code_for_region(r) for r in phone_regions))
        classifiers: list[tuple[str, Callable[[_Window], str | None]]] = [
            (IP_ADDRESS, _classify_ipv4),
            (CREDIT_CARD, _classify_card),
            (US_SSN, _classify_ssn),
            (PHONE, self._classify_phone),
        ]
        self._classifiers = tuple((kind, fn) for kind, fn in classifiers if kind in entities)
        self._min_digits = 4 if IP_ADDRESS in entities else 7
        for region in (*phone_regions, "US"):  # load metadata now, not on a request path
            phonenumbers.example_number(region)

    def find(self, view: TextView) -> Iterator[Finding]:
        if view.digits < self._min_digits or not self._classifiers:
            return
        text = view.text
        codes: list[tuple[int, int]] | None = None
        for match in _NUMBER_RUN.finditer(text):
            start, end = match.span()
            if end - start > _MAX_RUN or end - start < 7 or _LEFT_GLUE.search(text, max(0, start - 2), start):
                continue
            if codes is None:
                codes = [m.span() for m in IBAN_SHAPE.finditer(text) if m.group()[:2] in validators.IBAN_LENGTHS]
            index = bisect.bisect_left(codes, (start,)) - 1
            if index >= 0 and codes[index][1] > start:
                continue  # the digits of an IBAN-shaped code whose checksum failed
            finding = self._classify_run(text, start, end)
            if finding is not None:
                yield finding

    def _classify_run(self, text: str, start: int, end: int) -> Finding | None:
        spans = [m.span() for m in _GROUP_SPANS.finditer(text, start, end)]
        glued = _RIGHT_GLUE.match(text, end) is not None
        time_follows = _TIME_AFTER.match(text, end) is not None
        before = text[max(0, start - _CONTEXT_CHARS) : start].lower()
        for last in _ends(text, spans, glued):
            window = _Window(
                text, start, spans[last][1],
                tuple(text[s:e] for s, e in spans[: last + 1]),
                "".join(text[spans[i][1] : spans[i + 1][0]] for i in range(last)),
                before, time_follows and last == len(spans) - 1, last < len(spans) - 1 and not glued,
            )  # fmt: skip
            for kind, classify in self._classifiers:
                subtype = classify(window)
                if subtype is not None:
                    return Finding(kind, window.start, window.end, subtype)
        return None

    def _classify_phone(self, window: _Window) -> str | None:
        value = window.value
        digits = validators.digits_of(value)
        if not 7 <= len(digits) <= 15 or window.time_follows or _DATE.search(value):
            return None
        if _IPV4_SHAPE.fullmatch(value) or _NEGATIVE_CONTEXT.search(window.before):
            return None
        international = value.startswith("+")
        context = _PHONE_CONTEXT.search(window.before) is not None
        if len(window.groups) == 1 and not (international or context):
            return None
        # A number written as NANP numbers are, (415) 555-2671, is a phone even in an unassigned area
        # such as the 555 of fiction and examples; other numbers must be valid unless the text says phone.
        lenient = international or context or tuple(map(len, map(validators.digits_of, window.groups))) in _NANP_SHAPES
        for number in self._readings(value, digits):
            if phonenumbers.is_possible_number(number) and (lenient or phonenumbers.is_valid_number(number)):
                return "international" if international else "national"
        return None

    def _readings(self, value: str, digits: str) -> Iterator[phonenumbers.PhoneNumber]:
        """The numbers `value` may denote: itself when international ("+" or "00"), else the national number
        of each trunk-"0" region, else a NANP number. Built directly, as parsing costs more than validating."""
        if value.startswith("+") or digits.startswith("00"):
            try:
                yield phonenumbers.parse(value if value.startswith("+") else "+" + digits[2:], None)
            except phonenumbers.NumberParseException:
                return
        elif digits.startswith("0"):
            national = int(digits[1:])
            for code in self._trunk_codes:
                yield phonenumbers.PhoneNumber(country_code=code, national_number=national)
        elif len(digits) == 10 or (len(digits) == 11 and digits.startswith("1")):
            yield phonenumbers.PhoneNumber(country_code=1, national_number=int(digits[-10:]))


def _ends(text: str, spans: list[tuple[int, int]], glued: bool) -> list[int]:
    """Indexes of the last group to try, longest first: the whole run, then the run cut short at a space.

    Cutting at a space drops what trails a value ("4111 1111 1111 1111 12/25", two phone numbers in a row);
    cutting at "-" or "." would invent a number from part of one. A run glued to what follows it can only
    contribute a part cut short.
    """
    last = len(spans) - 1
    cuts = [cut - 1 for cut in range(last, 0, -1) if text[spans[cut - 1][1] : spans[cut][0]] == " "]
    return cuts if glued else [last, *cuts]


def _classify_ipv4(window: _Window) -> str | None:
    """A dotted quad `ipaddress` accepts, unless it follows a version word.

    "version 1.2.3.4" and "build 10.0.0.1" are release numbers far more often than hosts, so a dotted
    quad right after version, ver, v, release, build or firmware is not reported.
    """
    if len(window.groups) != 4 or window.separators != "...":
        return None
    if _VERSION_CONTEXT.search(window.before) or validators.ip_version(window.value) != 4:
        return None
    return "v4"


_CARD_GROUPINGS = ((4, 6, 5), (4, 6, 4))


def _classify_card(window: _Window) -> str | None:
    """The issuer of a 13-19 digit number grouped as cards are printed, with Luhn and issuer range checks."""
    if window.continues:  # "4554 4745 1890 7893 511" is one 19-digit number, not a card and a remainder
        return None
    seps = set(window.separators)
    if len(seps) > 1 or seps - {" ", "-"} or not window.groups[0][0].isdigit():
        return None
    lengths = tuple(len(group) for group in window.groups)
    if len(lengths) > 1 and lengths not in _CARD_GROUPINGS and (
        any(n != 4 for n in lengths[:-1]) or not 1 <= lengths[-1] <= 4
    ):
        return None
    if not 13 <= sum(lengths) <= 19:
        return None
    return validators.card_issuer(window.value)


def _classify_ssn(window: _Window) -> str | None:
    """AAA-GG-SSSS or AAA GG SSSS; nine bare digits only right after "SSN" or "social security"."""
    lengths = tuple(len(group) for group in window.groups)
    if lengths == (3, 2, 4) and window.separators in ("--", "  "):
        subtype = "dashed" if window.separators == "--" else "spaced"
    elif lengths == (9,) and _SSN_CONTEXT.search(window.before):
        subtype = "unformatted"
    else:
        return None
    return subtype if validators.ssn_valid(window.value) else None
