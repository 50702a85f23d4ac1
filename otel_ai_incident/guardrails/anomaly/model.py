"""What the tool-argument scorer knows about one tool: which keys its calls carry, and per key what the values
looked like. Each model turns a new call into evidence (see `evidence`) and learns from it, in bounded memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from otel_ai_incident.guardrails.anomaly.chars import CHAR_BITS, WEAK_CHARS
from otel_ai_incident.guardrails.anomaly.evidence import (
    CATEGORICAL,
    CHAR_WEIGHTS,
    COMMON,
    MIN_EXPLAINED,
    NEGLIGIBLE,
    NEW_KEY_WEIGHT,
    NOVEL_P,
    PRIOR,
    RARE_P,
    outlier,
    rarity,
)
from otel_ai_incident.guardrails.anomaly.features import (
    MAX_CONTEXTS,
    OPTIONAL,
    ArgumentProfile,
    Context,
    Kind,
    Leaf,
    Marks,
)
from otel_ai_incident.guardrails.anomaly.sketches import RARE_COUNT, Code, Grouping, Reservoir, Vocabulary

MIN_SAMPLES = 8
RESERVOIR_SIZE = 32
RESERVOIR_WINDOW = 512
# Counts are halved every this many learned calls, so the model forgets old traffic with a half-life of
# about that many calls and a removed or added key stops being news.
HALVING_PERIOD = 1000
# Shapes of a value (see features) are few per argument; groups of a number per sibling value (see
# sketches.Grouping) fewer; look-alike marks are kept for about fifty known hosts.
SHAPES = 16
SHAPE_KNOWN = 2.0
GROUPS = 8
MARKS = 512
# How often a value is new next to a sibling's value is kept for this many such values per argument (see
# ArgumentModel._new_value); the one with the least weight of rare values goes first.
CONTEXTS = 16
# A host one edit away from a known one (not spelled like it) is strong evidence until it has been learned
# with this weight: ten sightings at the quarantine weight (see scorer).
NEAR_KNOWN = 0.5


def _rarely_new(vocabulary: Vocabulary, total: float) -> bool:
    """Whether new entries are rare (under CATEGORICAL) among `total` observations. An id's vocabulary
    evicts on every call: its evicted weight alone answers, without the novelty estimate (which is at
    least evicted / (total + 1))."""
    return vocabulary.evicted < CATEGORICAL * (total + 1.0) and vocabulary.novelty(PRIOR, total) < CATEGORICAL


def _outlier_evidence(reservoir: Reservoir, value: float, into: list[float]) -> None:
    if len(reservoir.samples) >= MIN_SAMPLES:
        median, scale = reservoir.center()
        s = outlier(abs(value - median), scale)
        if s > NEGLIGIBLE:
            into.append(s)


class ArgumentModel:
    """What one argument path (`amount`, `filter.status`, `ids[]`) has looked like: kinds, values, shape.

    Evidence goes into one of two lists. `strong`: what attacks do and legitimate change rarely does
    (a new kind, an attack token or secret file path, an outlying length or number, a rare category of a
    `strict` leaf such as a destructive command, a look-alike host). `novel`: what a legitimate change
    also does (a never-seen value, shape or plain character class); the scorer lets a call with only
    novel evidence become normal faster.

    `contexts` holds, per (categorical sibling key, its value), the Good-Turing mass of this argument's
    values next to it: the weight of values (and of value shapes) seen about once. A `field` that just
    started to appear brings values of its own to `value`, and judged against all of `value`'s history each
    of them is news until seen ten times; judged next to that field, new values are what happens there.
    """

    __slots__ = (
        "chars", "contexts", "groups", "kinds", "magnitudes", "marks", "n", "n_chars", "shapes", "sizes", "values",
    )  # fmt: skip

    def __init__(self) -> None:
        self.n = 0.0
        self.kinds: dict[str, float] = {}
        self.values: Vocabulary | None = None
        self.shapes: Vocabulary | None = None
        self.chars = [0.0] * CHAR_BITS
        self.n_chars = 0.0
        self.sizes: Reservoir | None = None
        self.magnitudes: Reservoir | None = None
        self.groups: dict[int, Grouping] | None = None
        self.marks: dict[int, int] | None = None
        self.contexts: dict[tuple[int, int], list[float]] | None = None

    def categorical(self) -> bool:
        """Whether this argument takes values from a small set (a currency, a status), not ids or text."""
        return self.values is not None and self.values.novelty(PRIOR) < CATEGORICAL

    def evidence(self, leaf: Leaf, strong: list[float], novel: list[float], siblings: dict[int, ArgumentModel]) -> None:
        """Append the evidence that `leaf` is unusual for this argument to `strong` or `novel`; `siblings`
        are the tool's argument models (a new value is judged next to its siblings' values too)."""
        # One unpacking instead of a dozen field lookups: this runs for every leaf of every call.
        _, kind, token, chars, size, magnitude, _, strict, marks, context = leaf
        total = self.n + 1.0
        count = self.kinds.get(kind, 0.0)
        if count < COMMON * total:
            strong.append(rarity((count + PRIOR) / total, RARE_P))
        values = self.values
        if token is not None and values is not None:
            seen = values.guaranteed(token)
            rare = seen < COMMON * total
            # A kind of address or statement, or a host imitating another, is judged by how often it
            # occurs, not by whether it was seen once: repeating an attack does not make it ordinary.
            if strict or (rare and marks is not None and self._imitates(token, marks, seen)):
                if rare:
                    strong.append(rarity((seen + PRIOR) / total, RARE_P))
            elif seen < 1.0:
                self._new_value(leaf, values, novel, siblings)
        if chars:
            self._char_evidence(chars, strong, novel)
        if size is not None and self.sizes is not None:
            _outlier_evidence(self.sizes, size, strong)
        if magnitude is not None:
            center = self._context_center(context) if self.groups is not None and context else None
            if center is not None:
                s = outlier(abs(magnitude - center[0]), center[1])
                if s > NEGLIGIBLE:
                    strong.append(s)
            elif self.magnitudes is not None:
                _outlier_evidence(self.magnitudes, magnitude, strong)

    def _imitates(self, token: int, probe: Marks, seen: float) -> bool:
        """Whether a host (its registered domain `token`, learned with weight `seen`) bears another known
        host's name, or, until it has been learned with the weight of NEAR_KNOWN calls, is one edit away
        from one: a partner whose name is a letter away from a known one recurs in calls that are otherwise
        ordinary and becomes a value like any other; a confusable spelling stays strong."""
        marks = self.marks
        if not marks:
            return False
        for mark in probe[1] if seen >= NEAR_KNOWN else probe[1] + probe[2]:
            owner = marks.get(mark)
            if owner is not None and owner != token:
                return True
        return False

    def _new_value(
        self, leaf: Leaf, values: Vocabulary, novel: list[float], siblings: dict[int, ArgumentModel]
    ) -> None:
        """A never-seen value: as rare as new values are here, or as new shapes are if its shape is new too.

        Next to a sibling value that is itself known (seen with the weight of a call), both rates are also
        taken there, Good-Turing style (the weight of values seen about once next to it over its sightings),
        and the larger counts: where new values keep arriving, as under a field that started to appear, a
        new value is weak evidence; next to a settled value (hundreds of sightings, its values all seen
        more than once) the rate there is near zero and the argument's own rate stands. A sibling value
        that is new itself gives no context: two new values must not vouch for each other."""
        new = values.novelty(PRIOR)
        shapes = self.shapes
        shape = leaf.shape
        new_shape = shape is not None and shapes is not None and shapes.guaranteed(shape) < 1.0
        # Shapes are counted for new values only: how often a new shape turns up is judged over all the
        # values this argument took.
        shaped = shapes.novelty(PRIOR, values.total) if new_shape and shapes is not None else CATEGORICAL
        contexts = self.contexts
        if contexts and leaf.context and (new < CATEGORICAL or shaped < CATEGORICAL):
            for pair in leaf.context:
                entry = contexts.get(pair)
                sibling = siblings.get(pair[0]) if entry is not None else None
                if entry is not None and sibling is not None and sibling.values is not None:
                    sightings = sibling.values.guaranteed(pair[1])
                    if sightings >= 1.0:
                        new = max(new, (entry[0] + PRIOR) / (sightings + 1.0))
                        shaped = max(shaped, (entry[1] + PRIOR) / (sightings + 1.0))
        s = rarity(new, NOVEL_P)
        if new_shape:
            s = max(s, rarity(shaped, NOVEL_P))
        if s > NEGLIGIBLE:
            novel.append(s)

    def _context_center(self, context: Context) -> tuple[float, float] | None:
        """Mean and spread of this number among calls with the same value of the sibling that best explains
        its scale (see sketches.Grouping), or None to judge it against all calls."""
        groups = self.groups
        best: tuple[Grouping, int] | None = None
        explained = MIN_EXPLAINED
        for sibling, token in context:
            grouping = groups.get(sibling) if groups is not None else None
            if grouping is not None:
                share = grouping.explained()
                if share >= explained:
                    best, explained = (grouping, token), share
        return None if best is None else best[0].center(best[1])

    def _char_evidence(self, mask: int, strong: list[float], novel: list[float]) -> None:
        """Attack tokens by how rare they are; plain character classes only until seen once (a first
        apostrophe or accent is news, the tenth is not)."""
        chars = self.chars
        total = self.n_chars + 1.0
        common = COMMON * total
        while mask:
            low = mask & -mask
            mask ^= low
            bit = low.bit_length() - 1
            count = chars[bit]
            if low & WEAK_CHARS:
                if count < 1.0:
                    novel.append(CHAR_WEIGHTS[bit] * rarity((count + PRIOR) / total, RARE_P))
            elif count < common:
                strong.append(CHAR_WEIGHTS[bit] * rarity((count + PRIOR) / total, RARE_P))

    def learn(
        self, leaf: Leaf, weight: float, rng: int, vocabulary_size: int, categorical: Callable[[int], bool]
    ) -> int:
        """Learn `leaf` with `weight`; returns the advanced random state (reservoirs sample with it).
        `categorical` says whether a sibling key takes values from a small set (see _learn_context)."""
        key, kind, token, mask, size, magnitude, shape, _, marks, context = leaf
        self.n += weight
        self.kinds[kind] = self.kinds.get(kind, 0.0) + weight
        if token is not None:
            values = self.values
            if values is None:
                values = self.values = Vocabulary(vocabulary_size)
            count = values.counts.get(token)
            fresh = count is None
            # How often values and shapes are new next to a sibling value (see _new_value) is kept only
            # where they are rarely new over all: elsewhere (ids) a rate next to a sibling changes nothing.
            # A count bounds the guaranteed count from above, so a common value is settled without more.
            before, shaped = RARE_COUNT, SHAPE_KNOWN
            if context and (count is None or count < RARE_COUNT) and _rarely_new(values, values.total):
                before = values.guaranteed(token)
            # Shapes are counted for untracked values only (a known value has a known shape), and only
            # up to the count at which a shape stops being rare: _new_value judges how often new shapes
            # turn up against all values, so counting an id's shape on every call would add nothing.
            if shape is not None and fresh:
                shapes = self.shapes
                if shapes is None:
                    shapes = self.shapes = Vocabulary(SHAPES)
                known = shapes.guaranteed(shape)
                if known < SHAPE_KNOWN:
                    if context and _rarely_new(shapes, values.total):
                        shaped = known
                    shapes.add(shape, weight)
            values.add(token, weight)
            if before < RARE_COUNT or shaped < SHAPE_KNOWN:
                self._learn_novelty(key, context, before, shaped, weight, categorical)
            if marks is not None and weight >= 1.0 and marks[0]:
                self._remember(marks[0], token)
        if kind in (Kind.STR, Kind.NUM):
            self.n_chars += weight
            chars = self.chars
            while mask:
                low = mask & -mask
                chars[low.bit_length() - 1] += weight
                mask ^= low
        if size is not None:
            if self.sizes is None:
                self.sizes = Reservoir(RESERVOIR_SIZE, RESERVOIR_WINDOW)
            rng = self.sizes.add(size, weight, rng)
        if magnitude is not None:
            if self.magnitudes is None:
                self.magnitudes = Reservoir(RESERVOIR_SIZE, RESERVOIR_WINDOW)
            rng = self.magnitudes.add(magnitude, weight, rng)
            if context:
                self._learn_context(context, magnitude, weight, categorical)
        return rng

    def _learn_context(
        self, context: Context, magnitude: float, weight: float, categorical: Callable[[int], bool]
    ) -> None:
        """Learn the number per value of each sibling that was categorical when first met (ids are not)."""
        groups = self.groups
        if groups is None:
            groups = self.groups = {}
        for sibling, token in context:
            grouping = groups.get(sibling)
            if grouping is None:
                if len(groups) >= MAX_CONTEXTS or not categorical(sibling):
                    continue
                grouping = groups[sibling] = Grouping(GROUPS, MIN_SAMPLES)
            grouping.add(token, magnitude, weight)

    def _learn_novelty(
        self,
        key: int,
        context: Context,
        before: float,
        shaped: float,
        weight: float,
        categorical: Callable[[int], bool],
    ) -> None:
        """Move the Good-Turing masses next to each categorical sibling value (see _new_value) as a value
        seen `before` and a shape seen `shaped` gain `weight`: a count still rare adds the weight, one that
        stops being rare takes back what it had added (as Vocabulary keeps its own rare weight)."""
        value_moved = shape_moved = 0.0
        if before < RARE_COUNT:
            value_moved = weight if before + weight < RARE_COUNT else -before
        if shaped < SHAPE_KNOWN:
            shape_moved = weight if shaped + weight < SHAPE_KNOWN else -shaped
        contexts = self.contexts
        if contexts is None:
            contexts = self.contexts = {}
        for pair in context:
            if pair[0] == key:
                continue
            entry = contexts.get(pair)
            if entry is None:
                if (value_moved <= 0.0 and shape_moved <= 0.0) or not categorical(pair[0]):
                    continue
                if len(contexts) >= CONTEXTS:
                    del contexts[min(contexts, key=lambda k: contexts[k][0] + contexts[k][1])]
                entry = contexts[pair] = [0.0, 0.0]
            entry[0] = max(entry[0] + value_moved, 0.0)
            entry[1] = max(entry[1] + shape_moved, 0.0)
            if entry[0] + entry[1] < NEGLIGIBLE:
                del contexts[pair]  # settled: every value here seen more than once

    def _remember(self, own: tuple[int, ...], token: int) -> None:
        """Keep a known host's look-alike marks, each with the host it came from (a host does not imitate
        itself); the oldest go first when more than MARKS are held."""
        marks = self.marks
        if marks is None:
            marks = self.marks = {}
        elif own[0] in marks:
            return
        for mark in own:
            marks[mark] = token
        while len(marks) > MARKS:
            del marks[next(iter(marks))]

    def halve(self) -> None:
        self.n *= 0.5
        self.kinds = {kind: count * 0.5 for kind, count in self.kinds.items()}
        if self.values is not None:
            self.values.halve()
        if self.shapes is not None:
            self.shapes.halve()
        for grouping in (self.groups or {}).values():
            grouping.halve()
        for entry in (self.contexts or {}).values():
            entry[0] *= 0.5
            entry[1] *= 0.5
        self.chars = [count * 0.5 for count in self.chars]
        self.n_chars *= 0.5

    def state(self, code: Code) -> dict[str, Any]:
        """A JSON-serialisable snapshot, every fingerprint mapped through `code` (see sealing)."""
        return {
            "n": self.n,
            "kinds": dict(self.kinds),
            "values": None if self.values is None else self.values.state(code),
            "shapes": None if self.shapes is None else self.shapes.state(code),
            "chars": list(self.chars),
            "n_chars": self.n_chars,
            "sizes": None if self.sizes is None else self.sizes.state(),
            "magnitudes": None if self.magnitudes is None else self.magnitudes.state(),
            "groups": None if self.groups is None else [[code(k), g.state(code)] for k, g in self.groups.items()],
            "marks": None if self.marks is None else [[code(m), code(t)] for m, t in self.marks.items()],
            "contexts": None
            if self.contexts is None
            else [[code(k), code(t), *masses] for (k, t), masses in self.contexts.items()],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], code: Code) -> ArgumentModel:
        model = cls()
        model.n = float(state["n"])
        model.kinds = {str(kind): float(count) for kind, count in state["kinds"].items()}
        model.values = None if state["values"] is None else Vocabulary.from_state(state["values"], code)
        model.shapes = None if state["shapes"] is None else Vocabulary.from_state(state["shapes"], code)
        model.chars = [float(count) for count in state["chars"]]
        model.chars += [0.0] * (CHAR_BITS - len(model.chars))  # a state saved before a bit was added
        model.n_chars = float(state["n_chars"])
        model.sizes = None if state["sizes"] is None else Reservoir.from_state(state["sizes"])
        model.magnitudes = None if state["magnitudes"] is None else Reservoir.from_state(state["magnitudes"])
        if state["groups"] is not None:
            model.groups = {code(int(key)): Grouping.from_state(sub, code) for key, sub in state["groups"]}
        if state["marks"] is not None:
            model.marks = {code(int(mark)): code(int(token)) for mark, token in state["marks"]}
        if state.get("contexts") is not None:  # absent from a state saved before they were kept
            model.contexts = {
                (code(int(key)), code(int(token))): [float(value), float(shape)]
                for key, token, value, shape in state["contexts"]
            }
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
        return self.judge(call)[0]

    def judge(self, call: ArgumentProfile) -> tuple[float, float]:
        """(score, the part of it from strong evidence): noisy-ORs of all evidence and of the strong part."""
        strong: list[float] = []
        novel: list[float] = []
        keys = self.keys
        n = self.n + 1.0
        new_key = False
        for key in call.keys:
            if keys.guaranteed(key) < 1.0:
                new_key = True
                s = rarity(keys.novelty(PRIOR), NOVEL_P)
                if key in call.risky:
                    strong.append(s)
                else:
                    novel.append(NEW_KEY_WEIGHT * s)
        if len(keys.counts) > len(call.keys):
            for key in keys.counts:
                if key not in call.keys and not key & OPTIONAL:
                    novel.append(rarity((n - 1.0 - keys.guaranteed(key) + PRIOR) / n, RARE_P))
        if not new_key and self.keysets.guaranteed(call.keyset) < 1.0:
            # A new combination of known keys weighs what a new key does: a field the app started sending
            # joins the optional fields it already sends in every combination, each new until seen.
            novel.append(NEW_KEY_WEIGHT * rarity(self.keysets.novelty(PRIOR), NOVEL_P))
        arguments = self.arguments
        for leaf in call.leaves:
            model = arguments.get(leaf.key)
            if model is not None:
                model.evidence(leaf, strong, novel, arguments)
        keep_strong = 1.0
        for s in strong:
            keep_strong *= 1.0 - s
        keep = keep_strong
        for s in novel:
            keep *= 1.0 - s
        # Each factor is in [0, 1], so both products are too: no clamping needed.
        return 1.0 - keep, 1.0 - keep_strong

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
        categorical = self._categorical
        for leaf in call.leaves:
            model = arguments.get(leaf.key)
            if model is None:
                if leaf.key not in self.keys.counts:
                    continue  # evicted again by a later key of this same oversized call
                model = arguments[leaf.key] = ArgumentModel()
            rng = model.learn(leaf, weight, rng, self.top_k, categorical)
        self.rng = rng
        self.since_halving += 1
        if self.since_halving >= HALVING_PERIOD:
            self._halve()

    def _categorical(self, key: int) -> bool:
        model = self.arguments.get(key)
        return model is not None and model.categorical()

    def _halve(self) -> None:
        self.since_halving = 0
        self.n *= 0.5
        self.keys.halve()
        self.keysets.halve()
        for model in self.arguments.values():
            model.halve()

    def state(self, code: Code) -> dict[str, Any]:
        """A JSON-serialisable snapshot, every fingerprint mapped through `code` (see sealing)."""
        return {
            "calls": self.calls,
            "n": self.n,
            "since_halving": self.since_halving,
            "rng": self.rng,
            "top_k": self.top_k,
            "keys": self.keys.state(code),
            "keysets": self.keysets.state(code),
            "arguments": [[code(key), model.state(code)] for key, model in self.arguments.items()],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], code: Code) -> ToolModel:
        model = cls(max_keys=int(state["keys"]["capacity"]), top_k=int(state["top_k"]), rng=int(state["rng"]))
        model.calls = int(state["calls"])
        model.n = float(state["n"])
        model.since_halving = int(state["since_halving"])
        model.keys = Vocabulary.from_state(state["keys"], code)
        model.keysets = Vocabulary.from_state(state["keysets"], code)
        model.arguments = {code(int(key)): ArgumentModel.from_state(sub, code) for key, sub in state["arguments"]}
        return model
