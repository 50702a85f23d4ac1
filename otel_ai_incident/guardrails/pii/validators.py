"""Checksums and structural checks that turn a regex candidate into a finding.

A regex alone cannot tell a card number from an order number of the same shape; these checks can, and
they run only on the few candidates a regex found, so they may be exact rather than fast. Every function
takes the matched text and returns a bool (or the subtype for cards), so they can also back user patterns.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
import string
from collections.abc import Callable

_DIGIT_VALUES = {str(d): d for d in range(10)}


def digits_of(text: str) -> str:
    """The decimal digits of `text`, separators dropped."""
    if text.isascii() and text.isdigit():  # already bare, as the number recogniser passes them: skip the copy
        return text
    return "".join(ch for ch in text if ch in _DIGIT_VALUES)


def luhn_valid(text: str) -> bool:
    """Luhn mod-10 over the digits of `text` (cards, IMEIs); needs at least two digits."""
    digits = digits_of(text)[::-1]
    if len(digits) < 2:
        return False
    # Every second digit from the right doubled (digits of the product summed), looked up not computed:
    # no Python step per digit.
    total = sum(map(_DIGIT_VALUES.__getitem__, digits[::2])) + sum(map(_LUHN_DOUBLED.__getitem__, digits[1::2]))
    return total % 10 == 0


_LUHN_DOUBLED = {str(d): d * 2 - 9 if d > 4 else d * 2 for d in range(10)}


# (issuer, prefix ranges as (low, high) over the first len(low) digits, allowed lengths).
_CARD_ISSUERS: tuple[tuple[str, tuple[tuple[str, str], ...], frozenset[int]], ...] = (
    ("amex", (("34", "34"), ("37", "37")), frozenset({15})),
    ("visa", (("4", "4"),), frozenset({13, 16, 19})),
    ("mastercard", (("51", "55"), ("2221", "2720")), frozenset({16})),
    ("discover", (("6011", "6011"), ("644", "649"), ("65", "65")), frozenset({16, 19})),
    ("diners", (("300", "305"), ("36", "36"), ("38", "39")), frozenset({14, 16, 19})),
    ("jcb", (("3528", "3589"),), frozenset({16, 17, 18, 19})),
    ("unionpay", (("62", "62"),), frozenset({16, 17, 18, 19})),
    (
        "maestro",
        (
            ("5018", "5018"),
            ("5020", "5020"),
            ("5038", "5038"),
            ("5893", "5893"),
            ("6304", "6304"),
            ("6759", "6759"),
            ("6761", "6763"),
        ),
        frozenset({12, 13, 14, 15, 16, 17, 18, 19}),
    ),
)


def card_issuer(text: str) -> str | None:
    """The issuer whose prefix range and length fit the digits and whose Luhn check passes, else None."""
    digits = digits_of(text)
    for issuer, ranges, lengths in _CARD_ISSUERS:
        if len(digits) in lengths and any(low <= digits[: len(low)] <= high for low, high in ranges):
            return issuer if luhn_valid(digits) else None  # the range check first: it rejects most numbers
    return None


# IBAN length per country (SWIFT IBAN registry), written country code then length; a code of another length
# is not an IBAN of that country.
_IBAN_REGISTRY = """
AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BR29 BY28 CH21 CR22 CY28
CZ24 DE22 DK18 DO28 EE20 EG29 ES24 FI18 FO18 FR27 GB22 GE22 GI23 GL18
GR27 GT28 HR21 HU28 IE22 IL23 IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32
LI21 LT20 LU20 LV21 MC27 MD24 ME22 MK19 MR27 MT31 MU30 NL18 NO15 PK24
PL28 PS29 PT25 QA29 RO24 RS22 SA24 SC31 SE24 SI19 SK24 SM27 ST25 SV28
TL23 TN24 TR26 UA29 VA22 VG24 XK20
"""
IBAN_LENGTHS = {entry[:2]: int(entry[2:]) for entry in _IBAN_REGISTRY.split()}


def iban_valid(text: str) -> bool:
    """Country length and ISO 7064 mod-97 check of an IBAN, spaces ignored."""
    compact = text.replace(" ", "").upper()
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum() or not compact.isascii():
        return False
    rearranged = compact[4:] + compact[:4]
    return int(rearranged.translate(_IBAN_LETTER_VALUES)) % 97 == 1


# Letters count as two digits in the mod-97 check (A = 10 ... Z = 35): one `str.translate`, not a step per char.
_IBAN_LETTER_VALUES = str.maketrans({letter: str(value) for value, letter in enumerate(string.ascii_uppercase, 10)})


# Numbers the SSA has voided or never issued although the area, group and serial rules allow them: the
# Woolworth wallet insert's 078-05-1120, 219-09-9999 printed on an SSA pamphlet, and 123-45-6789. The SSA's
# other advertising numbers, 987-65-4320 to 987-65-4329, fall in the 900-999 areas it never assigns.
_SSN_VOIDED = frozenset(("078051120", "219099999", "123456789"))


def ssn_valid(text: str) -> bool:
    """SSA rules: 9 digits, area not 000, 666 or 900-999, group not 00, serial not 0000, not a voided number."""
    digits = digits_of(text)
    if len(digits) != 9 or digits in _SSN_VOIDED:
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


# A dotted quad exactly as `ipaddress` accepts one: four octets 0-255 in ASCII digits, no leading zeros.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


def ipv4_valid(text: str) -> bool:
    """Whether `text` is an IPv4 address; one regex match, where `ipaddress` costs microseconds per octet."""
    return _IPV4.fullmatch(text) is not None


def ip_version(text: str) -> int | None:
    """4 or 6 when `text` is an IP address (an IPv6 zone index like %eth0 allowed), else None."""
    if ipv4_valid(text):
        return 4
    try:
        return ipaddress.ip_address(text).version
    except ValueError:
        return None


def jwt_valid(text: str) -> bool:
    """Three base64url parts whose first decodes to a JSON object naming an "alg" (RFC 7519 header)."""
    parts = text.split(".")
    if len(parts) != 3:
        return False
    header = parts[0]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (binascii.Error, ValueError):
        return False
    return isinstance(decoded, dict) and "alg" in decoded


# A PyPI API token is "pypi-" and a base64url macaroon (version 2 binary format): the version byte 2, then
# the optional location field (type 1, one length byte), which PyPI sets to the index that issued the token.
_MACAROON_HEAD_CHARS = 32  # base64 of 24 bytes: version, field type, length and a location of up to 21 bytes


def pypi_token_valid(text: str) -> bool:
    """Whether the macaroon after "pypi-" is a version 2 macaroon located at pypi.org or test.pypi.org."""
    head = text.removeprefix("pypi-")[:_MACAROON_HEAD_CHARS]
    try:
        decoded = base64.urlsafe_b64decode(head[: len(head) // 4 * 4])
    except (binascii.Error, ValueError):
        return False
    if len(decoded) < 3 or decoded[0] != 2 or decoded[1] != 1:
        return False
    return decoded[3 : 3 + decoded[2]] in (b"pypi.org", b"test.pypi.org")


def looks_random(text: str) -> bool:
    """True when `text` mixes at least two of lower case, upper case and digits, as generated tokens do.

    Keeps placeholders such as YOUR_API_TOKEN or "your-token-here" out of the SECRET findings.
    """
    if text.isascii():  # tokens are: three string operations in C instead of a Python step per character
        classes = (text != text.upper(), text != text.lower(), _ASCII_DIGIT.search(text) is not None)
    else:
        classes = (any(ch.islower() for ch in text), any(ch.isupper() for ch in text), any(ch.isdigit() for ch in text))
    return sum(classes) >= 2


_ASCII_DIGIT = re.compile(r"[0-9]")


# What documentation and templates put where a token goes: AKIAXXXXXXXXXXXXXXXX, ghp_xxxx..., AWS's own
# AKIAIOSFODNN7EXAMPLE, dop_v1_000...; a generated token holds none of these but by a tiny chance.
# The words and the repeated character are searched apart: one alternation of both has no literal to skip
# ahead to, and cost several microseconds per token. An ASCII token is lowered first, so its words are plain
# literals; `(?i)` matching of other scripts has folds of its own, so they keep the flag.
_PLACEHOLDER_WORDS = "xxxx|example|your|dummy|redacted"
_PLACEHOLDER_WORD = re.compile(_PLACEHOLDER_WORDS)
_PLACEHOLDER_WORD_ANY_CASE = re.compile(f"(?i:{_PLACEHOLDER_WORDS})")
_REPEATED_CHARACTER = re.compile(r"(.)\1{7}")


def not_placeholder(text: str) -> bool:
    """False for the fillers of documentation and templates (a run of X, "EXAMPLE", one character repeated)."""
    word = _PLACEHOLDER_WORD.search(text.lower()) if text.isascii() else _PLACEHOLDER_WORD_ANY_CASE.search(text)
    return word is None and _REPEATED_CHARACTER.search(text) is None


def card_valid(text: str) -> bool:
    """Adapter so the card check can back a user pattern like the boolean checks."""
    return card_issuer(text) is not None


def ip_valid(text: str) -> bool:
    """Adapter so the IP check can back a user pattern like the boolean checks."""
    return ip_version(text) is not None


# Checks a user pattern may name in YAML (`validator: luhn`).
VALIDATORS: dict[str, Callable[[str], bool]] = {
    "luhn": luhn_valid,
    "credit_card": card_valid,
    "iban": iban_valid,
    "us_ssn": ssn_valid,
    "ip_address": ip_valid,
    "jwt": jwt_valid,
    "random_token": looks_random,
}
