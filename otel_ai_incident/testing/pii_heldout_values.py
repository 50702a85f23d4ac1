"""Values for the held-out PII evaluation, each built from a public format reference, not from the detector.

Phones come from the `phonenumbers` numbering-plan metadata (the example number of a region and line type,
subscriber digits redrawn until the library calls the number valid for that region and type); cards from
the issuers' IIN ranges and lengths with a Luhn check digit; IBANs from the IBAN registry's BBAN layouts
with ISO 7064 mod 97-10 check digits; SSNs from the SSA's assignment rules; tokens from their vendors'
published prefixes and lengths. Hard negatives are values of the same shape that are not personal data.
"""

from __future__ import annotations

import base64
import random
import string

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"


def draw(rng: random.Random, count: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(count))


def _digits(rng: random.Random, count: int) -> str:
    return draw(rng, count, string.digits)


# ---------------------------------------------------------------- phones (numbering plans via phonenumbers)

_US_AREAS = ("212", "312", "415", "617", "206", "303", "512", "646", "702", "919", "305", "404")


def _national_number(rng: random.Random, region: str, mobile: bool) -> phonenumbers.PhoneNumber:
    kind = PhoneNumberType.MOBILE if mobile else PhoneNumberType.FIXED_LINE
    example = phonenumbers.example_number_for_type(region, kind)
    nsn = phonenumbers.national_significant_number(example)
    keep = max(1, len(nsn) - 7)
    for _ in range(200):
        if region in ("US", "CA"):
            exchange = str(rng.randint(200, 999))
            if exchange == "555":
                continue
            candidate = rng.choice(_US_AREAS) + exchange + _digits(rng, 4)
        else:
            candidate = nsn[:keep] + _digits(rng, len(nsn) - keep)
        number = phonenumbers.parse("+" + str(example.country_code) + candidate)
        if phonenumbers.is_valid_number_for_region(number, region) and phonenumbers.number_type(number) in (
            kind,
            PhoneNumberType.FIXED_LINE_OR_MOBILE,
        ):
            return number
    return example


def phone(rng: random.Random, region: str) -> str:
    """A valid number of `region`, written the way people in that region commonly write it."""
    number = _national_number(rng, region, mobile=rng.random() < 0.5)
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    forms = [national, national, international, phonenumbers.format_number(number, PhoneNumberFormat.E164)]
    area = phonenumbers.length_of_geographical_area_code(number)
    nsn = phonenumbers.national_significant_number(number)
    if region == "DE" and area:
        forms += [f"0{nsn[:area]}/{nsn[area:]}", f"+49 (0){nsn[:area]} {nsn[area:]}", f"0{nsn[:area]}-{nsn[area:]}"]
    elif region in ("FR", "GB"):
        forms.append(international.replace(" ", " (0)", 1))
        if region == "FR":
            forms.append(national.replace(" ", "."))
    elif region == "US":
        forms += [national[1:4] + "-" + national[6:], national[1:4] + "." + national[6:].replace("-", ".")]
        forms.append("+1 (" + national[1:4] + ") " + national[6:])
    elif region == "BR":
        forms.append("+55 " + national)
    elif region == "PL":
        forms.append("+48 " + nsn)
    return rng.choice(forms)


def fictional_us_phone(rng: random.Random) -> str:
    """555-0100..0199 is reserved for fiction by the North American Numbering Plan."""
    line = f"01{rng.randint(0, 99):02d}"
    return rng.choice((f"(212) 555-{line}", f"555-{line}", f"+1 310-555-{line}"))


# ---------------------------------------------------------------- cards (IIN ranges, Luhn)


