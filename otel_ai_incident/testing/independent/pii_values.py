"""Values of each PII type that are valid by their public format rules, and the checks that say so.

References: phone numbers by the `phonenumbers` library's per-region metadata (ITU-T E.164 and the national
numbering plans it encodes), validated per region and line type; IBAN lengths and BBAN structures from the SWIFT
IBAN registry with ISO 13616 mod-97 check digits; card numbers by the issuers' published IIN ranges and lengths
with the Luhn check digit; US SSNs by the SSA's rules (no area 000, 666 or 900-999, no group 00, no serial 0000);
e-mail addresses by RFC 5321 and RFC 6531 (UTF-8 local parts and domains); IPv6 text by RFC 5952; secrets by the
token formats their vendors publish.
"""

from __future__ import annotations

import ipaddress
import random
import string
import zlib

import phonenumbers

DIGITS = string.digits
HEX = "0123456789abcdef"
ALNUM = string.ascii_letters + string.digits
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
URLSAFE = ALNUM + "-_"
BASE32 = string.ascii_uppercase + "234567"
BASE64 = ALNUM + "+/"


def _pick(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


# ---------------------------------------------------------------- phones

_LINE_TYPES = {
    "mobile": {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE},
    "fixed": {phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE},
}
_EXAMPLE_TYPE = {"mobile": phonenumbers.PhoneNumberType.MOBILE, "fixed": phonenumbers.PhoneNumberType.FIXED_LINE}


def phone_is_valid(text: str, region: str, line: str) -> bool:
    """Whether `text` parses in `region` to a valid number of the line type (and not a 555-01xx fictional one)."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return False
    national = str(number.national_number)
    fictional = number.country_code == 1 and national[3:6] == "555"
    return (
        phonenumbers.is_valid_number(number)
        and phonenumbers.region_code_for_number(number) == region
        and phonenumbers.number_type(number) in _LINE_TYPES[line]
        and not fictional
    )


def _phone_number(rng: random.Random, region: str, line: str) -> phonenumbers.PhoneNumber:
    """A random number of the region and line type: the metadata's example keeps its leading digits (the
    numbering plan's ranges) and the rest is drawn until the library calls the result valid."""
    example = phonenumbers.example_number_for_type(region, _EXAMPLE_TYPE[line])
    nsn = phonenumbers.national_significant_number(example)
    for attempt in range(500):
        keep = 1 + (attempt // 100) + rng.randrange(2)
        candidate = nsn[:keep] + _pick(rng, DIGITS, len(nsn) - keep)
        number = phonenumbers.parse("+" + str(example.country_code) + candidate)
        text = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if phone_is_valid(text, region, line):
            return number
    raise RuntimeError(f"no valid {line} number found for {region}")


def _national_glue(national: str, glue: str) -> str:
    """A national form with the first space (after the trunk prefix and area code) replaced, e.g. 030/1234567."""
    head, _, tail = national.partition(" ")
    return f"{head}{glue}{tail.replace(' ', '')}" if tail else national


def _intl_with_trunk(number: phonenumbers.PhoneNumber, international: str) -> str:
    """+49 (0)30 123456: the trunk prefix in brackets, as written across Europe."""
    code = f"+{number.country_code} "
    return code + "(0)" + international[len(code) :]


def phone(rng: random.Random, region: str, line: str) -> str:
    """A valid number written the way people of the region write it."""
    number = _phone_number(rng, region, line)
    fmt = phonenumbers.PhoneNumberFormat
    international = phonenumbers.format_number(number, fmt.INTERNATIONAL)
    national = phonenumbers.format_number(number, fmt.NATIONAL)
    forms = [international, international, national, phonenumbers.format_number(number, fmt.E164)]
    if region in {"DE", "AT"}:
        forms += [_national_glue(national, "/"), _intl_with_trunk(number, international)]
    elif region in {"FR", "GB", "CH", "NL", "IT"}:
        forms.append(_intl_with_trunk(number, international) if region != "IT" else international)
        if region == "FR":
            forms.append(national.replace(" ", "."))
    elif region == "US":
        digits = phonenumbers.national_significant_number(number)
        forms += [f"{digits[:3]}-{digits[3:6]}-{digits[6:]}", f"{digits[:3]}.{digits[3:6]}.{digits[6:]}"]
        forms.append(f"+1 ({digits[:3]}) {digits[3:6]}-{digits[6:]}")
    elif region in {"PL", "NL", "SE"}:
        forms.append(national.replace(" ", "-"))
    value = rng.choice(forms)
    if not phone_is_valid(value, region, line):  # every written form must still be the same valid number
        value = international
    return value


# ---------------------------------------------------------------- IBAN

# Country: (length, BBAN structure) from the SWIFT IBAN registry; n digits, a upper-case letters, c alphanumerics.
IBAN_REGISTRY: dict[str, tuple[int, str]] = {
    "DE": (22, "8n10n"),
    "FR": (27, "5n5n11c2n"),
    "ES": (24, "4n4n1n1n10n"),
    "IT": (27, "1a5n5n12c"),
    "NL": (18, "4a10n"),
    "PL": (28, "8n16n"),
    "GB": (22, "4a6n8n"),
    "SE": (24, "3n16n1n"),
    "CH": (21, "5n12c"),
    "BE": (16, "3n7n2n"),
    "AT": (20, "5n11n"),
    "PT": (25, "4n4n11n2n"),
    "BR": (29, "8n5n10n1a1c"),
    "IE": (22, "4a6n8n"),
}
_CLASSES = {"n": DIGITS, "a": string.ascii_uppercase, "c": string.ascii_uppercase + DIGITS}


def _mod97(iban: str) -> int:
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97


def iban_is_valid(text: str) -> bool:
    compact = text.replace(" ", "")
    entry = IBAN_REGISTRY.get(compact[:2])
    return entry is not None and len(compact) == entry[0] and compact[2:4].isdigit() and _mod97(compact) == 1


def iban(rng: random.Random, country: str) -> str:
    """A registry-shaped IBAN with correct check digits, compact or in the 4-character print groups."""
    length, structure = IBAN_REGISTRY[country]
    bban, count = "", ""
    for ch in structure:
        if ch.isdigit():
            count += ch
        else:
            bban += _pick(rng, _CLASSES[ch], int(count))
            count = ""
    check = 98 - _mod97(country + "00" + bban)
    compact = f"{country}{check:02d}{bban}"
    assert len(compact) == length and iban_is_valid(compact)
    if rng.random() < 0.6:
        return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))
    return compact


