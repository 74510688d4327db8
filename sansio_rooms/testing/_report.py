"""Failures as a reader wants them: numbered steps, expected and actual, a snippet to replay.

The state machine raises :class:`AdapterDefect` at the first disagreement. Its message is
built when it is first read: the steps are shrunk further (each step that the failure does
not need is dropped, by replaying the rest against a fresh adapter), the switches of the
profile that would explain the difference are named, and the steps are printed again as a
Python snippet that replays them (``replay``). ``check_adapter`` runs a machine with a fixed
seed and raises that report alone, without hypothesis's own listing of rule calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import hypothesis
from hypothesis import HealthCheck
from hypothesis import settings as Settings
from hypothesis.reporting import with_reporter
from hypothesis.stateful import get_state_machine_test

from ._semantics import SWITCHES
from ._steps import Step, source

if TYPE_CHECKING:
    from ._machine import RoomsStateMachine

__all__ = ["AdapterDefect", "check_adapter", "replay"]

_VIEWS = ("rooms", "members", "rooms_of", "sockets", "states")
#: Replays allowed to shrink one report (each replays at most every step once).
_MAX_REPLAYS = 400


def show(value: object) -> str:
    return source(value)


def diff(
    expected: Any, actual: Any, labels: tuple[str, str] = ("expected", "actual"), path: str = ""
) -> list[str]:
    """The leaves on which two nested dicts of observations differ, one line each."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        lines: list[str] = []
        for key in [*expected, *(k for k in actual if k not in expected)]:
            # The views of the state read as words: '/' members 'r', '/' rooms_of 'a'.
            name = key if path.count(" ") == 0 and path and key in _VIEWS else source(key)
            where = f"{path} {name}" if path else name
            if key not in actual:
                lines.append(f"{where}: {labels[0]} {show(expected[key])}, {labels[1]} absent")
            elif key not in expected:
                lines.append(f"{where}: {labels[0]} absent, {labels[1]} {show(actual[key])}")
            else:
                lines += diff(expected[key], actual[key], labels, where)
        return lines
    if expected == actual:
        return []
    return [f"{path}: {labels[0]} {show(expected)}, {labels[1]} {show(actual)}"]


class Mismatch(Exception):
    """One disagreement found by the machine: which check, and both sides."""

    def __init__(
        self,
        check: str,
        *,
        expected: str | None = None,
        actual: str | None = None,
        details: Sequence[str] = (),
    ) -> None:
        super().__init__(check)
        self.check = check
        self.expected = expected
        self.actual = actual
        self.details = list(details)

    def lines(self) -> list[str]:
        lines = []
        if self.expected is not None:
            lines.append(f"  expected: {self.expected}")
        if self.actual is not None:
            lines.append(f"  actual:   {self.actual}")
        return lines + [f"    {line}" for line in self.details]


