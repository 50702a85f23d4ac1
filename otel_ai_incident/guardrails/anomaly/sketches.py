"""Bounded, JSON-serialisable summaries that the tool-argument scorer keeps per tool and per argument.

Argument values are unbounded (every order id is new), so nothing here grows with the traffic: a
vocabulary keeps at most `capacity` entries (space-saving top-k), a reservoir at most `size` samples.
Both take a weight per observation, so a call that looked like an attack can be learned at a fraction of
the weight of a normal one. Randomness comes from a generator whose whole state is one
integer, so the summaries stay deterministic for a seed and survive a JSON round trip exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Saved states map every fingerprint through one of these (see sealing); the identity in memory.
Code = Callable[[int], int]

_MASK64 = (1 << 64) - 1
# Below this guaranteed count a vocabulary entry counts as "seen about once" for the Good-Turing estimate.
RARE_COUNT = 2.0
# Pitman-Yor discount: each distinct value seen adds half a unit to the chance of the next being new.
_DISCOUNT = 0.5


def lcg64(state: int) -> tuple[int, float]:
    """One step of a 64-bit linear congruential generator (Knuth's MMIX): next state, uniform in [0, 1).

    Chosen over `random.Random` because its state is a single int, which keeps `state()` small and exact;
    its top 53 bits are ample for deciding which reservoir slot to replace.
    """
    state = (state * 6364136223846793005 + 1442695040888963407) & _MASK64
    return state, (state >> 11) * (1.0 / (1 << 53))


class Vocabulary:
    """Space-saving top-k counts of fingerprints, and an estimate of how often never-seen values occur.

    The scorer asks two questions: "has this value been seen?" and "how likely is a never-seen value
    here?". The second separates an id-like argument (every value new, novelty is normal) from a small
    stable vocabulary such as table names, where a new value is a new target. Two estimates answer it
    and the larger wins:
    - Good-Turing: the weight of entries seen about once (guaranteed count below two) plus the weight
      evicted from the sketch, over the total. It forgets the misses of the first few calls, when every
      value of even a three-word vocabulary was new; and it covers saturated, high-cardinality sketches.
    - Pitman-Yor (discount 1/2): half the number of distinct values, over the total. Good-Turing alone is
      overconfident for a wide vocabulary whose last values just happen to be late (24 help pages, every
      one seen twice); a wide vocabulary keeps producing new values.
    Both weigh entries by their (capped) weight, so attack values learned at a reduced weight barely make
    new values look ordinary.

    Eviction takes an entry with the minimum count. Finding it is O(k), so the minimum entries are
    collected once into `_floor` and used up one eviction at a time; a high-cardinality argument, which
    evicts on every call, then pays the scan only when the floor runs out.
    """

    __slots__ = ("_floor", "_floor_count", "capacity", "counts", "distinct", "errors", "evicted", "rare", "total")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.counts: dict[int, float] = {}
        self.errors: dict[int, float] = {}
        self.total = 0.0
        self.rare = 0.0
        self.distinct = 0.0
        self.evicted = 0.0
        self._floor: list[int] = []
        self._floor_count = 0.0

    def guaranteed(self, key: int) -> float:
        """A lower bound on the weight this key has been observed with (0 when not tracked)."""
        count = self.counts.get(key)
        return 0.0 if count is None else count - self.errors.get(key, 0.0)

    def novelty(self, prior: float, total: float | None = None) -> float:
        """Estimated probability that the next value is one not seen before; `total` replaces the weight
        observed when only some observations were counted here (the rest being known not to be new)."""
        unseen = max(self.rare + self.evicted, _DISCOUNT * self.distinct)
        return (unseen + prior) / ((self.total if total is None else total) + 1.0)

    def add(self, key: int, weight: float) -> int | None:
        """Count `key` with `weight`; return the key evicted to make room, if any."""
        self.total += weight
        counts = self.counts
        count = counts.get(key)
        if count is not None:
            before = count - self.errors.get(key, 0.0)
            counts[key] = count + weight
            if before < RARE_COUNT:
                self._moved(before, before + weight)
            return None
        evicted = None
        error = 0.0
        if len(counts) >= self.capacity:
            evicted = self._pop_minimum()
            error = counts.pop(evicted)
            evicted_weight = error - self.errors.pop(evicted, 0.0)
            self._moved(evicted_weight, 0.0)
            self.evicted += evicted_weight
            self.errors[key] = error
        counts[key] = error + weight
        self._moved(0.0, weight)
        return evicted

    def _moved(self, before: float, after: float) -> None:
        """Keep `rare` and `distinct` in step with one entry's guaranteed count going from before to after."""
        if min(before, after) < RARE_COUNT:
            self.rare += (after if after < RARE_COUNT else 0.0) - (before if before < RARE_COUNT else 0.0)
        if min(before, after) < 1.0:
            self.distinct += min(after, 1.0) - min(before, 1.0)

    def _pop_minimum(self) -> int:
        counts = self.counts
        while self._floor:
            key = self._floor.pop()
            if counts.get(key) == self._floor_count:
                return key
        floor_count = min(counts.values())
        # Reversed so that pop() hands out the oldest minimum first.
        self._floor = [key for key, count in reversed(counts.items()) if count == floor_count]
        self._floor_count = floor_count
        return self._floor.pop()

    def halve(self) -> None:
        """Age every count by half, so old traffic fades and the model follows slow drift."""
        self.counts = {key: count * 0.5 for key, count in self.counts.items()}
        self.errors = {key: error * 0.5 for key, error in self.errors.items()}
        self.total *= 0.5
        self.evicted *= 0.5
        guaranteed = [self.guaranteed(key) for key in self.counts]
        self.rare = sum(g for g in guaranteed if g < RARE_COUNT)
        self.distinct = sum(min(g, 1.0) for g in guaranteed)
        self._floor = []

    def state(self, code: Code) -> dict[str, Any]:
        return {
            "capacity": self.capacity,
            "entries": [[code(key), count, self.errors.get(key, 0.0)] for key, count in self.counts.items()],
            "total": self.total,
            "rare": self.rare,
            "distinct": self.distinct,
            "evicted": self.evicted,
            "floor": [code(key) for key in self._floor],
            "floor_count": self._floor_count,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], code: Code) -> Vocabulary:
        vocabulary = cls(int(state["capacity"]))
        for key, count, error in state["entries"]:
            vocabulary.counts[code(int(key))] = float(count)
            if error:
                vocabulary.errors[code(int(key))] = float(error)
        vocabulary.total = float(state["total"])
        vocabulary.rare = float(state["rare"])
        vocabulary.distinct = float(state["distinct"])
        vocabulary.evicted = float(state["evicted"])
        vocabulary._floor = [code(int(key)) for key in state["floor"]]
        vocabulary._floor_count = float(state["floor_count"])
        return vocabulary


