"""A seeded generator of labelled assistant replies for measuring the PII detector, and the scorer.

Positives are built from the formats' own rules (issuer prefixes and Luhn for cards, mod-97 for IBANs,
numbering plans for phones), never by asking the detector, and are written the many ways people and
models write them. Hard negatives are the look-alikes that trip naive detectors: dates, timestamps,
epochs, UUIDs, git SHAs, versions, prices, tracking and order numbers, Luhn-failing 16-digit numbers,
IBANs with a bad checksum, extensions and room numbers. Both are embedded in realistic replies, and most
positive replies carry a hard negative too.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import random
import string
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from otel_ai_incident.guardrails.findings import (
    BUILTIN_ENTITIES,
    CREDIT_CARD,
    EMAIL,
    IBAN,
    IP_ADDRESS,
    PHONE,
    SECRET,
    US_SSN,
    Finding,
)


@dataclass(frozen=True, slots=True)
class Case:
    """A reply and the (entity_type, start, end) spans a perfect detector reports in it."""

    text: str
    labels: tuple[tuple[str, int, int], ...]


class _Reply:
    """Builds a reply piece by piece, recording where each labelled value lands."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self._labels: list[tuple[str, int, int]] = []

    def add(self, text: str, entity_type: str | None = None) -> None:
        if entity_type is not None:
            self._labels.append((entity_type, self._length, self._length + len(text)))
        self._parts.append(text)
        self._length += len(text)

    def add_template(self, template: str, value: str, entity_type: str | None) -> None:
        before, _, after = template.partition("{}")
        self.add(before)
        self.add(value, entity_type)
        self.add(after)

    def case(self) -> Case:
        return Case("".join(self._parts), tuple(self._labels))


_OPENERS = (
    "Sure! Here's what I found. ", "Thanks for your patience. ", "Happy to help with that. ",
    "I've looked into your request. ", "Good question. ", "", "Here is a summary of the account details. ",
    "No problem - let me walk you through it.\n\n", "Certainly. ", "I checked our records. ",
)  # fmt: skip
_CLOSERS = (
    " Let me know if there's anything else I can do.", " Hope that helps!", "", " Have a great day.",
    "\n\nIs there anything else you need?", " Feel free to ask follow-up questions.",
    " I've also noted this on your ticket.",
)  # fmt: skip
_FILLERS = (
    " The change should take effect within 24 hours.", " You can update this from the Settings page.",
    " Our team usually replies within 2 business days.", " Please keep this information safe.",
    " I recommend double-checking before you submit the form.", "",
)  # fmt: skip

# Sentences a value is written into, per entity. "{}" is the value.
_TEMPLATES: dict[str, tuple[str, ...]] = {
    EMAIL: ("You can email them at {}.", "The contact on file is {}", "Send the signed form to {} by Friday.",
            "Reply-To: {}\n", "I've cc'd {} on this thread.", "- Email: {}\n", "Their address is <{}>.",
            "Write to {}, they handle refunds."),
    PHONE: ("You can reach our support team at {}.", "Call {} between 9am and 5pm.",
            "The customer's phone number is {}.", "Phone: {}\n", "- Mobile: {}\n", "Their number is {}.",
            "Please ring {} if the issue persists.", "For urgent cases, text {}.", "Tel. {} (office)",
            "Dial {} and choose option 2."),
    CREDIT_CARD: ("The card on file is {}.", "Card number: {}\n", "I charged {} for the renewal.",
                  "Payment was made with {} on the 3rd.", "- Card: {} (expires 08/27)\n",
                  "Use {} for the test checkout."),
    IBAN: ("Please transfer the amount to IBAN {}.", "IBAN: {}\n", "Their bank account is {}.",
           "The refund goes to {} within 5 days.", "- Account: {}\n"),
    US_SSN: ("The SSN on the application is {}.", "Social Security Number: {}\n", "SSN {} was verified.",
             "I found {} listed as the taxpayer ID.", "- SSN: {}\n"),
    IP_ADDRESS: ("The request came from {}.", "Server IP: {}\n", "Blocked address {} after 5 failed logins.",
                 "Connect to {} on port 5432.", "The VPN assigned you {}.", "Origin: {} (proxy)",
                 "Allow {}/24 in the security group.", "The office range is {}/16, so add it to the allow list."),
    SECRET: ("Here is the key you asked for: {}", "Use this token: {}\n", "I found {} in the config.",
             "Credentials:\n{}\n", "Set it like this: {}"),
}  # fmt: skip


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(count))