class AdapterDefect(AssertionError):
    """The adapter under test disagrees with the profile; ``str()`` is the full report.

    ``steps`` leads from an empty state to the failure (the last step, or the state right
    after it when ``after``); ``machine_class`` is the machine that found it, which
    ``replay`` needs to run the steps again.
    """

    def __init__(
        self,
        machine_class: type[RoomsStateMachine],
        steps: list[Step],
        mismatch: Mismatch,
        *,
        after: bool,
        shrink: bool = True,
    ) -> None:
        super().__init__(mismatch.check)
        self.machine_class = machine_class
        self.steps = steps
        self.mismatch = mismatch
        self.after = after
        self._shrink = shrink
        self._report: str | None = None

    @property
    def key(self) -> tuple[bool, str | None, str]:
        """What makes two failures the same failure, for shrinking."""
        last = None if self.after or not self.steps else self.steps[-1].name
        return (self.after, last, self.mismatch.check)

    def shrunk(self) -> AdapterDefect:
        """The same failure from as few steps as a greedy search finds."""
        if not self._shrink:
            return self
        best: AdapterDefect = self
        budget = [_MAX_REPLAYS]
        changed = True
        while changed:
            changed = False
            for index in reversed(range(len(best.steps))):
                candidate = best.steps[:index] + best.steps[index + 1 :]
                found = _attempt(self.machine_class, candidate, budget)
                if found is not None and found.key == self.key:
                    best, changed = found, True
                    break
        if best is self:
            return AdapterDefect(
                self.machine_class, self.steps, self.mismatch, after=self.after, shrink=False
            )
        best._shrink = False
        return best

    def explanations(self) -> list[str]:
        """The switches of the profile that, flipped one at a time, make the steps pass."""
        profile = self.machine_class.semantics
        found = []
        for switch, value in profile.switches().items():
            flipped = type(
                self.machine_class.__name__,
                (self.machine_class,),
                {"semantics": profile.but(**{switch: not value})},
            )
            if _attempt(flipped, self.steps, [1]) is None:
                found.append(f"{switch}={not value} ({SWITCHES[switch]})")
        return found

    def __str__(self) -> str:
        if self._report is None:
            self._report = self.shrunk().report()
        return self._report

    def report(self) -> str:
        cls = self.machine_class
        count = len(self.steps)
        lines = [
            f"{cls.__name__}: the adapter differs from the {cls.semantics.name} semantics.",
            "",
            "Steps, from an empty state:",
            *(f"  {number}. {step!r}" for number, step in enumerate(self.steps, 1)),
            "",
        ]
        if self.after:
            lines.append(f"After step {count}: {self.mismatch.check}")
        else:
            lines.append(f"Step {count}, {self.steps[-1]!r}: {self.mismatch.check}")
        lines += self.mismatch.lines()
        explained = self.explanations()
        if explained:
            lines += ["", "The adapter behaves as if the profile had:"]
            lines += [f"  {switch}" for switch in explained]
        lines += [
            "",
            "Replay it:",
            *(f"    {line}" if line else "" for line in snippet(cls, self.steps)),
        ]
        return "\n".join(lines)


def _attempt(
    machine_class: type[RoomsStateMachine], steps: list[Step], budget: list[int]
) -> AdapterDefect | None:
    """The defect a replay of ``steps`` ends in, or None (also when out of budget, or when
    the replay fails some other way)."""
    if budget[0] <= 0:
        return None
    budget[0] -= 1
    try:
        replay(machine_class, steps)
    except AdapterDefect as defect:
        return defect
    except Exception:
        return None
    return None


def replay(machine_class: type[RoomsStateMachine], steps: Sequence[Step]) -> None:
    """Run ``steps`` (``op.connect('/', 'a')``, ...) against a fresh adapter of
    ``machine_class``, checking each as a run does; raises ``AdapterDefect`` at the first
    difference, without shrinking it."""
    machine = machine_class()
    try:
        for step in steps:
            try:
                machine.perform(step)
                machine.matches_the_model()
            except AdapterDefect as defect:
                defect._shrink = False
                raise
    finally:
        machine.teardown()


def snippet(machine_class: type[RoomsStateMachine], steps: Sequence[Step]) -> list[str]:
    """Python source that replays ``steps`` against ``machine_class``'s adapter."""
    name = machine_class.__qualname__
    lines = ["from sansio_rooms.testing import op, replay"]
    if "<locals>" in name or machine_class.__module__ == "__main__":
        lines.append(f"# {machine_class.__name__}: the machine class of the failing check")
    else:
        lines.append(f"from {machine_class.__module__} import {name.split('.')[0]}")
    lines += ["", f"replay({name}, ["]
    lines += [f"    op.{step!r}," for step in steps]
    return [*lines, "])"]


def check_adapter(
    machine_class: type[RoomsStateMachine],
    *,
    examples: int = 300,
    steps: int = 30,
    seed: int = 0,
    settings: Settings | None = None,
) -> None:
    """Run ``machine_class`` for ``examples`` random runs of up to ``steps`` steps each, from
    a fixed ``seed``; raise the first difference as an ``AdapterDefect`` whose message is the
    readable report (numbered steps, expected and actual, a snippet to replay)."""
    chosen = Settings(
        settings or Settings(),
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
    )
    test = hypothesis.seed(seed)(get_state_machine_test(machine_class, settings=chosen))
    try:
        with with_reporter(_silent):
            test()
    except AdapterDefect as defect:
        found = defect.shrunk()
        str(found)
        raise found from None


def _silent(message: object) -> None:
    # hypothesis reports the rule calls of the failing run (``state.join(data=...)``); the
    # AdapterDefect's own report replaces them.
    del message