def luhn_check_digit(partial: str) -> str:
    total = 0
    for index, char in enumerate(reversed(partial)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            value -= 9 if value > 9 else 0
        total += value
    return str((10 - total % 10) % 10)


_CARD_SCHEMES = (  # (prefixes, length, grouping)
    (("4",), 16, (4, 4, 4, 4)),
    (("51", "52", "53", "54", "55", "2221", "2500", "2720"), 16, (4, 4, 4, 4)),
    (("34", "37"), 15, (4, 6, 5)),
    (("6011", "65"), 16, (4, 4, 4, 4)),
    (("3528", "3540", "3589"), 16, (4, 4, 4, 4)),
    (("5018", "5020", "5038", "6304", "6759", "6761", "6763"), 19, (4, 4, 4, 4, 3)),
    (("62",), 19, (4, 4, 4, 4, 3)),
    (("36",), 14, (4, 6, 4)),
)


def _format_groups(number: str, grouping: tuple[int, ...], sep: str) -> str:
    parts, start = [], 0
    for size in grouping:
        parts.append(number[start : start + size])
        start += size
    return sep.join(parts)


def card(rng: random.Random, valid: bool = True) -> str:
    prefixes, length, grouping = rng.choice(_CARD_SCHEMES)
    partial = rng.choice(prefixes)
    partial += _digits(rng, length - 1 - len(partial))
    check = luhn_check_digit(partial)
    if not valid:
        check = str((int(check) + rng.randint(1, 9)) % 10)
    number = partial + check
    sep = rng.choice((" ", " ", "-", ""))
    return number if not sep else _format_groups(number, grouping, sep)


# ---------------------------------------------------------------- IBANs (registry layouts, mod 97)

IBAN_LAYOUTS = {  # BBAN as (count, kind) pieces: n digits, a upper letters, c upper alphanumerics
    "DE": ((18, "n"),),
    "FR": ((10, "n"), (11, "c"), (2, "n")),
    "ES": ((20, "n"),),
    "PL": ((24, "n"),),
    "GB": ((4, "a"), (14, "n")),
    "NL": ((4, "a"), (10, "n")),
    "IT": ((1, "a"), (10, "n"), (12, "c")),
    "BR": ((23, "n"), (1, "a"), (1, "c")),
    "PT": ((21, "n"),),
    "CH": ((5, "n"), (12, "c")),
    "BE": ((12, "n"),),
    "AT": ((16, "n"),),
}
# Countries of the locales only the second held-out set has.
MORE_IBAN_LAYOUTS = {"SE": ((20, "n"),), "CZ": ((20, "n"),), "TR": ((5, "n"), (1, "n"), (16, "c"))}
_KINDS = {"n": string.digits, "a": string.ascii_uppercase, "c": string.ascii_uppercase + string.digits}


def _mod97(text: str) -> int:
    return int("".join(str(int(char, 36)) for char in text)) % 97


def iban(rng: random.Random, country: str, valid: bool = True) -> str:
    layout = IBAN_LAYOUTS.get(country) or MORE_IBAN_LAYOUTS[country]
    bban = "".join(draw(rng, count, _KINDS[kind]) for count, kind in layout)
    check = 98 - _mod97(bban + country + "00")
    if not valid:
        check = (check + rng.randint(1, 50)) % 97 + 2
    compact = f"{country}{check:02d}{bban}"
    if rng.random() < 0.5:
        return compact
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


# ---------------------------------------------------------------- US SSN and look-alikes


def ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def ein(rng: random.Random) -> str:
    return f"{rng.randint(10, 99)}-{_digits(rng, 7)}"


# ---------------------------------------------------------------- IP addresses


def ip_address(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.35:
        return ".".join(
            str(x) for x in (rng.randint(11, 223), rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254))
        )
    if kind < 0.6:
        return rng.choice(
            (
                f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                f"172.{rng.randint(16, 31)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            )
        )
    groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(8)]
    if kind < 0.8:
        return "2001:db8:" + ":".join(groups[2:])
    return rng.choice(("2a02:8108::", "2001:4860:4860::", "fe80::", "2607:f8b0:4004::")) + ":".join(groups[4:])


# ---------------------------------------------------------------- secrets (vendors' published formats)


def _azure_key(rng: random.Random) -> str:
    return base64.b64encode(bytes(rng.getrandbits(8) for _ in range(64))).decode()


def secret(rng: random.Random) -> tuple[str, str, str]:
    """(label before, the secret, text after): a label stays outside the labelled span."""
    kind = rng.randrange(17)
    upper = string.ascii_uppercase + "234567"
    if kind == 0:
        return rng.choice(("", "Access key ID: ", "aws_access_key_id = ")), "AKIA" + draw(rng, 16, upper), ""
    if kind == 1:
        return (
            rng.choice(("Secret access key: ", "aws_secret_access_key = ", "AWS_SECRET_ACCESS_KEY=")),
            draw(rng, 40, B64),
            "",
        )
    if kind == 2:
        return "", rng.choice(("ghp_", "gho_", "ghu_", "ghs_", "ghr_")) + draw(rng, 36), ""
    if kind == 3:
        return "", "glpat-" + draw(rng, 20, ALNUM + "-_"), ""
    if kind == 4:
        return "", rng.choice(("xoxb-", "xoxp-")) + f"{_digits(rng, 12)}-{_digits(rng, 13)}-" + draw(rng, 24), ""
    if kind == 5:
        return "", rng.choice(("sk_live_", "rk_live_", "sk_test_")) + draw(rng, rng.choice((24, 99))), ""
    if kind == 6:
        return "", "hf_" + draw(rng, 34, string.ascii_letters), ""
    if kind == 7:
        return "", "npm_" + draw(rng, 36), ""
    if kind == 8:
        return "", rng.choice(("shpat_", "shpss_", "shpca_", "shppa_")) + draw(rng, 32, HEX), ""
    if kind == 9:
        return "", rng.choice(("dop_v1_", "doo_v1_", "dor_v1_")) + draw(rng, 64, HEX), ""
    if kind == 10:
        return "", "SG." + draw(rng, 22, B64URL) + "." + draw(rng, 43, B64URL), ""
    if kind == 11:
        account = "st" + draw(rng, 10, string.ascii_lowercase + string.digits)
        before = f"DefaultEndpointsProtocol=https;AccountName={account};AccountKey="
        return before, _azure_key(rng), ";EndpointSuffix=core.windows.net"
    if kind == 12:
        value = draw(rng, 3, ALNUM) + "8Q~" + draw(rng, 34, ALNUM + "_~.-")
        return rng.choice(("client_secret: ", "Client secret: ", "CLIENT_SECRET=")), value, ""
    if kind == 13:
        return rng.choice(("client_secret: ", "Client secret: ")), "GOCSPX-" + draw(rng, 28, B64URL), ""
    if kind == 14:
        return "", "sk-proj-" + draw(rng, 48, B64URL), ""
    if kind == 15:
        return "", "sk-ant-api03-" + draw(rng, 93, B64URL) + "AA", ""
    return "", "github_pat_" + draw(rng, 22) + "_" + draw(rng, 59), ""


PLACEHOLDER_SECRETS = (
    "AKIAXXXXXXXXXXXXXXXX",
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "ghp_" + "x" * 36,
    "ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "sk_live_" + "x" * 24,
    "sk_test_XXXXXXXXXXXXXXXXXXXXXXXX",
    "hf_" + "x" * 34,
    "glpat-xxxxxxxxxxxxxxxxxxxx",
    "npm_" + "X" * 36,
    "xoxb-XXXXXXXXXXXX-XXXXXXXXXXXXX-XXXXXXXXXXXXXXXXXXXXXXXX",
    "<your-api-key>",
    "YOUR_API_KEY_HERE",
    "sk-proj-...",
    "${AWS_SECRET_ACCESS_KEY}",
    "dop_v1_" + "0" * 64,
)


def placeholder_secret(rng: random.Random) -> str:
    label = rng.choice(("api_key=", "Secret access key: ", "token: ", "", "export GITHUB_TOKEN=", "client_secret: "))
    return label + rng.choice(PLACEHOLDER_SECRETS)


# ---------------------------------------------------------------- e-mail (ASCII, IDN and EAI)


def email(rng: random.Random, first: str, last: str, domains: tuple[str, ...]) -> str:
    local = rng.choice(
        (f"{first}.{last}", f"{first[0]}{last}", f"{first}_{last}{rng.randint(1, 99)}", f"{first}+orders", last)
    )
    return f"{local.lower()}@{rng.choice(domains)}"


# ---------------------------------------------------------------- other hard negatives


def timestamp(rng: random.Random) -> str:
    """An ISO 8601 UTC time of 2025."""
    clock = f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
    return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{clock}Z"


def hard_negative(rng: random.Random) -> str:
    """A phrase holding a number or token that looks like PII but is not."""
    kind = rng.randrange(15)
    if kind == 0:
        return f"see section {rng.randint(1, 9)}.{rng.randint(1, 9)}.{rng.randint(1, 9)}.{rng.randint(1, 9)}"
    if kind == 1:
        return rng.choice(("version ", "v", "build ", "release ")) + ".".join(str(rng.randint(0, 20)) for _ in range(4))
    if kind == 2:
        return placeholder_secret(rng)
    if kind == 3:
        return f"EIN {ein(rng)}"
    if kind == 4:
        return f"call {fictional_us_phone(rng)} (a fictional number)"
    if kind == 5:
        return f"the number {card(rng, valid=False)} fails the checksum"
    if kind == 6:
        return f"order #{_digits(rng, rng.choice((8, 9, 10, 12)))}"
    if kind == 7:
        return "at " + timestamp(rng)
    if kind == 8:
        return f"commit {draw(rng, 40, HEX)}"
    if kind == 9:
        return "request id " + "-".join(draw(rng, size, HEX) for size in (8, 4, 4, 4, 12))
    if kind == 10:
        return f"image digest sha256:{draw(rng, 64, HEX)}"
    if kind == 11:
        return f"tracking number 1Z{draw(rng, 16, string.ascii_uppercase + string.digits)}"
    if kind == 12:
        return f"timestamp {rng.randint(1_600_000_000_000, 1_800_000_000_000)}"
    if kind == 13:
        return rng.choice(("icon@2x.png", "the @dataclass decorator", "npm i @scope/pkg@1.2.3"))
    return f"invoice INV-{rng.randint(2020, 2026)}-{_digits(rng, 6)}"
