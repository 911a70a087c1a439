"""Exponential backoff with jitter, capped: retries after errors never hammer a sick apiserver,
and many replicas restarted together do not retry in lockstep."""

from __future__ import annotations

import random


class Backoff:
    def __init__(
        self, initial: float = 0.5, cap: float = 30.0, factor: float = 2.0, jitter: float = 0.5
    ) -> None:
        self.initial, self.cap, self.factor, self.jitter = initial, cap, factor, jitter
        self.failures = 0

    def next_delay(self) -> float:
        base = min(self.cap, self.initial * self.factor**self.failures)
        self.failures += 1
        return min(self.cap, base * (1 + self.jitter * random.random()))

    def reset(self) -> None:
        self.failures = 0