def _groups(rng: random.Random, *sizes: int, sep: str = " ") -> str:
    """Random digit groups of the given sizes: _groups(rng, 3, 4) -> "123 4567"."""
    return sep.join(_digits(rng, size) for size in sizes)


def _alnum(rng: random.Random, count: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(count))


def _email(rng: random.Random) -> str:
    first = rng.choice(("john", "maria", "li", "aisha", "peter", "sofia", "ahmed", "emma", "raj", "olga"))
    last = rng.choice(("smith", "garcia", "wang", "khan", "muller", "rossi", "dubois", "okafor", "kim"))
    local = rng.choice((
        f"{first}.{last}", f"{first}_{last}", f"{first}{last}{rng.randint(1, 99)}", f"{first[0]}{last}",
        f"{first}+{rng.choice(('news', 'billing', 'test', 'shop'))}", f"{first}.{last}+{rng.randint(1, 9)}",
        f"{last}-{first}",
    ))  # fmt: skip
    domain = rng.choice((
        "example.com", "mail.example.co.uk", "corp.acme.io", "gmail.com", "outlook.com", "uni-bonn.de",
        "support.shop.example.org", "company.travel", "eu.mail.bigcorp.com", "fastmail.fm",
    ))  # fmt: skip
    email = f"{local}@{domain}"
    return email.upper() if rng.random() < 0.05 else email


_US_AREAS = (
    "212", "202", "415", "312", "617", "206", "303", "512", "646", "718", "213", "305", "404", "503", "602", "702",
    "713", "801", "919", "650",
)  # fmt: skip


def _phone(rng: random.Random) -> str:
    kind = rng.randrange(10)
    if kind <= 2:  # NANP
        area, exchange, line = rng.choice(_US_AREAS), f"{rng.randint(2, 9)}{_digits(rng, 2)}", _digits(rng, 4)
        if exchange[1:] == "11":
            exchange = exchange[0] + "23"
        return rng.choice((
            f"({area}) {exchange}-{line}", f"{area}-{exchange}-{line}", f"{area}.{exchange}.{line}",
            f"+1 {area} {exchange} {line}", f"+1-{area}-{exchange}-{line}", f"+1 ({area}) {exchange}-{line}",
            f"{area} {exchange} {line}", f"1-{area}-{exchange}-{line}", f"+1{area}{exchange}{line}",
        ))  # fmt: skip
    if kind == 3:  # United Kingdom
        london = f"{rng.choice('78')}{_digits(rng, 3)} {_digits(rng, 4)}"
        mobile = f"7{rng.choice('45789')}{_digits(rng, 2)} {_digits(rng, 6)}"
        return rng.choice((f"+44 20 {london}", f"020 {london}", f"+44 {mobile}", f"0{mobile}",
                           f"+44 (0)20 {london}"))  # fmt: skip
    if kind == 4:  # Germany
        return rng.choice((
            f"+49 30 {rng.randint(2, 9)}{_digits(rng, 5)}", f"030 {rng.randint(2, 9)}{_digits(rng, 7)}",
            f"+49 151 {_digits(rng, 8)}", f"0151 {_digits(rng, 8)}", f"+49 89 {rng.randint(2, 9)}{_digits(rng, 6)}",
        ))  # fmt: skip
    if kind == 5:  # France
        pairs = " ".join(_digits(rng, 2) for _ in range(4))
        lead = rng.choice("12345679")
        return rng.choice((f"+33 {lead} {pairs}", f"0{lead} {pairs}", f"+33 6 {pairs}"))
    if kind == 6:  # Italy: fixed lines keep their leading 0, also after +39; mobiles start with 3
        rome_or_milan, mobile = f"0{rng.choice('26')}", f"3{rng.randint(2, 9)}{_groups(rng, 1, 3, 4)}"
        return rng.choice((
            f"{rome_or_milan} {_groups(rng, 4, 4)}", f"{rome_or_milan}-{_groups(rng, 4, 4, sep='-')}",
            f"055 {_groups(rng, 3, 4)}", mobile, f"+39 {mobile}", f"+39 06 {_groups(rng, 4, 4)}",
        ))  # fmt: skip
    if kind == 7:  # Spain: nine digits, no trunk prefix
        madrid, mobile = f"91{_groups(rng, 1, 3, 3)}", f"6{_groups(rng, 2, 3, 3)}"
        return rng.choice((madrid, mobile, f"93 {_groups(rng, 3, 2, 2)}", f"+34 {madrid}", f"+34 {mobile}"))
    if kind == 8:  # India: mobiles are written without the trunk 0, landlines with it
        mobile = f"{rng.choice('6789')}{_groups(rng, 4, 5)}"
        return rng.choice((mobile, f"0{mobile}", f"+91 {mobile}", f"+91-{mobile.replace(' ', '-')}",
                           f"022 {rng.randint(2, 6)}{_groups(rng, 3, 4)}"))  # fmt: skip
    return rng.choice((  # elsewhere, international format
        f"+61 2 {rng.randint(8, 9)}{_digits(rng, 3)} {_digits(rng, 4)}", f"+61 4{_digits(rng, 2)} {_digits(rng, 3)} "
        f"{_digits(rng, 3)}", f"+91 9{_digits(rng, 4)} {_digits(rng, 5)}", f"+81 3-{_digits(rng, 4)}-{_digits(rng, 4)}",
        f"+31 20 {rng.randint(2, 9)}{_digits(rng, 2)} {_digits(rng, 4)}",
    ))  # fmt: skip


