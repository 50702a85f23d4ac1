"""Online, per-tool anomaly scoring of tool-call arguments: the detector behind "agentic harm".

An agent that calls `delete_record(id="*")` or `refund(amount=1e6)` uses a tool it is allowed to use, so
allow-lists do not catch it; what gives it away is that the arguments look nothing like that tool's
usual ones. `ToolArgumentScorer` learns, per tool and with bounded memory, which keys a call carries and,
per key, its kinds, values, character classes and numeric scale, and scores each call in [0, 1]
(see `features` for what is learned and `evidence` for how it is combined).

Learning policy: a call scoring at least `SUSPICIOUS` is still learned, but at a reduced weight. When strong
evidence (see `model.ArgumentModel`: an internal address, an attack token, a secret file, a destructive or
uploading command, an outlying amount, a look-alike host) makes up at least `STRONG` of its score, the
weight is `QUARANTINE_WEIGHT`: an attacker who repeats a misuse needs about twenty calls to weigh as much
as one ordinary call, and since such evidence is judged by frequency (a category of risk seen in 1 % of
calls still scores 0.5), keeps scoring high for far longer.
When only novelty made it suspicious (a never-seen currency, host, table or shape, with everything else
ordinary), the weight is `ABSORB_WEIGHT`: a new value that recurs is seen in full after ten sightings and
stops alerting; one repeated inside an otherwise anomalous call does not. Not learning flagged calls at
all would keep a changed tool alarming forever.

One lock guards all tools: the work is pure Python under the GIL, so per-tool locks would add
bookkeeping to the LRU without letting two calls run at once.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from otel_ai_incident.guardrails.anomaly.features import fingerprint, profile
from otel_ai_incident.guardrails.anomaly.model import ToolModel
from otel_ai_incident.guardrails.anomaly.sealing import PROCESS_KEY, Seal

# The hooks' default alert threshold: what we flag we do not let become normal quickly.
SUSPICIOUS = 0.8
QUARANTINE_WEIGHT = 0.05
ABSORB_WEIGHT = 0.1
STRONG = 0.5
# Version 2: fingerprints sealed with a key (see sealing), structural features (see model). Version 3: key
# fingerprints mark the keys whose absence says nothing (see features.OPTIONAL).
STATE_VERSION = 3


class ToolArgumentScorer:
    """Scores how unusual a tool call's arguments are for that tool (0 = ordinary, 1 = never like this).

    Deterministic for a seed: the same calls in the same order give the same scores, and a model saved
    with `save` and restored with `load` continues exactly where it stopped. Thread-safe.

    A saved state holds fingerprints sealed with `key` (see `sealing`), never argument values or their
    plain hashes; `load` needs the same key. Instrumentation passes the pseudonym key, so a baseline
    survives restarts; without one, a key of this process is used and the state reloads only in it.

    Memory is bounded by max_tools x max_keys_per_tool x (top_k vocabulary entries + 16 shapes + two
    32-sample reservoirs + for a number 4 x 8 groups + for a host 512 look-alike marks + 16 sibling values
    next to which new values are counted, about 4.4 kB): about 0.6 MB per tool at the defaults when every
    key is high-cardinality (such a key rarely keeps sibling values), tens of kB for a typical tool. Beyond
    max_tools the least recently used tool is forgotten (and warms up again).
    """

    def __init__(
        self,
        *,
        warmup: int = 50,
        max_tools: int = 256,
        max_keys_per_tool: int = 64,
        top_k: int = 64,
        seed: int = 0,
        key: bytes | None = None,
    ) -> None:
        for name, value in (("max_tools", max_tools), ("max_keys_per_tool", max_keys_per_tool), ("top_k", top_k)):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if warmup < 0:
            raise ValueError(f"warmup must not be negative, got {warmup}")
        self.warmup = warmup
        self.max_tools = max_tools
        self.max_keys_per_tool = max_keys_per_tool
        self.top_k = top_k
        self.seed = seed
        self._seal = Seal(PROCESS_KEY if key is None else key)
        self._tools: OrderedDict[str, ToolModel] = OrderedDict()
        self._lock = threading.Lock()

    def observe(self, tool: str, arguments: Mapping[str, Any]) -> float:
        """Score the call, then learn from it (at reduced weight if it looked anomalous).

        Returns 0.0 while the tool is still warming up (its first `warmup` calls, all learned in full).
        """
        call = profile(arguments)
        with self._lock:
            model = self._model(tool)
            score, strong = model.judge(call) if model.calls >= self.warmup else (0.0, 0.0)
            if score < SUSPICIOUS:
                model.learn(call, 1.0)
            else:
                model.learn(call, QUARANTINE_WEIGHT if strong >= STRONG else ABSORB_WEIGHT)
        return score

    def score(self, tool: str, arguments: Mapping[str, Any]) -> float:
        """Score the call without learning from it (0.0 for an unknown or warming-up tool)."""
        call = profile(arguments)
        with self._lock:
            model = self._tools.get(tool)
            if model is None or model.calls < self.warmup:
                return 0.0
            return model.score(call)

    def learn(self, tool: str, arguments: Mapping[str, Any]) -> None:
        """Learn from a call known to be legitimate, in full weight (e.g. to seed a model from vetted logs)."""
        call = profile(arguments)
        with self._lock:
            self._model(tool).learn(call, 1.0)

    def tools(self) -> list[str]:
        """The tools currently modelled, least recently used first."""
        with self._lock:
            return list(self._tools)

    def _model(self, tool: str) -> ToolModel:
        tools = self._tools
        model = tools.get(tool)
        if model is not None:
            tools.move_to_end(tool)
            return model
        if len(tools) >= self.max_tools:
            tools.popitem(last=False)
        model = tools[tool] = ToolModel(
            max_keys=self.max_keys_per_tool, top_k=self.top_k, rng=(self.seed << 32) ^ fingerprint(tool)
        )
        return model

    def state(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot; it holds sealed key and value fingerprints, never argument values."""
        with self._lock:
            return {
                "version": STATE_VERSION,
                "key_check": self._seal.check,
                "config": {
                    "warmup": self.warmup,
                    "max_tools": self.max_tools,
                    "max_keys_per_tool": self.max_keys_per_tool,
                    "top_k": self.top_k,
                    "seed": self.seed,
                },
                "tools": [[name, model.state(self._seal.seal)] for name, model in self._tools.items()],
            }

    @classmethod
    def from_state(cls, state: dict[str, Any], key: bytes | None = None) -> ToolArgumentScorer:
        """The scorer `state()` described; `key` must be the one it was saved with (ValueError if not)."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported anomaly scorer state version {state.get('version')!r}")
        scorer = cls(**state["config"], key=key)
        if state.get("key_check") != scorer._seal.check:
            raise ValueError("anomaly scorer state was saved with another key")
        for name, model_state in state["tools"]:
            scorer._tools[str(name)] = ToolModel.from_state(model_state, scorer._seal.open)
        return scorer

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state as JSON atomically (temporary file + os.replace): readers never see half a file."""
        target = Path(path)
        text = json.dumps(self.state(), separators=(",", ":"))
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str], key: bytes | None = None) -> ToolArgumentScorer:
        return cls.from_state(json.loads(Path(path).read_text(encoding="utf-8")), key)