def iban_bad_check(rng: random.Random, country: str) -> str:
    """A registry-shaped IBAN whose check digits are wrong: not an IBAN."""
    good = iban(rng, country).replace(" ", "")
    digits = f"{(int(good[2:4]) + rng.randrange(1, 96)) % 97 + 2:02d}"
    bad = good[:2] + digits + good[4:]
    return bad if not iban_is_valid(bad) else good[:2] + "00" + good[4:]


# ---------------------------------------------------------------- cards

# Brand: (IIN prefixes, lengths, grouping) from the issuers' published ranges.
CARD_BRANDS: dict[str, tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...]]] = {
    "visa": (("4",), (16,), (4, 4, 4, 4)),
    "mastercard": (("51", "52", "53", "54", "55", "2221", "2305", "2500", "2720"), (16,), (4, 4, 4, 4)),
    "amex": (("34", "37"), (15,), (4, 6, 5)),
    "discover": (("6011", "644", "649", "65"), (16,), (4, 4, 4, 4)),
    "jcb": (("3528", "3540", "3589"), (16,), (4, 4, 4, 4)),
    "diners": (("300", "305", "36", "38"), (14,), (4, 6, 4)),
    "unionpay": (("62",), (16,), (4, 4, 4, 4)),
    "maestro": (("5018", "5020", "5038", "6304", "6759", "6761"), (19,), (4, 4, 4, 4, 3)),
    "visa19": (("4",), (19,), (4, 4, 4, 4, 3)),
}


