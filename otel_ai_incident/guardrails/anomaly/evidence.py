"""How the tool-argument scorer turns what it knows about a tool into one score in [0, 1] for a call.

Every feature yields a probability-like piece of evidence s_i in [0, 1], and the call's score is the
noisy-OR 1 - prod(1 - s_i): the chance that at least one independent detector is right. Unlike a max, two
moderate signals together (a new kind and an unusual length) add up; and each s_i is shaped to be near
zero for ordinary variation, so many harmless features do not accumulate into a false alarm.

Evidence is of two sorts (see model.ArgumentModel): strong, what attacks do and legitimate change rarely
does (a new type, an attack token, a secret file's path, an outlying length or amount, a rare kind of
address, SQL statement or shell command, a look-alike host), and novel, what a legitimate change does too
(a never-seen value, shape, key or plain character class). Both count the same in the score; they differ
in how fast a flagged call is learned (see scorer).

Two shapes produce the s_i:
- rarity(p): for an event with estimated probability p (a never-seen key, kind or character class; a
  missing key; a never-seen value where new values are rare; a rare address kind or statement kind),
  1 / (1 + (p / p0)^3). It is 0.5 at p0 and falls off steeply above it, so events that happen a few
  percent of the time score nearly nothing.
- outlier(d, z): for a numeric feature (log10-magnitude of a number, against the calls with the same value
  of the sibling that sets its scale when there is one; log10-length of a string or list) at
  distance d decades from the median and z robust standard deviations, the product of two logistics:
  z around 6 (statistically far) and d around 1.5 (practically far, ~30x). Both are needed: a refund
  ten times the usual is many deviations out yet legitimate now and then; a value orders of magnitude
  off scores near 1.
"""

from __future__ import annotations

import math

from otel_ai_incident.guardrails.anomaly.chars import CHAR_BITS, WEAK_CHARS

# Laplace-style prior count for never-seen events: small, so that after a 50-call warm-up a never-seen
# key, kind or character class is already clearly rare (p ~ 0.002).
PRIOR = 0.1
# rarity() midpoints: events at 1 % score 0.5; never-seen values are judged against the vocabulary's
# novelty estimate (Good-Turing / Pitman-Yor, see sketches.Vocabulary), which is noisier, so 2 %.
RARE_P = 0.01
NOVEL_P = 0.02
# Plain character classes (see chars.WEAK_CHARS) are capped below the default alert
# threshold of 0.8: a first apostrophe is not an attack on its own.
WEAK_WEIGHT = 0.7
# outlier(): the robust z and the distance in decades at which each factor is 0.5, and their steepness.
OUTLIER_Z = 6.0
OUTLIER_SLOPE = 1.5
OUTLIER_DECADES = 1.5
OUTLIER_DECADES_SLOPE = 4.0
# Numeric features are compared in decades (log10); a constant argument still gets this much scale.
MIN_SCALE = 0.1
# A never-seen optional key is usually a field the app started sending: it weighs this much, unless its
# name is a safeguard switch set like one (see features); so does a never-seen combination of known keys.
NEW_KEY_WEIGHT = 0.5
# A sibling sets a number's scale when it explains at least this share of its variance (see
# sketches.Grouping); its groups need MIN_SAMPLES sightings (see model). A sibling whose vocabulary
# produces new values more often than CATEGORICAL is an id, not a category.
MIN_EXPLAINED = 0.5
CATEGORICAL = 0.05
# Evidence below this is dropped before the noisy-OR, to keep the per-call work small; events more common
# than COMMON are not even scored (rarity(COMMON, RARE_P) is below NEGLIGIBLE).
NEGLIGIBLE = 1e-3
COMMON = 0.1


def rarity(p: float, p0: float) -> float:
    """Evidence that an event of estimated probability `p` is anomalous: 0.5 at `p0`, steep around it."""
    return 1.0 / (1.0 + (p / p0) ** 3)


def outlier(distance: float, scale: float) -> float:
    """Evidence that a value `distance` decades from the median, with robust scale `scale`, is anomalous."""
    z = distance / max(scale, MIN_SCALE)
    return 1.0 / (
        (1.0 + math.exp(-OUTLIER_SLOPE * (z - OUTLIER_Z)))
        * (1.0 + math.exp(-OUTLIER_DECADES_SLOPE * (distance - OUTLIER_DECADES)))
    )


# What a rare character class weighs: plain classes are capped at WEAK_WEIGHT.
CHAR_WEIGHTS = tuple(WEAK_WEIGHT if WEAK_CHARS >> bit & 1 else 1.0 for bit in range(CHAR_BITS))
