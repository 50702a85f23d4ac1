"""What the tool-argument scorer knows about one tool: which keys its calls carry, and per key what the values
looked like. Each model turns a new call into evidence (see `evidence`) and learns from it, in bounded memory.
"""

from __future__ import annotations

from typing import Any

from otel_ai_incident.guardrails.anomaly.chars import CHAR_BITS
from otel_ai_incident.guardrails.anomaly.evidence import (
    CHAR_WEIGHTS,
    COMMON,
    NEGLIGIBLE,
    NOVEL_P,
    PRIOR,
    RARE_P,
    outlier,
    rarity,
)
from otel_ai_incident.guardrails.anomaly.features import ArgumentProfile, Kind, Leaf
from otel_ai_incident.guardrails.anomaly.sketches import Reservoir, Vocabulary

MIN_SAMPLES = 8
RESERVOIR_SIZE = 32
RESERVOIR_WINDOW = 512
# Counts are halved every this many learned calls, so the model forgets old traffic with a half-life of
# about that many calls and a removed or added key stops being news.
HALVING_PERIOD = 1000


def _outlier_evidence(reservoir: Reservoir, value: float, into: list[float]) -> None:
    if len(reservoir.samples) >= MIN_SAMPLES:
        median, scale = reservoir.center()
        s = outlier(abs(value - median), scale)
        if s > NEGLIGIBLE:
            into.append(s)


