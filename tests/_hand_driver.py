"""The loop's part of a driver, done by hand, for the tests of the loop-independent drivers
(``ServerDriver``, ``EngineIODriver``): the clock is a number, spawned coroutines are stepped
by ``settle()`` until they wait, ``advance(seconds)`` moves the clock and fires the timer.
No event loop at all, which is also the proof that the drivers need none."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any


class HandDriven:
    """Mix in before the driver class: ``class Driver(HandDriven, ServerDriver)``."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.clock = 0.0
        self.timer: float | None = None
        self.tasks: list[Coroutine[Any, Any, Any]] = []

    def now(self) -> float:
        return self.clock

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        self.tasks.append(coroutine)

    def _schedule(self, when: float | None) -> None:
        self.timer = when

    def _begin_shutdown_threadsafe(self, then: Any = None) -> None:
        self._begin_shutdown()  # type: ignore[attr-defined]

    async def _sleep(self, seconds: float) -> None:
        self.clock += seconds

    async def shutdown(self, timeout: float = 5.0) -> None:
        self._begin_shutdown()  # type: ignore[attr-defined]

    def settle(self, rounds: int = 20) -> None:
        for _ in range(rounds):
            tasks, self.tasks = self.tasks, []
            for task in tasks:
                try:
                    task.send(None)
                except StopIteration:
                    continue
                self.tasks.append(task)

    def advance(self, seconds: float) -> None:
        self.clock += seconds
        if self.timer is not None and self.timer <= self.clock:
            self._on_timer()  # type: ignore[attr-defined]
        self.settle()
