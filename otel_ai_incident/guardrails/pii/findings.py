"""What a PII scan reports: the kind of entity and where it is, never the value itself.

Findings travel into metrics, spans and logs; keeping the matched text out of them means a finding can be
recorded anywhere without becoming a leak of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

EMAIL = "EMAIL"
PHONE = "PHONE"
CREDIT_CARD = "CREDIT_CARD"
IBAN = "IBAN"
US_SSN = "US_SSN"
IP_ADDRESS = "IP_ADDRESS"
SECRET = "SECRET"

# Built-in entity types in overlap priority order: when two findings cover the same span, the earlier wins.
BUILTIN_ENTITIES: tuple[str, ...] = (SECRET, EMAIL, IBAN, CREDIT_CARD, US_SSN, IP_ADDRESS, PHONE)


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected entity: `text[start:end]` is it. `subtype` says which kind (e.g. "visa", "jwt")."""

    entity_type: str
    start: int
    end: int
    subtype: str | None = field(default=None, repr=False)