def _luhn_digit(partial: str) -> str:
    total = 0
    for index, ch in enumerate(reversed(partial)):
        value = int(ch)
        if index % 2 == 0:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return str(-total % 10)


_CARD_PREFIXES = (("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("2720", 16), ("34", 15), ("37", 15),
                  ("6011", 16), ("65", 16), ("3530", 16), ("36", 14), ("62", 16), ("4", 19))  # fmt: skip


def _card_digits(rng: random.Random) -> str:
    prefix, length = rng.choice(_CARD_PREFIXES)
    partial = prefix + _digits(rng, length - len(prefix) - 1)
    return partial + _luhn_digit(partial)


def _format_card(rng: random.Random, digits: str) -> str:
    sep = rng.choice((" ", "-", ""))
    if len(digits) in (14, 15):
        groups = [digits[:4], digits[4:10], digits[10:]]
    else:
        groups = [digits[i : i + 4] for i in range(0, len(digits), 4)]
    return sep.join(groups)


def _card(rng: random.Random) -> str:
    return _format_card(rng, _card_digits(rng))


# BBAN layouts: "n" digit, "a" upper-case letter, "c" either.
_BBAN = {"DE": "n" * 18, "GB": "aaaa" + "n" * 14, "FR": "n" * 10 + "c" * 11 + "nn", "ES": "n" * 20,
         "IT": "a" + "n" * 10 + "c" * 12, "NL": "aaaa" + "n" * 10, "BE": "n" * 12, "CH": "n" * 5 + "c" * 12,
         "AT": "n" * 16, "PL": "n" * 24, "SE": "n" * 20, "IE": "aaaa" + "n" * 14, "PT": "n" * 21}  # fmt: skip


def _iban_compact(rng: random.Random, corrupt: bool = False) -> str:
    country = rng.choice(sorted(_BBAN))
    pools = {"n": string.digits, "a": string.ascii_uppercase, "c": string.ascii_uppercase + string.digits}
    bban = "".join(rng.choice(pools[kind]) for kind in _BBAN[country])
    numeric = int("".join(str(int(ch, 36)) for ch in bban + country + "00"))
    check = 98 - numeric % 97
    if corrupt:  # any other pair of check digits in 02..98 differs by less than 97, so mod-97 fails
        check = rng.choice([other for other in range(2, 99) if other != check])
    return f"{country}{check:02d}{bban}"


def _spaced(value: str) -> str:
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4))


def _iban(rng: random.Random) -> str:
    compact = _iban_compact(rng)
    iban = _spaced(compact) if rng.random() < 0.5 else compact
    case = rng.random()
    if case < 0.08:  # typed in lower case
        return iban.lower()
    return iban[0] + iban[1:].lower() if case < 0.12 else iban