class Reservoir:
    """A bounded sample of a numeric feature, with its median and MAD for a robust z-score.

    Median/MAD rather than mean/stddev so that a handful of extreme values (including attacks learned at
    reduced weight) do not widen the scale they are judged against. After the sample is full, a value
    replaces a random slot with probability weight * size / min(seen, window): a uniform sample at
    first, then one biased towards the last `window` observations, so the scale follows drift.
    """

    __slots__ = ("_median", "_scale", "samples", "seen", "size", "window")

    def __init__(self, size: int, window: int) -> None:
        self.size = size
        self.window = window
        self.samples: list[float] = []
        self.seen = 0.0
        self._median: float | None = None
        self._scale = 0.0

    def add(self, value: float, weight: float, rng: int) -> int:
        """Offer `value` with `weight`; returns the advanced generator state."""
        self.seen += weight
        samples = self.samples
        if len(samples) < self.size:
            if weight >= 1.0:
                samples.append(value)
                self._median = None
                return rng
            rng, u = lcg64(rng)
            if u < weight:
                samples.append(value)
                self._median = None
            return rng
        probability = weight * self.size / min(self.seen, self.window)
        rng, u = lcg64(rng)
        if u < probability:
            samples[int(u / probability * self.size)] = value
            self._median = None
        return rng

    def center(self) -> tuple[float, float]:
        """The median of the sample and its robust standard deviation (1.4826 MAD), cached until it changes."""
        if self._median is None:
            ordered = sorted(self.samples)
            median = _median_of_sorted(ordered)
            self._scale = 1.4826 * _median_of_sorted(sorted(abs(x - median) for x in ordered))
            self._median = median
        return self._median, self._scale

    def state(self) -> dict[str, Any]:
        return {"size": self.size, "window": self.window, "samples": list(self.samples), "seen": self.seen}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Reservoir:
        reservoir = cls(int(state["size"]), int(state["window"]))
        reservoir.samples = [float(x) for x in state["samples"]]
        reservoir.seen = float(state["seen"])
        return reservoir