def luhn_is_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _luhn_digit(body: str) -> str:
    return next(d for d in DIGITS if luhn_is_valid(body + d))


def card_digits(rng: random.Random, brand: str) -> str:
    prefixes, lengths, _ = CARD_BRANDS[brand]
    prefix = rng.choice(prefixes)
    body = prefix + _pick(rng, DIGITS, rng.choice(lengths) - len(prefix) - 1)
    return body + _luhn_digit(body)


def write_card(rng: random.Random, digits: str, grouping: tuple[int, ...]) -> str:
    style = rng.random()
    if style < 0.3:
        return digits
    sep = " " if style < 0.8 else "-"
    out, i = [], 0
    for size in grouping:
        out.append(digits[i : i + size])
        i += size
    return sep.join(out)


def card(rng: random.Random) -> str:
    brand = rng.choices(list(CARD_BRANDS), weights=[30, 25, 10, 6, 6, 4, 6, 8, 5])[0]
    return write_card(rng, card_digits(rng, brand), CARD_BRANDS[brand][2])


def card_bad_luhn(rng: random.Random) -> str:
    digits = card_digits(rng, "visa")
    wrong = str((int(digits[-1]) + rng.randrange(1, 10)) % 10)
    return write_card(rng, digits[:-1] + wrong, (4, 4, 4, 4))


# ---------------------------------------------------------------- SSN

SSN_INVALIDATED = frozenset({"078-05-1120", "219-09-9999", "123-45-6789"})


def ssn_is_valid(text: str) -> bool:
    digits = text.replace("-", "").replace(" ", "")
    if len(digits) != 9 or not digits.isdigit():
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    dashed = f"{area}-{group}-{serial}"
    return (
        area not in {"000", "666"}
        and area < "900"
        and group != "00"
        and serial != "0000"
        and (dashed not in SSN_INVALIDATED)
    )


def ssn(rng: random.Random) -> str:
    while True:
        area = rng.randrange(1, 900)
        value = f"{area:03d}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10000):04d}"
        if ssn_is_valid(value):
            return value if rng.random() < 0.85 else value.replace("-", " ")


def ssn_invalid(rng: random.Random) -> str:
    """Numbers in the SSN shape that the SSA never issues."""
    kind = rng.randrange(5)
    group, serial = f"{rng.randrange(1, 100):02d}", f"{rng.randrange(1, 10000):04d}"
    if kind == 0:
        return f"000-{group}-{serial}"
    if kind == 1:
        return f"666-{group}-{serial}"
    if kind == 2:
        return f"{rng.randrange(900, 1000)}-{group}-{serial}"
    if kind == 3:
        return f"{rng.randrange(1, 900):03d}-00-{serial}"
    return rng.choice(sorted(SSN_INVALIDATED))


# ---------------------------------------------------------------- IP addresses

_PUBLIC_FIRST = [23, 31, 45, 51, 62, 77, 81, 88, 91, 104, 142, 151, 172, 185, 193, 203, 212, 217]


def ipv4(rng: random.Random) -> str:
    """Mostly public addresses; a quarter in the private ranges that fill internal logs."""
    octets = [rng.randrange(0, 256), rng.randrange(0, 256), rng.randrange(1, 255)]
    draw = rng.random()
    if draw < 0.1:
        return "10.{}.{}.{}".format(*octets)
    if draw < 0.2:
        return "192.168.{1}.{2}".format(*octets)
    if draw < 0.25:
        return f"172.{rng.randrange(16, 32)}.{octets[1]}.{octets[2]}"
    return f"{rng.choice(_PUBLIC_FIRST)}.{octets[0]}.{octets[1]}.{octets[2]}"