def _ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    group, serial = rng.randint(1, 99), rng.randint(1, 9999)
    sep = rng.choice(("-", "-", " "))
    return f"{area:03d}{sep}{group:02d}{sep}{serial:04d}"


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return rng.choice((f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                           f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                           str(ipaddress.IPv4Address(rng.randint(0x0B000000, 0xDF000000)))))  # fmt: skip
    address = ipaddress.IPv6Address(rng.getrandbits(128))
    return rng.choice((
        address.compressed, address.exploded, f"2001:db8::{rng.randint(1, 0xFFFF):x}:{rng.randint(1, 0xFFFF):x}",
        f"fe80::{rng.randint(1, 0xFFFF):x}:{rng.randint(1, 0xFFFF):x}:{rng.randint(1, 0xFFFF):x}",
    ))  # fmt: skip


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _jwt(rng: random.Random) -> str:
    header = {"alg": rng.choice(("HS256", "RS256", "ES256")), "typ": "JWT"}
    payload = {"sub": _digits(rng, 8), "name": "Jane Doe", "iat": rng.randint(1_600_000_000, 1_800_000_000)}
    signature = bytes(rng.getrandbits(8) for _ in range(32))
    return ".".join((_b64url(json.dumps(header).encode()), _b64url(json.dumps(payload).encode()),
                     _b64url(signature)))  # fmt: skip


def _pem(rng: random.Random) -> str:
    kind = rng.choice(("RSA ", "EC ", "", "OPENSSH ", "ENCRYPTED "))
    body = base64.b64encode(bytes(rng.getrandbits(8) for _ in range(rng.randint(120, 400)))).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{lines}\n-----END {kind}PRIVATE KEY-----"


_B64_CHARS = string.ascii_letters + string.digits + "+/"


def _secret(rng: random.Random) -> tuple[str, str, str]:
    """(text before, the secret, text after): context such as `key=` stays outside the labelled span."""
    kind = rng.randrange(11)
    upper_digits = string.ascii_uppercase + "234567"
    if kind == 0:
        return "", rng.choice(("AKIA", "ASIA")) + _alnum(rng, 16, upper_digits), ""
    if kind == 1:
        key = rng.choice(("aws_secret_access_key = ", "AWS_SECRET_ACCESS_KEY=", '"SecretAccessKey": "'))
        return key, _alnum(rng, 40, _B64_CHARS), '"' if key.endswith('"') else ""
    if kind == 2:
        return "", _pem(rng), ""
    if kind == 3:
        token = _jwt(rng) if rng.random() < 0.3 else _alnum(rng, rng.randint(24, 48), _B64_CHARS[:-2] + "-._")
        return rng.choice(("Authorization: Bearer ", "bearer ", "-H 'Authorization: Bearer ")), token, ""
    if kind == 4:
        return "", _jwt(rng), ""
    if kind == 5:
        return "", rng.choice(("ghp_", "gho_", "ghs_")) + _alnum(rng, 36), ""
    if kind == 6:
        return "", f"xoxb-{_digits(rng, 12)}-{_digits(rng, 13)}-{_alnum(rng, 24)}", ""
    if kind == 7:
        return "", rng.choice(("sk_live_", "rk_live_", "sk_test_")) + _alnum(rng, 24), ""
    if kind == 8:
        return "", "AIza" + _alnum(rng, 35, string.ascii_letters + string.digits + "-_"), ""
    if kind == 9:
        return rng.choice(("api_key=", "client_secret: ", 'apiKey = "')), _alnum(rng, 32), ""
    return "", "github_pat_" + _alnum(rng, 22) + "_" + _alnum(rng, 59), ""


_SIMPLE_VALUES: dict[str, Callable[[random.Random], str]] = {
    EMAIL: _email, PHONE: _phone, CREDIT_CARD: _card, IBAN: _iban, US_SSN: _ssn, IP_ADDRESS: _ip,
}  # fmt: skip


def _luhn_failing_card(rng: random.Random) -> str:
    digits = _card_digits(rng)
    digits = digits[:-1] + str((int(digits[-1]) + rng.randint(1, 9)) % 10)
    return _format_card(rng, digits)


