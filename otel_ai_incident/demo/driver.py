"""Paced traffic against the bot on a background thread, and what the app was seen to enforce.

Normal traffic runs all the time at a steady rate; an attack (one kind of request from a few users) is laid
over it while a scenario runs. Every reply that shows containment at work (a refused turn or tool call, a
tightened output threshold) is kept with its time, which is how the demo measures "containment in force".
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Protocol

from otel_ai_incident.demo.bot import TOXICITY_THRESHOLD, Reply, Request, Traffic
from otel_ai_incident.names import ContainmentActionName as Action

_TICK_S = 0.05


@dataclass(frozen=True)
class Attack:
    kind: str
    users: tuple[str, ...]
    rate_per_s: float


@dataclass(frozen=True)
class Enforcement:
    at: float  # time.time()
    action: str
    user_id: str
    served_by: str | None = None


class Bot(Protocol):
    """What the driver talks to: the bot in this process, or replicas over HTTP in the fleet demo."""

    def handle(self, request: Request) -> Reply: ...


def enforcement_of(reply: Reply) -> str | None:
    """The containment action a reply shows, if any."""
    if reply.contained_by is not None:
        return reply.contained_by
    if reply.threshold < TOXICITY_THRESHOLD:
        return Action.TIGHTEN_GUARDRAIL.value
    return None


class Driver:
    """Sends `normal_rate_per_s` normal requests per second, plus the current attack, until `stop()`."""

    def __init__(self, bot: Bot, traffic: Traffic, normal_rate_per_s: float) -> None:
        self._bot = bot
        self._traffic = traffic
        self._normal_rate = normal_rate_per_s
        self._attack: Attack | None = None
        self._lock = threading.Lock()
        self._enforcements: list[Enforcement] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aii-demo-traffic", daemon=True)
        self.sent = 0
        #: Turns answered without containment, by (request kind, replica): what the prompt log must hold.
        self.answered: Counter[tuple[str, str | None]] = Counter()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def attack(self, attack: Attack | None) -> None:
        self._attack = attack

    def burst(self, turns: int) -> None:
        """Send `turns` normal requests at once (history before the paced traffic starts)."""
        for _ in range(turns):
            self._send(self._traffic.normal())

    def first_enforcement(self, action: str, since: float) -> Enforcement | None:
        with self._lock:
            return next((e for e in self._enforcements if e.action == action and e.at >= since), None)

    def enforcing_replicas(self, action: str, since: float) -> set[str | None]:
        """The replicas seen enforcing `action` since `since`."""
        with self._lock:
            return {e.served_by for e in self._enforcements if e.action == action and e.at >= since}

    def _send(self, request: Request) -> None:
        reply = self._bot.handle(request)
        self.sent += 1
        action = enforcement_of(reply)
        with self._lock:
            if action is not None:
                self._enforcements.append(Enforcement(time.time(), action, request.user_id, reply.served_by))
            elif reply.contained_by is None:
                self.answered[(request.kind, reply.served_by)] += 1

    def _run(self) -> None:
        normal_due = attack_due = 0.0
        last = time.monotonic()
        while not self._stop.wait(_TICK_S):
            now = time.monotonic()
            elapsed, last = now - last, now
            normal_due += elapsed * self._normal_rate
            attack = self._attack
            attack_due = attack_due + elapsed * attack.rate_per_s if attack else 0.0
            while normal_due >= 1:
                normal_due -= 1
                self._send(self._traffic.normal())
            while attack is not None and attack_due >= 1:
                attack_due -= 1
                self._send(self._traffic.of(attack.kind, attack.users[self.sent % len(attack.users)]))
