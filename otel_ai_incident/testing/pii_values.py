"""Values of each built-in PII type, generated from the formats' own rules and written the many ways people
and models write them: issuer prefixes and Luhn for cards, mod-97 for IBANs, numbering plans for phones.

They are never produced by asking the detector, so a detector measured on them cannot grade itself.
"""

from __future__ import annotations

import ipaddress
import random
import string
from collections.abc import Callable

from otel_ai_incident.guardrails.pii.findings import CREDIT_CARD, EMAIL, IBAN, IP_ADDRESS, PHONE, US_SSN


def digits(rng: random.Random, count: int) -> str:
    """`count` random decimal digits."""
    return "".join(rng.choice(string.digits) for _ in range(count))


def groups(rng: random.Random, *sizes: int, sep: str = " ") -> str:
    """Random digit groups of the given sizes: groups(rng, 3, 4) -> "123 4567"."""
    return sep.join(digits(rng, size) for size in sizes)


def alnum(rng: random.Random, count: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    """`count` random characters of `alphabet` (letters and digits by default)."""
    return "".join(rng.choice(alphabet) for _ in range(count))


def _email(rng: random.Random) -> str:
    first = rng.choice(("john", "maria", "li", "aisha", "peter", "sofia", "ahmed", "emma", "raj", "olga"))
    last = rng.choice(("smith", "garcia", "wang", "khan", "muller", "rossi", "dubois", "okafor", "kim"))
    local = rng.choice(
        (
            f"{first}.{last}",
            f"{first}_{last}",
            f"{first}{last}{rng.randint(1, 99)}",
            f"{first[0]}{last}",
            f"{first}+{rng.choice(('news', 'billing', 'test', 'shop'))}",
            f"{first}.{last}+{rng.randint(1, 9)}",
            f"{last}-{first}",
        )
    )
    domain = rng.choice(
        (
            "example.com",
            "mail.example.co.uk",
            "corp.acme.io",
            "gmail.com",
            "outlook.com",
            "uni-bonn.de",
            "support.shop.example.org",
            "company.travel",
            "eu.mail.bigcorp.com",
            "fastmail.fm",
        )
    )
    email = f"{local}@{domain}"
    return email.upper() if rng.random() < 0.05 else email


_US_AREAS = (
    "212",
    "202",
    "415",
    "312",
    "617",
    "206",
    "303",
    "512",
    "646",
    "718",
    "213",
    "305",
    "404",
    "503",
    "602",
    "702",
    "713",
    "801",
    "919",
    "650",
)


def phone_number(rng: random.Random) -> str:
    """A phone number of one of ten countries, written as that country writes it (national or international)."""
    kind = rng.randrange(10)
    if kind <= 2:  # NANP
        area, exchange, line = rng.choice(_US_AREAS), f"{rng.randint(2, 9)}{digits(rng, 2)}", digits(rng, 4)
        if exchange[1:] == "11":
            exchange = exchange[0] + "23"
        return rng.choice(
            (
                f"({area}) {exchange}-{line}",
                f"{area}-{exchange}-{line}",
                f"{area}.{exchange}.{line}",
                f"+1 {area} {exchange} {line}",
                f"+1-{area}-{exchange}-{line}",
                f"+1 ({area}) {exchange}-{line}",
                f"{area} {exchange} {line}",
                f"1-{area}-{exchange}-{line}",
                f"+1{area}{exchange}{line}",
            )
        )
    if kind == 3:  # United Kingdom
        london = f"{rng.choice('78')}{digits(rng, 3)} {digits(rng, 4)}"
        mobile = f"7{rng.choice('45789')}{digits(rng, 2)} {digits(rng, 6)}"
        return rng.choice((f"+44 20 {london}", f"020 {london}", f"+44 {mobile}", f"0{mobile}", f"+44 (0)20 {london}"))
    if kind == 4:  # Germany
        return rng.choice(
            (
                f"+49 30 {rng.randint(2, 9)}{digits(rng, 5)}",
                f"030 {rng.randint(2, 9)}{digits(rng, 7)}",
                f"+49 151 {digits(rng, 8)}",
                f"0151 {digits(rng, 8)}",
                f"+49 89 {rng.randint(2, 9)}{digits(rng, 6)}",
            )
        )
    if kind == 5:  # France
        pairs = " ".join(digits(rng, 2) for _ in range(4))
        lead = rng.choice("12345679")
        return rng.choice((f"+33 {lead} {pairs}", f"0{lead} {pairs}", f"+33 6 {pairs}"))
    if kind == 6:  # Italy: fixed lines keep their leading 0, also after +39; mobiles start with 3
        rome_or_milan, mobile = f"0{rng.choice('26')}", f"3{rng.randint(2, 9)}{groups(rng, 1, 3, 4)}"
        return rng.choice(
            (
                f"{rome_or_milan} {groups(rng, 4, 4)}",
                f"{rome_or_milan}-{groups(rng, 4, 4, sep='-')}",
                f"055 {groups(rng, 3, 4)}",
                mobile,
                f"+39 {mobile}",
                f"+39 06 {groups(rng, 4, 4)}",
            )
        )
    if kind == 7:  # Spain: nine digits, no trunk prefix
        madrid, mobile = f"91{groups(rng, 1, 3, 3)}", f"6{groups(rng, 2, 3, 3)}"
        return rng.choice((madrid, mobile, f"93 {groups(rng, 3, 2, 2)}", f"+34 {madrid}", f"+34 {mobile}"))
    if kind == 8:  # India: mobiles are written without the trunk 0, landlines with it
        mobile = f"{rng.choice('6789')}{groups(rng, 4, 5)}"
        return rng.choice(
            (
                mobile,
                f"0{mobile}",
                f"+91 {mobile}",
                f"+91-{mobile.replace(' ', '-')}",
                f"022 {rng.randint(2, 6)}{groups(rng, 3, 4)}",
            )
        )
    return rng.choice(
        (  # elsewhere, international format
            f"+61 2 {rng.randint(8, 9)}{digits(rng, 3)} {digits(rng, 4)}",
            f"+61 4{digits(rng, 2)} {digits(rng, 3)} {digits(rng, 3)}",
            f"+91 9{digits(rng, 4)} {digits(rng, 5)}",
            f"+81 3-{digits(rng, 4)}-{digits(rng, 4)}",
            f"+31 20 {rng.randint(2, 9)}{digits(rng, 2)} {digits(rng, 4)}",
        )
    )


def _luhn_digit(partial: str) -> str:
    total = 0
    for index, ch in enumerate(reversed(partial)):
        value = int(ch)
        if index % 2 == 0:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return str(-total % 10)


_CARD_PREFIXES = (
    ("4", 16),
    ("51", 16),
    ("55", 16),
    ("2221", 16),
    ("2720", 16),
    ("34", 15),
    ("37", 15),
    ("6011", 16),
    ("65", 16),
    ("3530", 16),
    ("36", 14),
    ("62", 16),
    ("4", 19),
)


def card_digits(rng: random.Random) -> str:
    """The digits of a card number of a real issuer range, with a valid Luhn check digit."""
    prefix, length = rng.choice(_CARD_PREFIXES)
    partial = prefix + digits(rng, length - len(prefix) - 1)
    return partial + _luhn_digit(partial)


def format_card(rng: random.Random, number: str) -> str:
    """Card digits grouped as cards are printed (4-6-5 for Amex and Diners), with spaces, dashes or nothing."""
    sep = rng.choice((" ", "-", ""))
    if len(number) in (14, 15):
        parts = [number[:4], number[4:10], number[10:]]
    else:
        parts = [number[i : i + 4] for i in range(0, len(number), 4)]
    return sep.join(parts)


def _card(rng: random.Random) -> str:
    return format_card(rng, card_digits(rng))


# BBAN layouts: "n" digit, "a" upper-case letter, "c" either.
_BBAN = {
    "DE": "n" * 18,
    "GB": "aaaa" + "n" * 14,
    "FR": "n" * 10 + "c" * 11 + "nn",
    "ES": "n" * 20,
    "IT": "a" + "n" * 10 + "c" * 12,
    "NL": "aaaa" + "n" * 10,
    "BE": "n" * 12,
    "CH": "n" * 5 + "c" * 12,
    "AT": "n" * 16,
    "PL": "n" * 24,
    "SE": "n" * 20,
    "IE": "aaaa" + "n" * 14,
    "PT": "n" * 21,
}


def iban_compact(rng: random.Random, corrupt: bool = False) -> str:
    """An IBAN without spaces; with `corrupt`, the same shape with check digits that fail mod-97."""
    country = rng.choice(sorted(_BBAN))
    pools = {"n": string.digits, "a": string.ascii_uppercase, "c": string.ascii_uppercase + string.digits}
    bban = "".join(rng.choice(pools[kind]) for kind in _BBAN[country])
    numeric = int("".join(str(int(ch, 36)) for ch in bban + country + "00"))
    check = 98 - numeric % 97
    if corrupt:  # any other pair of check digits in 02..98 differs by less than 97, so mod-97 fails
        check = rng.choice([other for other in range(2, 99) if other != check])
    return f"{country}{check:02d}{bban}"


def spaced(value: str) -> str:
    """`value` in groups of four separated by spaces, as IBANs are printed."""
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4))


def _iban(rng: random.Random) -> str:
    compact = iban_compact(rng)
    iban = spaced(compact) if rng.random() < 0.5 else compact
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
        return rng.choice(
            (
                f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                str(ipaddress.IPv4Address(rng.randint(0x0B000000, 0xDF000000))),
            )
        )
    address = ipaddress.IPv6Address(rng.getrandbits(128))
    return rng.choice(
        (
            address.compressed,
            address.exploded,
            f"2001:db8::{rng.randint(1, 0xFFFF):x}:{rng.randint(1, 0xFFFF):x}",
            f"fe80::{rng.randint(1, 0xFFFF):x}:{rng.randint(1, 0xFFFF):x}:{rng.randint(1, 0xFFFF):x}",
        )
    )


# The generator of each type whose value goes into a sentence alone (a secret comes with its context).
SIMPLE_VALUES: dict[str, Callable[[random.Random], str]] = {
    EMAIL: _email,
    PHONE: phone_number,
    CREDIT_CARD: _card,
    IBAN: _iban,
    US_SSN: _ssn,
    IP_ADDRESS: _ip,
}