def _hard_negative(rng: random.Random) -> str:
    """A sentence holding a look-alike that must not be reported."""
    stamp = rng.randint(1_500_000_000, 1_800_000_000)
    year, month, day = rng.randint(2015, 2030), rng.randint(1, 12), rng.randint(1, 28)
    hour, minute, second = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
    choices: tuple[Callable[[], str], ...] = (
        lambda: f"Your order #{_digits(rng, 3)}-{_digits(rng, 7)}-{_digits(rng, 7)} has shipped.",
        lambda: f"Order number {_digits(rng, rng.randint(8, 10))} is confirmed.",
        lambda: f"Order ID: ORD-{year}-{_digits(rng, 6)}.",
        lambda: f"The job ran at {year}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}.",
        lambda: f"It was filed on {day:02d}/{month:02d}/{year}.",
        lambda: f"Created {year}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}Z.",
        lambda: f"Last login: {year}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}.{_digits(rng, 3)}"
        f"+02:00",
        lambda: f"Due {month:02d}/{day:02d}/{year} at {hour % 12 + 1}:{minute:02d} pm.",
        lambda: f"The event timestamp is {stamp}.",
        lambda: f"created_at={stamp}{_digits(rng, 3)} in the log.",
        lambda: f"Request id {uuid.UUID(int=rng.getrandbits(128), version=4)} failed.",
        lambda: f"Fixed in commit {_alnum(rng, 40, '0123456789abcdef')}.",
        lambda: f"See {_alnum(rng, 7, '0123456789abcdef')} for the change.",
        lambda: f"Upgrade to version {rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}."
        f"{rng.randint(0, 99)}.",
        lambda: f"This needs v{rng.randint(1, 4)}.{rng.randint(0, 30)}.{rng.randint(0, 9)} or later.",
        lambda: f"Tested on Python 3.{rng.randint(8, 13)}.{rng.randint(0, 12)}.",
        lambda: f"The total is ${rng.randint(1, 99)},{_digits(rng, 3)}.{_digits(rng, 2)}.",
        lambda: f"That plan costs {rng.randint(10, 999)}.{_digits(rng, 2)} EUR per month.",
        lambda: f"UPS tracking: 1Z{_alnum(rng, 6, string.ascii_uppercase + string.digits)}{_digits(rng, 10)}.",
        lambda: f"FedEx tracking number {_digits(rng, 12)}.",
        lambda: f"Your FedEx parcel {_digits(rng, 4)} {_digits(rng, 4)} {_digits(rng, 4)} is out for delivery.",
        lambda: f"USPS tracking {rng.choice(('94', '92', '93'))}{_digits(rng, rng.randint(18, 20))}.",
        lambda: f"USPS: 9400 {_digits(rng, 4)} {_digits(rng, 4)} {_digits(rng, 4)} {_digits(rng, 4)} "
        f"{_digits(rng, 2)}.",
        lambda: f"The reference {_luhn_failing_card(rng)} did not match any card.",
        lambda: f"That code ({_iban_compact(rng, corrupt=True)}) is not a valid account.",
        lambda: f"Account {_spaced(_iban_compact(rng, corrupt=True))} was rejected.",
        lambda: f"Ask for ext. {_digits(rng, 4)} at the front desk.",
        lambda: f"The meeting is in room {rng.randint(100, 4999)}.",
        lambda: f"We have {rng.randint(2, 40)} options and {rng.randint(2, 9)} steps; uptime was "
        f"99.{rng.randint(1, 99)}%.",
        lambda: f"Lines {rng.randint(10, 300)}-{rng.randint(301, 900)} of main.py changed.",
        lambda: f"Call back in {rng.randint(2, 48)} hours, reference {_digits(rng, 6)}.",
        lambda: f"Your tracking number is {rng.choice('6789')}{_groups(rng, 4, 5)}.",
        lambda: f"Order {rng.choice('6789')}{_groups(rng, 2, 3, 3)} has been dispatched.",
        lambda: f"Revenue reached {rng.randint(100, 999)} {_groups(rng, 3, 3)} EUR last year.",
        lambda: f"The city has {rng.randint(1, 9)} {_groups(rng, 3, 3)} inhabitants.",
        lambda: f"The budget is € {rng.randint(100, 999)} {_groups(rng, 3, 3)} for the year.",
        lambda: f"The winning numbers were {' '.join(str(n) for n in sorted(rng.sample(range(1, 50), 6)))}.",
        lambda: f"That code ({_iban_compact(rng, corrupt=True).lower()}) is not a valid account either.",
        lambda: f"Ticket {_groups(rng, 2, 4, 4)} was closed on {day:02d}.{month:02d}.{year}.",
    )  # fmt: skip
    return rng.choice(choices)()


