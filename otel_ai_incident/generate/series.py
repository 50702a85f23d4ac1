"""Synthetic counter series for promtool tests, written in promtool's expanding notation.

A scenario is a list of phases with a per-minute increment per counter (None: the series does not exist).
Values are kept as exact fractions, so runs of equal increments compress to `a+bxn` reliably.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from otel_ai_incident.signals import Matcher, Selector


def exact(value: float | int | Fraction) -> Fraction:
    """A float as the decimal it was written as (0.1 -> 1/10), so sums stay exact."""
    return value if isinstance(value, Fraction) else Fraction(repr(value))


@dataclass(frozen=True)
class Phase:
    """`minutes` minutes during which each counter grows by the given amount per minute."""

    minutes: int
    denominator: Fraction | None
    numerator: Fraction | None


def cumulative(increments: Sequence[Fraction | None]) -> list[Fraction | None]:
    """Counter values from per-minute increments; a series starts at its first increment when it appears
    (a pre-initialised series starts with an increment of 0)."""
    values: list[Fraction | None] = []
    previous: Fraction | None = None
    for increment in increments:
        if increment is None or previous is None:
            previous = increment
        else:
            previous += increment
        values.append(previous)
    return values


def per_minute(phases: Sequence[Phase], total_minutes: int, pick: str) -> list[Fraction | None]:
    """One increment per sample (minute 0 .. total_minutes); the last phase continues to the end."""
    out: list[Fraction | None] = []
    for phase in phases:
        out += [getattr(phase, pick)] * phase.minutes
    out += [getattr(phases[-1], pick)] * (total_minutes + 1 - len(out))
    return out[: total_minutes + 1]


def notation(values: Sequence[Fraction | None]) -> str:
    """promtool's input notation: `_xN` for missing samples, `a+bxN` for runs of equal steps.

    promtool expands `a+bxN` by adding b in floating point, so a run can end a hair above the exact value
    the next run starts at; that start is raised to the run's end, or rate() would see a counter reset.
    """
    tokens: list[str] = []
    last: float | None = None  # the value promtool holds for the previous sample
    i = 0
    while i < len(values):
        start = values[i]
        if start is None:
            j = i
            while j < len(values) and values[j] is None:
                j += 1
            tokens.append(f"_x{j - i}")
            i, last = j, None
            continue
        j = i + 1
        step = values[j] - start if j < len(values) and values[j] is not None else Fraction(0)
        while j < len(values) and values[j] is not None and values[j] - values[j - 1] == step:
            j += 1
        count = j - i - 1
        first = float(start)
        previous = values[i - 1] if i else None
        if last is not None and previous is not None and start >= previous:
            first = max(first, last)
        if count == 0:
            tokens.append(repr(first))
        else:
            tokens.append(f"{first!r}{'-' if step < 0 else '+'}{float(abs(step))!r}x{count}")
        last = first
        for _ in range(count):
            last += float(step)
        i = j
    return " ".join(tokens)


def labels_for(selector: Selector, base: dict[str, str]) -> dict[str, str]:
    """A label set the selector matches: its `=` values, and a made-up value for each `!=`."""
    labels = dict(base)
    for matcher in selector.matchers:
        labels[matcher.label] = f"not_{matcher.value}" if matcher.negated else matcher.value
    return labels


def excluded_variants(selector: Selector, base: dict[str, str]) -> list[tuple[Matcher, dict[str, str]]]:
    """For each matcher, a label set that breaks only that matcher (the series must not count)."""
    variants = []
    for matcher in selector.matchers:
        labels = labels_for(selector, base)
        labels[matcher.label] = matcher.value if matcher.negated else f"not_{matcher.value}"
        variants.append((matcher, labels))
    return variants


def matches(selector: Selector, metric: str, labels: dict[str, str]) -> bool:
    if selector.metric != metric:
        return False
    return all((labels.get(m.label) == m.value) != m.negated for m in selector.matchers)


def series_text(metric: str, labels: dict[str, str]) -> str:
    body = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{metric}{{{body}}}"
