"""A clock for code that takes one (`clock: Callable[[], float]`), for tests where time
decides the outcome."""

from __future__ import annotations


class FakeClock:
    """Wall-clock seconds that move only when the test says so."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
