"""Strings that look like PII and are not: what a scanner must leave alone in an assistant's reply.

Version strings and section numbers shaped like IPv4 addresses, order and tracking ids, UUIDs, digests,
placeholder keys from vendors' documentation, the 555-01xx numbers reserved for fiction, numbers that fail their
checksum (Luhn, IBAN mod-97) or that the SSA never issues, EINs, ISBNs, OIDs, coordinates, MAC addresses, asset
names with an @ in them.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from otel_ai_incident.testing.independent import pii_values as v
from otel_ai_incident.testing.independent.pii_locales import Locale


@dataclass(frozen=True)
class Negative:
    kind: str
    label_key: str  # a key of Locale.labels, or "" for a literal English label in `label`
    label: str
    text: str


def _isbn13(rng: random.Random) -> str:
    body = "978" + "".join(rng.choice(v.DIGITS) for _ in range(9))
    check = (10 - sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body)) % 10) % 10
    return f"{body[:3]}-{body[3]}-{body[4:6]}-{body[6:12]}-{check}"


def _version(rng: random.Random) -> str:
    a, b, c, d = rng.randrange(0, 12), rng.randrange(0, 30), rng.randrange(0, 40), rng.randrange(0, 300)
    return rng.choice([f"{a}.{b}.{c}.{d}", f"v{a}.{b}.{c}", f"{a}.{b}.{c}", f"{a}.{b}.{c}-rc.{d % 9}"])


def _section(rng: random.Random) -> str:
    parts = [str(rng.randrange(1, 15)) for _ in range(rng.randrange(3, 5))]
    return ".".join(parts) if rng.random() < 0.7 else "§ " + ".".join(parts)


def _order(rng: random.Random) -> str:
    return rng.choice(
        [
            f"ORD-{rng.randrange(2019, 2027)}-{rng.randrange(0, 10**6):06d}",
            f"#{rng.randrange(10**8, 10**10)}",
            f"A{rng.randrange(10**7, 10**8)}",
            f"{rng.randrange(100, 1000)}-{rng.randrange(10**6, 10**7)}-{rng.randrange(10**6, 10**7)}",
        ]
    )


def _tracking(rng: random.Random) -> str:
    ups = "1Z" + "".join(rng.choice(v.BASE62[:36]) for _ in range(6)) + f"{rng.randrange(10**9, 10**10)}"
    return rng.choice([ups, f"JD{rng.randrange(10**15, 10**16)}", f"{rng.randrange(10**11, 10**12)}"])


def _fictional_phone(rng: random.Random) -> str:
    area = rng.choice(["212", "310", "415", "617", "202"])
    return rng.choice([f"({area}) 555-01{rng.randrange(0, 100):02d}", f"{area}-555-01{rng.randrange(0, 100):02d}"])


def _ip_lookalike(rng: random.Random) -> str:
    return f"{rng.randrange(256, 999)}.{rng.randrange(0, 256)}.{rng.randrange(0, 256)}.{rng.randrange(0, 256)}"


def _mac(rng: random.Random) -> str:
    return ":".join(f"{rng.randrange(0, 256):02x}" for _ in range(6))


def _amount(rng: random.Random, locale: Locale) -> str:
    units = rng.randrange(1, 10**5)
    grouped = f"{units:,}" if locale.code[:2] in {"en", "ja"} else f"{units:,}".replace(",", ".")
    return locale.amount_format.format(units=grouped, cents=f"{rng.randrange(0, 100):02d}")


def _digest(rng: random.Random) -> str:
    n = rng.choice([7, 32, 40, 64])
    text = "".join(rng.choice(v.HEX) for _ in range(n))
    return "sha256:" + text if n == 64 and rng.random() < 0.4 else text


_KINDS: dict[str, tuple[str, str, Callable[[random.Random, Locale], str]]] = {
    "version": ("version", "", lambda r, loc: _version(r)),
    "section": ("section", "", lambda r, loc: _section(r)),
    "order": ("order", "", lambda r, loc: _order(r)),
    "tracking": ("tracking", "", lambda r, loc: _tracking(r)),
    "uuid": ("", "Request ID", lambda r, loc: str(uuid.UUID(int=r.getrandbits(128), version=4))),
    "digest": ("", "Checksum", lambda r, loc: _digest(r)),
    "placeholder_key": ("token", "", lambda r, loc: r.choice(v.PLACEHOLDER_SECRETS)),
    "fictional_phone": ("phone", "", lambda r, loc: _fictional_phone(r)),
    "bad_luhn": ("card", "", lambda r, loc: v.card_bad_luhn(r)),
    "bad_iban": ("iban", "", lambda r, loc: v.iban_bad_check(r, loc.iban_country or "DE")),
    "bad_ssn": ("ssn", "", lambda r, loc: v.ssn_invalid(r)),
    "ein": ("", "EIN", lambda r, loc: f"{r.randrange(10, 99)}-{r.randrange(10**6, 10**7)}"),
    "isbn": ("", "ISBN", lambda r, loc: _isbn13(r)),
    "oid": ("", "OID", lambda r, loc: "1.3.6.1.4.1." + ".".join(str(r.randrange(1, 60000)) for _ in range(3))),
    "coordinates": ("", "GPS", lambda r, loc: f"{r.uniform(-60, 70):.4f}, {r.uniform(-170, 170):.4f}"),
    "mac": ("", "MAC", lambda r, loc: _mac(r)),
    "asset": ("", "Asset", lambda r, loc: r.choice(["icon@2x.png", "logo@3x.webp", "@types/node@20.11.5"])),
    "ip_lookalike": ("", "Build", lambda r, loc: _ip_lookalike(r)),
    "amount": ("amount", "", lambda r, loc: _amount(r, loc)),
    "date": ("date", "", lambda r, loc: f"{r.randrange(2019, 2027)}-{r.randrange(1, 13):02d}-{r.randrange(1, 29):02d}"),
}
NEGATIVE_KINDS = tuple(_KINDS)


def negative(rng: random.Random, locale: Locale, kind: str | None = None) -> Negative:
    kind = kind or rng.choice(NEGATIVE_KINDS)
    label_key, literal, make = _KINDS[kind]
    label = locale.labels[label_key] if label_key else literal
    return Negative(kind, label_key, label, make(rng, locale))