class ArgumentModel:
    """What one argument path (`amount`, `filter.status`, `ids[]`) has looked like: kinds, values, shape."""

    __slots__ = ("chars", "kinds", "magnitudes", "n", "n_chars", "sizes", "values")

    def __init__(self) -> None:
        self.n = 0.0
        self.kinds: dict[str, float] = {}
        self.values: Vocabulary | None = None
        self.chars = [0.0] * CHAR_BITS
        self.n_chars = 0.0
        self.sizes: Reservoir | None = None
        self.magnitudes: Reservoir | None = None

    def evidence(self, leaf: Leaf, into: list[float]) -> None:
        """Append the evidence that `leaf` is unusual for this argument to `into`."""
        total = self.n + 1.0
        count = self.kinds.get(leaf.kind, 0.0)
        if count < COMMON * total:
            into.append(rarity((count + PRIOR) / total, RARE_P))
        values = self.values
        if leaf.token is not None and values is not None and values.guaranteed(leaf.token) < 1.0:
            s = rarity(values.novelty(PRIOR), NOVEL_P)
            if s > NEGLIGIBLE:
                into.append(s)
        if leaf.chars:
            self._char_evidence(leaf.chars, into)
        if leaf.size is not None and self.sizes is not None:
            _outlier_evidence(self.sizes, leaf.size, into)
        if leaf.magnitude is not None and self.magnitudes is not None:
            _outlier_evidence(self.magnitudes, leaf.magnitude, into)

    def _char_evidence(self, mask: int, into: list[float]) -> None:
        chars = self.chars
        total = self.n_chars + 1.0
        common = COMMON * total
        while mask:
            low = mask & -mask
            mask ^= low
            bit = low.bit_length() - 1
            count = chars[bit]
            if count < common:
                into.append(CHAR_WEIGHTS[bit] * rarity((count + PRIOR) / total, RARE_P))

    def learn(self, leaf: Leaf, weight: float, rng: int, vocabulary_size: int) -> int:
        """Learn `leaf` with `weight`; returns the advanced random state (reservoirs sample with it)."""
        self.n += weight
        self.kinds[leaf.kind] = self.kinds.get(leaf.kind, 0.0) + weight
        if leaf.token is not None:
            if self.values is None:
                self.values = Vocabulary(vocabulary_size)
            self.values.add(leaf.token, weight)
        if leaf.kind in (Kind.STR, Kind.NUM):
            self.n_chars += weight
            mask = leaf.chars
            chars = self.chars
            while mask:
                low = mask & -mask
                chars[low.bit_length() - 1] += weight
                mask ^= low
        if leaf.size is not None:
            if self.sizes is None:
                self.sizes = Reservoir(RESERVOIR_SIZE, RESERVOIR_WINDOW)
            rng = self.sizes.add(leaf.size, weight, rng)
        if leaf.magnitude is not None:
            if self.magnitudes is None:
                self.magnitudes = Reservoir(RESERVOIR_SIZE, RESERVOIR_WINDOW)
            rng = self.magnitudes.add(leaf.magnitude, weight, rng)
        return rng

    def halve(self) -> None:
        self.n *= 0.5
        self.kinds = {kind: count * 0.5 for kind, count in self.kinds.items()}
        if self.values is not None:
            self.values.halve()
        self.chars = [count * 0.5 for count in self.chars]
        self.n_chars *= 0.5

    def state(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "kinds": dict(self.kinds),
            "values": None if self.values is None else self.values.state(),
            "chars": list(self.chars),
            "n_chars": self.n_chars,
            "sizes": None if self.sizes is None else self.sizes.state(),
            "magnitudes": None if self.magnitudes is None else self.magnitudes.state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ArgumentModel:
        model = cls()
        model.n = float(state["n"])
        model.kinds = {str(kind): float(count) for kind, count in state["kinds"].items()}
        model.values = None if state["values"] is None else Vocabulary.from_state(state["values"])
        model.chars = [float(count) for count in state["chars"]]
        model.n_chars = float(state["n_chars"])
        model.sizes = None if state["sizes"] is None else Reservoir.from_state(state["sizes"])
        model.magnitudes = None if state["magnitudes"] is None else Reservoir.from_state(state["magnitudes"])
        return model


class ToolModel:
    """Which keys and key sets a tool's calls carry, and an `ArgumentModel` per key (bounded in number)."""

    __slots__ = ("arguments", "calls", "keys", "keysets", "n", "rng", "since_halving", "top_k")

    def __init__(self, *, max_keys: int, top_k: int, rng: int) -> None:
        self.calls = 0
        self.n = 0.0
        self.since_halving = 0
        self.rng = rng
        self.top_k = top_k
        self.keys = Vocabulary(max_keys)
        self.keysets = Vocabulary(top_k)
        self.arguments: dict[int, ArgumentModel] = {}

    def score(self, call: ArgumentProfile) -> float:
        """Noisy-OR of the evidence from keys, key set and every value (see `evidence`)."""
        evidence: list[float] = []
        keys = self.keys
        n = self.n + 1.0
        for key in call.keys:
            if keys.guaranteed(key) < 1.0:
                evidence.append(rarity(keys.novelty(PRIOR), NOVEL_P))
        if len(keys.counts) > len(call.keys):
            for key in keys.counts:
                if key not in call.keys:
                    evidence.append(rarity((n - 1.0 - keys.guaranteed(key) + PRIOR) / n, RARE_P))
        if self.keysets.guaranteed(call.keyset) < 1.0:
            evidence.append(rarity(self.keysets.novelty(PRIOR), NOVEL_P))
        arguments = self.arguments
        for leaf in call.leaves:
            model = arguments.get(leaf.key)
            if model is not None:
                model.evidence(leaf, evidence)
        keep = 1.0
        for s in evidence:
            keep *= 1.0 - s
        return min(1.0, max(0.0, 1.0 - keep))

    def learn(self, call: ArgumentProfile, weight: float) -> None:
        self.calls += 1
        self.n += weight
        arguments = self.arguments
        for key in call.keys:
            evicted = self.keys.add(key, weight)
            if evicted is not None:
                arguments.pop(evicted, None)
        self.keysets.add(call.keyset, weight)
        rng = self.rng
        for leaf in call.leaves:
            model = arguments.get(leaf.key)
            if model is None:
                if leaf.key not in self.keys.counts:
                    continue  # evicted again by a later key of this same oversized call
                model = arguments[leaf.key] = ArgumentModel()
            rng = model.learn(leaf, weight, rng, self.top_k)
        self.rng = rng
        self.since_halving += 1
        if self.since_halving >= HALVING_PERIOD:
            self._halve()

    def _halve(self) -> None:
        self.since_halving = 0
        self.n *= 0.5
        self.keys.halve()
        self.keysets.halve()
        for model in self.arguments.values():
            model.halve()

    def state(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "n": self.n,
            "since_halving": self.since_halving,
            "rng": self.rng,
            "top_k": self.top_k,
            "keys": self.keys.state(),
            "keysets": self.keysets.state(),
            "arguments": [[key, model.state()] for key, model in self.arguments.items()],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ToolModel:
        model = cls(max_keys=int(state["keys"]["capacity"]), top_k=int(state["top_k"]), rng=int(state["rng"]))
        model.calls = int(state["calls"])
        model.n = float(state["n"])
        model.since_halving = int(state["since_halving"])
        model.keys = Vocabulary.from_state(state["keys"])
        model.keysets = Vocabulary.from_state(state["keysets"])
        model.arguments = {int(key): ArgumentModel.from_state(sub) for key, sub in state["arguments"]}
        return model