def _positive(rng: random.Random, reply: _Reply, entity_type: str) -> None:
    template = rng.choice(_TEMPLATES[entity_type])
    if entity_type == SECRET:
        before, value, after = _secret(rng)
        head, _, tail = template.partition("{}")
        reply.add(head + before)
        reply.add(value, SECRET)
        reply.add(after + tail)
    elif entity_type == PHONE and rng.random() < 0.12:
        _phone_among_numbers(rng, reply)
    else:
        reply.add_template(template, _SIMPLE_VALUES[entity_type](rng), entity_type)


def _phone_among_numbers(rng: random.Random, reply: _Reply) -> None:
    """A phone number sharing one run of space-separated numbers with another number: two phone numbers
    listed in a row, or a flattened table row where an age precedes the number."""
    if rng.random() < 0.5:
        reply.add(rng.choice(("The numbers on file are ", "Both lines: ")))
        reply.add(_phone(rng), PHONE)
        reply.add(" ")
        reply.add(_phone(rng), PHONE)
        reply.add(".")
    else:
        name = rng.choice(("Jane Doe", "Ravi Kumar", "Lucia Rossi", "Tom Baker", "Ana Lopez"))
        reply.add(f"Name, age, number, city:\n{name} {rng.randint(18, 90)} ")
        reply.add(_phone(rng), PHONE)
        reply.add(f" {rng.choice(('Leeds', 'Pune', 'Rome', 'Austin', 'Madrid'))}\n")


def generate_cases(seed: int = 0, per_entity: int = 300, negatives: int = 600) -> list[Case]:
    """`per_entity` replies holding one value of each built-in type (some two), plus `negatives`
    replies holding only hard negatives; same seed, same cases."""
    rng = random.Random(seed)
    plan = [entity for entity in BUILTIN_ENTITIES for _ in range(per_entity)] + [None] * negatives
    rng.shuffle(plan)
    cases = []
    for entity_type in plan:
        reply = _Reply()
        reply.add(rng.choice(_OPENERS))
        if entity_type is None:
            for _ in range(rng.randint(1, 3)):
                reply.add(_hard_negative(rng) + rng.choice(_FILLERS) + " ")
        else:
            if rng.random() < 0.6:
                reply.add(_hard_negative(rng) + " ")
            _positive(rng, reply, entity_type)
            if rng.random() < 0.2:
                reply.add(" Also: ")
                _positive(rng, reply, rng.choice(BUILTIN_ENTITIES))
            reply.add(rng.choice(_FILLERS))
        reply.add(rng.choice(_CLOSERS))
        cases.append(reply.case())
    return cases


@dataclass(slots=True)
class Score:
    """Counts for one entity type; a prediction is right only with the exact type and span."""

    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    misses: list[int] = field(default_factory=list)  # indexes of cases with an error, for inspection

    @property
    def precision(self) -> float:
        predicted = self.true_positives + self.false_positives
        return self.true_positives / predicted if predicted else 1.0

    @property
    def recall(self) -> float:
        actual = self.true_positives + self.false_negatives
        return self.true_positives / actual if actual else 1.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def evaluate(
    scan: Callable[[str], Sequence[Finding]], cases: Iterable[Case], entity_types: Iterable[str] = BUILTIN_ENTITIES
) -> dict[str, Score]:
    """Per-entity precision and recall of `scan` over `cases`."""
    scores = {entity: Score() for entity in entity_types}
    for index, case in enumerate(cases):
        gold = set(case.labels)
        predicted = {(f.entity_type, f.start, f.end) for f in scan(case.text)}
        for entity, start, end in predicted | gold:
            score = scores.setdefault(entity, Score())
            if (entity, start, end) not in gold:
                score.false_positives += 1
            elif (entity, start, end) not in predicted:
                score.false_negatives += 1
            else:
                score.true_positives += 1
                continue
            score.misses.append(index)
    return scores