def ipv6(rng: random.Random) -> str:
    """A global unicast address with a run of zero groups, written per RFC 5952 (or, rarely, in full)."""
    groups = [rng.choice([0x2001, 0x2A00, 0x2A01, 0x2600, 0x2607, 0x2804, 0x2400])]
    groups += [rng.randrange(0, 0x10000) for _ in range(7)]
    zero_from = rng.randrange(2, 6)
    for i in range(zero_from, zero_from + rng.randrange(0, 3)):
        groups[i] = 0
    address = ipaddress.IPv6Address(":".join(f"{g:x}" for g in groups))
    return address.exploded if rng.random() < 0.1 else address.compressed


def ip_address(rng: random.Random) -> str:
    return ipv6(rng) if rng.random() < 0.3 else ipv4(rng)


def ip_is_valid(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------- e-mail


def email(rng: random.Random, first: str, last: str, domains: list[str], unicode_ok: bool) -> str:
    """RFC 5321 local parts (dots, plus tags, digits, hyphens and underscores) on the locale's providers and
    company domains; with `unicode_ok`, the names keep their letters (RFC 6531)."""
    if not unicode_ok:
        first, last = ascii_fold(first), ascii_fold(last)
    first, last = first.lower().replace(" ", ""), last.lower().replace(" ", "")
    local = rng.choice(
        [
            f"{first}.{last}",
            f"{first[0]}.{last}",
            f"{first}{last}",
            f"{first}_{last}{rng.randrange(1, 99)}",
            f"{first}.{last}+{rng.choice(['billing', 'news', 'travel', 'work'])}",
            f"{last}-{first[0]}",
            f"{first}{rng.randrange(1970, 2005)}",
        ]
    )
    return f"{local}@{rng.choice(domains)}"


_FOLD = str.maketrans(
    {
        "ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "é": "e", "è": "e", "ê": "e", "ë": "e", "á": "a", "à": "a",
        "â": "a", "ã": "a", "ç": "c", "í": "i", "ì": "i", "ï": "i", "ó": "o", "ò": "o", "ô": "o", "õ": "o",
        "ú": "u", "ù": "u", "ñ": "n", "ł": "l", "ś": "s", "ź": "z", "ż": "z", "ć": "c", "ń": "n", "ą": "a",
        "ę": "e", "å": "a", "ø": "o", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "É": "E", "Ł": "L", "Ś": "S", "Å": "A",
        "Ż": "Z", "Ó": "O", "Á": "A", "Í": "I", "Ú": "U", "Ç": "C",
    }
)  # fmt: skip


def ascii_fold(text: str) -> str:
    return text.translate(_FOLD)


def email_is_valid(text: str) -> bool:
    """The RFC 5321/6531 shape: one @, a dot-atom local part of at most 64 octets, a domain of labels."""
    local, at, domain = text.rpartition("@")
    if not at or not local or len(local.encode()) > 64 or ".." in local or local[0] == "." or local[-1] == ".":
        return False
    labels = domain.split(".")
    return len(labels) >= 2 and all(label and not label.startswith("-") for label in labels) and labels[-1].isalpha()


# ---------------------------------------------------------------- secrets


def _crc_token(rng: random.Random, prefix: str) -> str:
    """GitHub's and npm's format: prefix + 30 random base62 characters + their CRC32 in 6 base62 characters."""
    body = _pick(rng, ALNUM, 30)
    crc, tail = zlib.crc32(body.encode()), ""
    while crc:
        crc, rem = divmod(crc, 62)
        tail = BASE62[rem] + tail
    return prefix + body + tail.rjust(6, "0")


def _openai(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return "sk-" + _pick(rng, ALNUM, 20) + "T3BlbkFJ" + _pick(rng, ALNUM, 20)
    head = rng.choice(["sk-proj-", "sk-svcacct-"])
    return head + _pick(rng, URLSAFE, 74) + "T3BlbkFJ" + _pick(rng, URLSAFE, 74)


def _slack(rng: random.Random) -> str:
    ids = f"{_pick(rng, DIGITS, rng.randrange(10, 14))}-{_pick(rng, DIGITS, rng.randrange(10, 14))}"
    if rng.random() < 0.5:
        return f"xoxb-{ids}-{_pick(rng, ALNUM, 24)}"
    return f"xoxp-{ids}-{_pick(rng, DIGITS, 13)}-{_pick(rng, HEX, 32)}"


# Vendor: (label a config file would give it, generator).
SECRET_FORMATS = {
    "aws_access_key_id": ("AWS_ACCESS_KEY_ID", lambda r: r.choice(["AKIA", "ASIA"]) + _pick(r, BASE32, 16)),
    "aws_secret_access_key": ("AWS_SECRET_ACCESS_KEY", lambda r: _pick(r, BASE64, 40)),
    "github_classic": ("GITHUB_TOKEN", lambda r: _crc_token(r, r.choice(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]))),
    "github_fine_grained": ("GH_TOKEN", lambda r: "github_pat_" + _pick(r, ALNUM, 22) + "_" + _pick(r, ALNUM, 59)),
    "gitlab": ("GITLAB_TOKEN", lambda r: "glpat-" + _pick(r, URLSAFE, 20)),
    "slack": ("SLACK_BOT_TOKEN", _slack),
    "stripe": ("STRIPE_SECRET_KEY", lambda r: r.choice(["sk_live_", "rk_live_"]) + _pick(r, ALNUM, 24)),
    "google_api": ("GOOGLE_API_KEY", lambda r: "AIza" + _pick(r, URLSAFE, 35)),
    "twilio": ("TWILIO_API_KEY", lambda r: "SK" + _pick(r, HEX, 32)),
    "sendgrid": ("SENDGRID_API_KEY", lambda r: "SG." + _pick(r, URLSAFE, 22) + "." + _pick(r, URLSAFE, 43)),
    "mailgun": ("MAILGUN_API_KEY", lambda r: "key-" + _pick(r, HEX, 32)),
    "npm": ("NPM_TOKEN", lambda r: _crc_token(r, "npm_")),
    "pypi": ("PYPI_TOKEN", lambda r: "pypi-AgEIcHlwaS5vcmc" + _pick(r, URLSAFE, r.randrange(140, 200))),
    "huggingface": ("HF_TOKEN", lambda r: "hf_" + _pick(r, string.ascii_letters, 34)),
    "openai": ("OPENAI_API_KEY", _openai),
    "anthropic": ("ANTHROPIC_API_KEY", lambda r: "sk-ant-api03-" + _pick(r, URLSAFE, 93) + "AA"),
    "azure_storage": ("AccountKey", lambda r: _pick(r, BASE64, 85) + r.choice("AQgw") + "=="),
    "datadog": ("DD_API_KEY", lambda r: _pick(r, HEX, 32)),
    "shopify": ("SHOPIFY_ACCESS_TOKEN", lambda r: r.choice(["shpat_", "shpss_", "shpca_"]) + _pick(r, HEX, 32)),
    "digitalocean": ("DIGITALOCEAN_TOKEN", lambda r: "dop_v1_" + _pick(r, HEX, 64)),
}
# Formats with nothing in the value itself that says "secret": only their label does.
LABEL_ONLY_SECRETS = frozenset({"aws_secret_access_key", "azure_storage", "datadog"})


def secret(rng: random.Random) -> tuple[str, str, str]:
    """(vendor, the label a config would use, token)."""
    vendor = rng.choice(list(SECRET_FORMATS))
    label, make = SECRET_FORMATS[vendor]
    return vendor, label, make(rng)


PLACEHOLDER_SECRETS = (
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AKIAXXXXXXXXXXXXXXXX",
    "ghp_" + "x" * 36,
    "ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "sk_live_" + "X" * 24,
    "sk-proj-...",
    "sk-ant-api03-...",
    "<YOUR_API_KEY>",
    "your-api-key-here",
    "hf_" + "x" * 34,
    "glpat-xxxxxxxxxxxxxxxxxxxx",
    "xoxb-your-bot-token",
    "${OPENAI_API_KEY}",
    "npm_" + "0" * 36,
)
