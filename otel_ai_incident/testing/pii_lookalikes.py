"""Look-alikes of PII that a detector must not report: the hard negatives of the evaluation.

Dates, timestamps, epochs, UUIDs, git SHAs, versions, prices, tracking and order numbers, Luhn-failing
16-digit numbers, IBANs with a bad checksum, extensions and room numbers, amounts and lottery numbers.
"""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Callable

from otel_ai_incident.testing.pii_values import (
    alnum,
    card_digits,
    digits,
    format_card,
    groups,
    iban_compact,
    spaced,
)


def _luhn_failing_card(rng: random.Random) -> str:
    number = card_digits(rng)
    number = number[:-1] + str((int(number[-1]) + rng.randint(1, 9)) % 10)
    return format_card(rng, number)


def hard_negative(rng: random.Random) -> str:
    """A sentence holding a look-alike that must not be reported."""
    stamp = rng.randint(1_500_000_000, 1_800_000_000)
    year, month, day = rng.randint(2015, 2030), rng.randint(1, 12), rng.randint(1, 28)
    hour, minute, second = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
    choices: tuple[Callable[[], str], ...] = (
        lambda: f"Your order #{digits(rng, 3)}-{digits(rng, 7)}-{digits(rng, 7)} has shipped.",
        lambda: f"Order number {digits(rng, rng.randint(8, 10))} is confirmed.",
        lambda: f"Order ID: ORD-{year}-{digits(rng, 6)}.",
        lambda: f"The job ran at {year}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}.",
        lambda: f"It was filed on {day:02d}/{month:02d}/{year}.",
        lambda: f"Created {year}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}Z.",
        lambda: f"Last login: {year}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}.{digits(rng, 3)}+02:00",
        lambda: f"Due {month:02d}/{day:02d}/{year} at {hour % 12 + 1}:{minute:02d} pm.",
        lambda: f"The event timestamp is {stamp}.",
        lambda: f"created_at={stamp}{digits(rng, 3)} in the log.",
        lambda: f"Request id {uuid.UUID(int=rng.getrandbits(128), version=4)} failed.",
        lambda: f"Fixed in commit {alnum(rng, 40, '0123456789abcdef')}.",
        lambda: f"See {alnum(rng, 7, '0123456789abcdef')} for the change.",
        lambda: (
            f"Upgrade to version {rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}.{rng.randint(0, 99)}."
        ),
        lambda: f"This needs v{rng.randint(1, 4)}.{rng.randint(0, 30)}.{rng.randint(0, 9)} or later.",
        lambda: f"Tested on Python 3.{rng.randint(8, 13)}.{rng.randint(0, 12)}.",
        lambda: f"The total is ${rng.randint(1, 99)},{digits(rng, 3)}.{digits(rng, 2)}.",
        lambda: f"That plan costs {rng.randint(10, 999)}.{digits(rng, 2)} EUR per month.",
        lambda: f"UPS tracking: 1Z{alnum(rng, 6, string.ascii_uppercase + string.digits)}{digits(rng, 10)}.",
        lambda: f"FedEx tracking number {digits(rng, 12)}.",
        lambda: f"Your FedEx parcel {digits(rng, 4)} {digits(rng, 4)} {digits(rng, 4)} is out for delivery.",
        lambda: f"USPS tracking {rng.choice(('94', '92', '93'))}{digits(rng, rng.randint(18, 20))}.",
        lambda: f"USPS: 9400 {digits(rng, 4)} {digits(rng, 4)} {digits(rng, 4)} {digits(rng, 4)} {digits(rng, 2)}.",
        lambda: f"The reference {_luhn_failing_card(rng)} did not match any card.",
        lambda: f"That code ({iban_compact(rng, corrupt=True)}) is not a valid account.",
        lambda: f"Account {spaced(iban_compact(rng, corrupt=True))} was rejected.",
        lambda: f"Ask for ext. {digits(rng, 4)} at the front desk.",
        lambda: f"The meeting is in room {rng.randint(100, 4999)}.",
        lambda: (
            f"We have {rng.randint(2, 40)} options and {rng.randint(2, 9)} steps; uptime was 99.{rng.randint(1, 99)}%."
        ),
        lambda: f"Lines {rng.randint(10, 300)}-{rng.randint(301, 900)} of main.py changed.",
        lambda: f"Call back in {rng.randint(2, 48)} hours, reference {digits(rng, 6)}.",
        lambda: f"Your tracking number is {rng.choice('6789')}{groups(rng, 4, 5)}.",
        lambda: f"Order {rng.choice('6789')}{groups(rng, 2, 3, 3)} has been dispatched.",
        lambda: f"Revenue reached {rng.randint(100, 999)} {groups(rng, 3, 3)} EUR last year.",
        lambda: f"The city has {rng.randint(1, 9)} {groups(rng, 3, 3)} inhabitants.",
        lambda: f"The budget is € {rng.randint(100, 999)} {groups(rng, 3, 3)} for the year.",
        lambda: f"The winning numbers were {' '.join(str(n) for n in sorted(rng.sample(range(1, 50), 6)))}.",
        lambda: f"That code ({iban_compact(rng, corrupt=True).lower()}) is not a valid account either.",
        lambda: f"Ticket {groups(rng, 2, 4, 4)} was closed on {day:02d}.{month:02d}.{year}.",
    )
    return rng.choice(choices)()