def _median_of_sorted(values: list[float]) -> float:
    n = len(values)
    mid = n // 2
    return values[mid] if n % 2 else 0.5 * (values[mid - 1] + values[mid])


class Grouping:
    """A number's log-scale summarised per value of one sibling (`amount` per `currency`), and how much of
    its spread that sibling explains.

    Per group: sightings, weight, weighted mean and sum of squared deviations (Welford), at most
    `capacity` groups (the lightest is dropped for a new one, so a high-cardinality sibling costs nothing
    and never forms a group). A group counts once it has `min_count` sightings: weighted mean and spread
    do not depend on the weights when they are all equal, so a new currency whose first refunds were
    learned at a reduced weight still forms its group after as many sightings as any other, while an
    attack value repeated inside an established group barely moves it. `explained()` is a correlation
    ratio over the groups that count, each group counting once (the spread of their means against that
    spread plus their mean variance): 0 when the sibling says nothing about the number's scale, near 1 when
    it sets it (yen against dollars). Weighting groups by their traffic instead would keep a new currency's
    group from ever taking over: its weight stays tiny next to an established one's.
    """

    __slots__ = ("_explained", "_stale", "capacity", "groups", "min_count")

    # explained() is recomputed after this many additions, not after every one: it moves slowly.
    REFRESH = 16

    def __init__(self, capacity: int, min_count: int) -> None:
        self.capacity = capacity
        self.min_count = min_count
        self.groups: dict[int, list[float]] = {}
        self._explained: float | None = None
        self._stale = 0

    def add(self, token: int, value: float, weight: float) -> None:
        groups = self.groups
        group = groups.get(token)
        if group is None:
            if len(groups) >= self.capacity:
                del groups[min(groups, key=lambda key: groups[key][1])]
            group = groups[token] = [0.0, 0.0, 0.0, 0.0]
        group[0] += 1.0
        group[1] += weight
        delta = value - group[2]
        group[2] += weight / group[1] * delta
        group[3] += weight * delta * (value - group[2])
        self._stale += 1
        if self._stale >= self.REFRESH or group[0] == self.min_count:
            self._explained = None

    def center(self, token: int) -> tuple[float, float] | None:
        """The mean and standard deviation of the group `token`, or None while it has too few sightings."""
        group = self.groups.get(token)
        if group is None or group[0] < self.min_count:
            return None
        return group[2], (group[3] / group[1]) ** 0.5

    def explained(self) -> float:
        if self._explained is None:
            self._stale = 0
            formed = [group for group in self.groups.values() if group[0] >= self.min_count and group[1] > 0.0]
            if len(formed) < 2:
                self._explained = 0.0
            else:
                # Every formed group counts the same: a new currency with ten sightings says as much about
                # whether currency sets the scale as one with a thousand (see the class docstring).
                mean = sum(group[2] for group in formed) / len(formed)
                between = sum((group[2] - mean) ** 2 for group in formed)
                within = sum(group[3] / group[1] for group in formed)
                self._explained = between / (between + within) if between + within > 0.0 else 0.0
        return self._explained

    def halve(self) -> None:
        for group in self.groups.values():
            # Ageing keeps a formed group formed: its mean and spread stay as good as they were.
            group[0] = max(group[0] * 0.5, min(group[0], float(self.min_count)))
            group[1] *= 0.5
            group[3] *= 0.5
        self._explained = None

    def state(self, code: Code) -> dict[str, Any]:
        return {
            "capacity": self.capacity,
            "min_count": self.min_count,
            "groups": [[code(key), *group] for key, group in self.groups.items()],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], code: Code) -> Grouping:
        grouping = cls(int(state["capacity"]), int(state["min_count"]))
        grouping.groups = {code(int(key)): [float(x) for x in rest] for key, *rest in state["groups"]}
        return grouping
